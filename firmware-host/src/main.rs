//! `mmv-host`: the board daemon. See firmware-host/README.md.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "mmv-host",
    version,
    about = "mmv-edge daemon: live camera and microphone tagging"
)]
struct Args {
    /// Run with this configuration (TOML).
    #[arg(
        long,
        short,
        value_name = "FILE",
        default_value = "/etc/mmv/mmv-host.toml"
    )]
    config: PathBuf,
    /// Check a configuration (and its bundle's manifest) and exit.
    #[arg(long, value_name = "FILE", conflicts_with = "print_example_config")]
    check_config: Option<PathBuf>,
    /// Print an annotated example configuration and exit.
    #[arg(long)]
    print_example_config: bool,
}

/// Set by SIGINT/SIGTERM; the daemon finishes the current item and flushes its outputs.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::Relaxed);
}

fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `on_signal` has the C signature `signal` expects and only stores to an atomic.
        unsafe {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line naming the file and the problem, not anyhow's debug form.
            eprintln!("error: {}", mmv_runtime::report::chain(e.as_ref()));
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    // Logs go to stderr (the journal under systemd); tag lines may own stdout.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MMV_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    if args.print_example_config {
        print!("{}", mmv_host::config::EXAMPLE);
        return Ok(());
    }
    if let Some(path) = args.check_config {
        let lines = mmv_host::daemon::check_config(&path)
            .with_context(|| format!("checking {}", path.display()))?;
        for line in lines {
            println!("{line}");
        }
        return Ok(());
    }

    install_signal_handlers();
    let config = mmv_host::config::Config::load(&args.config)?;
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !STOP.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            stop.store(true, Ordering::Relaxed);
        })
    };
    let stats = mmv_host::daemon::run(&config, stop.clone()).context("mmv-host")?;
    stop.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    tracing::info!(?stats, "stopped");
    Ok(())
}
