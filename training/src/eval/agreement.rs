//! How closely one precision of a bundle follows another on a sample of the test data
//! (`mmv-train compare-precisions`): per encoder, the cosine between the two precisions'
//! embeddings and how often their zero-shot top-1 answers agree.
//!
//! This is for f16 on x86, where tract emulates f16 hundreds of times slower than fp32 and
//! the full `eval-bundle` would take hours: the share of samples whose answer changes bounds how much
//! any accuracy on those samples can move, and the cosines show how far the embeddings drift.

use std::fmt::Write as _;
use std::path::PathBuf;

use mmv_runtime::bundle::manifest::Precision;
use mmv_runtime::vector::dot;
use serde::Serialize;

use super::bundle::{BundleEvalError, Opened, nearest, open};
use crate::data::augment::Augment;
use crate::data::splits::{ClipSplit, FsddProtocol, MNIST_TEST, Side};

#[derive(Clone, Debug)]
pub struct AgreementOptions {
    pub bundle: PathBuf,
    pub data_dir: PathBuf,
    pub reference: Precision,
    pub other: Precision,
    /// The first N test clips (video z_vat against the digit prompts).
    pub clips: usize,
    /// The first N MNIST test images (deflated image z_vat against the prompts).
    pub images: usize,
    /// The first N FSDD official test takes (audio z_vat against the prompts).
    pub audio: usize,
    pub threads: usize,
    pub seed: u64,
}

/// One encoder's agreement between the two precisions.
#[derive(Clone, Debug, Serialize)]
pub struct EncoderAgreement {
    pub encoder: String,
    pub samples: usize,
    pub mean_cosine: f64,
    pub min_cosine: f64,
    /// Samples whose zero-shot top-1 digit is the same in both precisions.
    pub same_top1: usize,
    /// Zero-shot accuracy on the sample, reference and other.
    pub reference_accuracy: f64,
    pub other_accuracy: f64,
}

#[derive(Default)]
struct Tally {
    cosines: Vec<f64>,
    same: usize,
    right: (usize, usize),
}

impl Tally {
    fn add(&mut self, reference: (&[f32], usize), other: (&[f32], usize), label: usize) {
        self.cosines.push(f64::from(dot(reference.0, other.0)));
        self.same += usize::from(reference.1 == other.1);
        self.right.0 += usize::from(reference.1 == label);
        self.right.1 += usize::from(other.1 == label);
    }

    fn finish(self, encoder: &str) -> EncoderAgreement {
        let n = self.cosines.len();
        let share = |k: usize| k as f64 / n.max(1) as f64;
        EncoderAgreement {
            encoder: encoder.into(),
            samples: n,
            mean_cosine: self.cosines.iter().sum::<f64>() / n.max(1) as f64,
            min_cosine: self.cosines.iter().copied().fold(f64::INFINITY, f64::min),
            same_top1: self.same,
            reference_accuracy: share(self.right.0),
            other_accuracy: share(self.right.1),
        }
    }
}

/// Runs both precisions on the same samples; `progress` hears what is being done.
pub fn compare(
    options: &AgreementOptions,
    mut progress: impl FnMut(&str),
) -> Result<Vec<EncoderAgreement>, BundleEvalError> {
    let mut opened = Vec::new();
    for p in [options.reference, options.other] {
        opened.push(open(
            &options.bundle,
            &options.data_dir,
            p,
            options.threads,
            &mut |what: &str| progress(&format!("{}: {what}", p.name())),
        )?);
    }
    let missing = |what| BundleEvalError::missing(&options.bundle, what);
    let [a, b] = [&opened[0], &opened[1]];
    let data = &a.data;
    let label = |i: usize| data.mnist.labels[i] as usize;
    // Embeds with one precision and answers with that precision's own prompts.
    let answer = |o: &Opened, z: Option<Vec<f32>>, what| {
        let z = z.ok_or_else(|| missing(what))?;
        let top = nearest(&z, &o.classes);
        Ok::<_, BundleEvalError>((z, top))
    };

    let mut text = Tally::default();
    for ((za, digit), (zb, _)) in a.queries.iter().zip(&b.queries) {
        text.add(
            (za, nearest(za, &a.classes)),
            (zb, nearest(zb, &b.classes)),
            *digit,
        );
    }

    let mut clips = Tally::default();
    for (k, image) in MNIST_TEST.take(options.clips).enumerate() {
        progress(&format!("clip {}/{}", k + 1, options.clips));
        let plan = data.plan_image(ClipSplit::Test, image, options.seed);
        let clip = data.render(&plan, &Augment::NONE).video;
        let ra = answer(a, a.bundle.embed_clip(&clip)?.vat, "clip z_vat")?;
        let rb = answer(b, b.bundle.embed_clip(&clip)?.vat, "clip z_vat")?;
        clips.add((&ra.0, ra.1), (&rb.0, rb.1), label(image));
    }

    let mut images = Tally::default();
    for image in MNIST_TEST.take(options.images) {
        let still = data.still_image(image);
        let ra = answer(a, a.bundle.embed_image(&still)?.vat, "image z_vat")?;
        let rb = answer(b, b.bundle.embed_image(&still)?.vat, "image z_vat")?;
        images.add((&ra.0, ra.1), (&rb.0, rb.1), label(image));
    }

    let mut audio = Tally::default();
    let test_takes: Vec<usize> = (0..data.recordings.len())
        .filter(|&i| FsddProtocol::Official.side(&data.recordings[i]) == Side::Test)
        .take(options.audio)
        .collect();
    for (k, &take) in test_takes.iter().enumerate() {
        progress(&format!("audio {}/{}", k + 1, test_takes.len()));
        let logmel = data.recording_audio(take);
        let ra = answer(a, a.bundle.embed_logmel(&logmel)?.vat, "audio z_vat")?;
        let rb = answer(b, b.bundle.embed_logmel(&logmel)?.vat, "audio z_vat")?;
        let digit = data.recordings[take].digit as usize;
        audio.add((&ra.0, ra.1), (&rb.0, rb.1), digit);
    }

    Ok(vec![
        text.finish("text (narration prompts)"),
        clips.finish("clip (zero-shot video)"),
        images.finish("image (deflated, zero-shot)"),
        audio.finish("audio (zero-shot audio-to-text)"),
    ])
}

/// The agreement as a Markdown table.
pub fn markdown(bundle: &str, reference: &str, other: &str, rows: &[EncoderAgreement]) -> String {
    let mut s = format!(
        "`{bundle}`: {other} against {reference} on the same samples\n\n\
         | encoder | samples | mean cosine | min cosine | same top-1 | {reference} top-1 | {other} top-1 | change |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {:.6} | {:.6} | {} / {} | {:.1} % | {:.1} % | {:+.1} |",
            r.encoder,
            r.samples,
            r.mean_cosine,
            r.min_cosine,
            r.same_top1,
            r.samples,
            100.0 * r.reference_accuracy,
            100.0 * r.other_accuracy,
            100.0 * (r.other_accuracy - r.reference_accuracy),
        );
    }
    s
}
