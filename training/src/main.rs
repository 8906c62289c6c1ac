//! `mmv-train`: trains, evaluates and exports MMV networks. A thin shell over `mmv_training`:
//! it parses the arguments and calls the subcommand's module in [`cli`].

mod cli;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    // Output piped into `head` and the like ends quietly, as with other Unix tools, instead of
    // panicking in `println!` on EPIPE.
    #[cfg(unix)]
    // SAFETY: restoring the default action of one signal before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    cli::run(cli::Cli::parse())
}
