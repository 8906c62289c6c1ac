//! Argument parsing and dispatch for the `mmv-train` binary: one module per subcommand, each
//! with its arguments and a `run`, and [`common`] for what several of them share.

mod calibrate_tags;
mod common;
mod compare_precisions;
mod demo;
mod design_table;
mod eval;
mod eval_bundle;
mod eval_product;
mod export;
mod info;
mod open_set_embeddings;
mod train;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "mmv-train",
    version,
    about = "Train MMV (self-supervised multimodal versatile) networks on burn",
    long_about = "Train MMV networks: video (S3D-G or TSM-ResNet), audio (ResNet over log-mel) and \
                  text (frozen word vectors) encoders, projected into shared / disjoint / FAC \
                  spaces and trained with NCE(video, audio) + MIL-NCE(video, text)."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a small model on a built-in synthetic audio-visual task and report zero-shot
    /// accuracy. Needs no data: the model config is embedded (models/avdigits-fac-s3d.toml).
    Demo(demo::DemoArgs),
    /// Train a model on AV-Digits (self-supervised: NCE(video, audio) + MIL-NCE(video, text)).
    /// Writes metrics.jsonl, checkpoints (safetensors), model.safetensors and loss.png to --out.
    Train(train::TrainArgs),
    /// Evaluate a run: linear probes (video, audio, single image), zero-shot classification,
    /// text-to-video retrieval. Writes eval.json and eval.md into the run folder.
    Eval(eval::EvalArgs),
    /// Evaluate an exported bundle through the runtime (tract), one precision after another,
    /// on the same AV-Digits test data: zero-shot video, text-to-video retrieval, zero-shot
    /// audio-to-text, and linear probes on the audio and deflated image embeddings. Writes
    /// eval-bundle.json and eval-bundle.md into the bundle folder (not part of its manifest).
    EvalBundle(eval_bundle::EvalBundleArgs),
    /// Evaluate a bundle the way users meet it: test media written as plain files (WAV,
    /// PNG/JPEG, Y4M, MJPEG, MP4) through the runtime's public path, audio at every placement,
    /// stills at every scale and polarity, clips and search, plus the open-set negatives.
    /// Writes eval-product.md/.json and open-set.png into the bundle folder.
    EvalProduct(eval_product::EvalProductArgs),
    /// Choose the bundle's open-set cuts (below them tagging answers "none") on training /
    /// validation data and label-free negatives, and store them in its manifest.
    CalibrateTags(calibrate_tags::CalibrateTagsArgs),
    /// Write the embeddings that the open-set cuts score (training, validation and test
    /// inputs, both negative sets) as JSON lines, to study other open-set scores elsewhere.
    OpenSetEmbeddings(open_set_embeddings::OpenSetEmbeddingsArgs),
    /// How closely one precision of a bundle follows another on a sample of the test data:
    /// per encoder, the cosine between their embeddings and how often their zero-shot answers
    /// agree. For f16 on x86, where tract emulates f16 far too slowly for the full eval-bundle.
    /// Writes precision-agreement-<other>.md/.json into the bundle folder.
    ComparePrecisions(compare_precisions::ComparePrecisionsArgs),
    /// The MMV design table: shared, disjoint and FAC, plus the va-only and vt-only runs, each
    /// trained for --steps from one base config and evaluated; writes design-table.md/.json.
    /// The defaults (models/avdigits-small-fac-s3d.toml, 1500 steps) fit in two hours on 2 cores.
    DesignTable(design_table::DesignTableArgs),
    /// Export a run as a model bundle: one ONNX file per encoder (clip, deflated image, audio,
    /// text) and precision, a vocabulary and manifest.json, for the `mmv` runtime.
    Export(export::ExportArgs),
    /// Check a model config and print its parameter counts.
    Info(info::InfoArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(a) => demo::run(a),
        Command::Train(a) => train::run(a),
        Command::Eval(a) => eval::run(a),
        Command::EvalBundle(a) => eval_bundle::run(a),
        Command::EvalProduct(a) => eval_product::run(a),
        Command::CalibrateTags(a) => calibrate_tags::run(a),
        Command::OpenSetEmbeddings(a) => open_set_embeddings::run(a),
        Command::ComparePrecisions(a) => compare_precisions::run(a),
        Command::DesignTable(a) => design_table::run(a),
        Command::Export(a) => export::run(a),
        Command::Info(a) => info::run(a),
    }
}
