//! `mmv-train info`: checks a model config and prints its parameter counts.

use std::path::PathBuf;

use burn::module::Module;
use clap::Args;
use mmv_training::backend;
use mmv_training::model::Mmv;

use super::common::load_config;

#[derive(Args)]
pub struct InfoArgs {
    /// Model config (TOML); the embedded default when absent.
    #[arg(long)]
    config: Option<PathBuf>,
}

pub fn run(args: InfoArgs) -> anyhow::Result<()> {
    let config = load_config(args.config.as_ref())?;
    let device = backend::inference_device();
    let table = vec![0.0; 2 * config.text.word_dim];
    let model = Mmv::new(&config, table, &device);
    println!("{}", config.name);
    println!(
        "  video   {:?}: {} parameters",
        config.video.arch,
        model.video.num_params()
    );
    println!("  audio   ResNet: {} parameters", model.audio.num_params());
    println!(
        "  text    per-word MLP: {} parameters (+ frozen word table)",
        model.text.num_params()
    );
    println!(
        "  heads   {:?}: {} parameters",
        config.heads.design,
        model.heads.num_params()
    );
    Ok(())
}
