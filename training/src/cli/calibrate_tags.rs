//! `mmv-train calibrate-tags`: chooses a bundle's audio noise floor and gate, its still framing
//! and its open-set cuts (when tagging answers "none") on training / validation data and
//! label-free negatives, and stores them in its manifest.

use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mmv_runtime::open_set::OpenSetScore;
use mmv_training::data::resolve_data_dir;
use mmv_training::eval::product::calibrate::{self, CalibrateOptions};

#[derive(Args)]
pub struct CalibrateTagsArgs {
    /// The bundle folder; its manifest.json gains an `open_set` section, `audio.noise_floor`,
    /// `audio.noise_gate` and (when it helps) `video.still_framing`.
    #[arg(long)]
    bundle: PathBuf,
    /// The shared data folder; $MMV_DATA when absent.
    #[arg(long)]
    data: Option<PathBuf>,
    /// In-domain inputs per row (training FSDD takes, MNIST probe-validation images).
    #[arg(long, default_value_t = 200)]
    per_row: usize,
    /// Negative inputs per kind.
    #[arg(long, default_value_t = 100)]
    negatives_per_kind: usize,
    /// Training inputs per modality (FSDD takes, MNIST stills, clips; none of those the cuts
    /// are measured on) that the typicality score's label Gaussians are fitted on.
    #[arg(long, default_value_t = 600)]
    fit_inputs: usize,
    /// The most each negative kind may be tagged on the calibration data (0 to 1). Below the
    /// 2 % that the evaluation allows, as a margin for the evaluation set's other inputs.
    #[arg(long, default_value_t = 0.01)]
    target: f32,
    /// The base kind of score the cuts apply to: `contrast`, the best label's cosine minus the
    /// mean cosine over the labels (how far it stands out: letters and non-digit words resemble
    /// every digit a little), or `cosine`, the best label's cosine similarity. Each modality
    /// is also scored by typicality (how close its embedding lies to a digit's training
    /// inputs) and keeps whichever of the two keeps more right answers at `--target`.
    #[arg(long, value_enum, default_value_t = Score::Contrast)]
    score: Score,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the calibration without writing it into the manifest.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Score {
    Contrast,
    Cosine,
}

pub fn run(args: CalibrateTagsArgs) -> anyhow::Result<()> {
    if !(0.0..1.0).contains(&args.target) {
        anyhow::bail!("--target must be in [0, 1), got {}", args.target);
    }
    let data_dir = resolve_data_dir(args.data.as_deref())?;
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}").expect("valid template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let options = CalibrateOptions {
        bundle: args.bundle.clone(),
        data_dir,
        per_row: args.per_row,
        negatives_per_kind: args.negatives_per_kind,
        fit_inputs: args.fit_inputs,
        target: args.target,
        score: match args.score {
            Score::Contrast => OpenSetScore::Contrast,
            Score::Cosine => OpenSetScore::Cosine,
        },
        seed: args.seed,
        command: format!(
            "mmv-train calibrate-tags --bundle {} --per-row {} --negatives-per-kind {} --fit-inputs {} --target {} --score {}",
            args.bundle.display(),
            args.per_row,
            args.negatives_per_kind,
            args.fit_inputs,
            args.target,
            match args.score {
                Score::Contrast => "contrast",
                Score::Cosine => "cosine",
            }
        ),
    };
    let calibration = calibrate::calibrate(&options, |what| bar.set_message(what.to_string()))?;
    bar.finish_and_clear();
    println!("audio noise floor (training takes as plain files, top-1):");
    for (floor, top1) in &calibration.floors {
        let mark = if *floor == calibration.noise_floor {
            "  <- kept"
        } else {
            ""
        };
        println!("  {floor:<7} {top1:5.1} %{mark}");
    }
    println!(
        "audio noise gate (training takes, top-1 as they are / in a faintly noisy recording):"
    );
    for (gate, as_is, in_recording) in &calibration.gates {
        let mark = if *gate == calibration.noise_gate {
            "  <- kept"
        } else {
            ""
        };
        println!("  {gate:<7} {as_is:5.1} % / {in_recording:5.1} %{mark}");
    }
    println!("stills (validation digits in every product-path style, mean top-1):");
    for (framing, top1) in &calibration.framings {
        let mark = if *framing == calibration.still_framing {
            "  <- kept"
        } else {
            ""
        };
        let name = if framing.is_some() {
            "framed"
        } else {
            "as they are"
        };
        println!("  {name:<12} {top1:5.1} %{mark}");
    }
    println!("{}", serde_json::to_string_pretty(&calibration.open_set)?);
    if !args.dry_run {
        calibrate::store(&args.bundle, &calibration)?;
        println!("stored in {}", args.bundle.join("manifest.json").display());
    }
    Ok(())
}
