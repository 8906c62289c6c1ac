//! `mmv-cli`: the tools around the MMV edge runtime, kept out of `mmv-runtime` so that the
//! library a board links holds only what inference needs.
//!
//! - [`demo`]: `mmv demo`'s job: footage of digits it renders itself, tagged, indexed and
//!   searched with the runtime, every step timed;
//! - [`bench`]: `mmv bench`'s harness: MLPerf-style scenarios, machine facts, FLOPs, per-node
//!   profiles, reports and plots.
//!
//! The `mmv` binary (`src/main.rs`, one module per subcommand in `src/cli/`) only parses
//! arguments, calls these and the runtime, and prints the answers.

pub mod bench;
pub mod demo;
