//! `mmv-train`: trains, evaluates and exports MMV networks. A thin shell over `mmv_training`:
//! it parses the arguments and calls the subcommand's module in [`cli`].

mod cli;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    cli::run(cli::Cli::parse())
}
