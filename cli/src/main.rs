//! `mmv`: the MMV edge runtime's command line. It parses arguments, calls the libraries
//! (`mmv-runtime`, and this crate's demo and benchmark harness) and prints their answers
//! (tables by default, JSON with `--json`); all the work is in the libraries.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Output piped into `head` and the like ends quietly when the reader closes, as with other
    // Unix tools, instead of panicking in `println!` on EPIPE.
    #[cfg(unix)]
    // SAFETY: restoring the default action of one signal before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", mmv_runtime::report::chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}
