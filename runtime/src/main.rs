//! `mmv`: the MMV edge runtime's command line. It parses arguments, calls the library and
//! prints its answers (tables by default, JSON with `--json`); all the work is in the library.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
