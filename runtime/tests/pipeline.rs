//! The pipeline, tagging, indexing and search end to end on the fixture bundle (random weights,
//! so the checks are about plumbing and geometry, not accuracy), plus malformed inputs.

mod common;

use std::path::{Path, PathBuf};

use common::fixture;
use mmv_runtime::bundle::{Bundle, BundleOptions};
use mmv_runtime::index::{
    FileOutcome, FileStatus, Index, IndexFileError, IndexOptions, Modality, index_file,
};
use mmv_runtime::ingest::OpenOptions;
use mmv_runtime::pipeline::{Pipeline, PipelineError, QueryInput};
use mmv_runtime::tag::LabelSet;

fn pipeline(dir: &Path) -> Pipeline {
    fixture::write_bundle(&dir.join("bundle"));
    Pipeline::new(Bundle::open(&dir.join("bundle"), &BundleOptions::default()).unwrap())
}

fn index_all(p: &Pipeline, index: &mut Index, files: &[PathBuf]) -> Vec<FileOutcome> {
    files
        .iter()
        .map(|f| index_file(p, index, f, &IndexOptions::default(), &mut |_| {}).unwrap())
        .collect()
}

#[test]
fn index_search_and_tag_on_the_fixture_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let p = pipeline(d);
    // Still digits, so that an image of one matches its clip exactly.
    let stills = common::still_digits_y4m(&d.join("a.y4m"), &[3, 7, 1]);
    common::digits_mjpeg(&d.join("b.mjpeg"), &[0, 8]);
    common::tone_wav(&d.join("c.wav"), 11_025, 3.5, 440.0);
    // A PNG of the digit of clip 1 of a.y4m. (Through the Y4M's YUV the clip's frames differ
    // from it by a grey level or two.)
    common::png(&d.join("still.png"), &stills[1]);
    let files: Vec<PathBuf> = ["a.y4m", "b.mjpeg", "c.wav"]
        .iter()
        .map(|f| d.join(f))
        .collect();

    let mut index = Index::open(&d.join("i.db")).unwrap();
    let outcomes = index_all(&p, &mut index, &files);
    let clips: Vec<(u32, u64)> = outcomes
        .iter()
        .map(|o| match o {
            FileOutcome::Indexed { clips, rows, .. } => (*clips, *rows),
            other => panic!("{other:?}"),
        })
        .collect();
    // a: 48 frames at 10 fps = 4.8 s = 3 clips of 1.6 s; b: 80 frames at 25 fps = 3.2 s = 2;
    // c: 3.5 s of audio = 2 full windows + 0.3 s (less than half a window: dropped).
    assert_eq!(clips, vec![(3, 3), (2, 2), (2, 2)]);

    // Incremental: nothing is redone, even under another name.
    std::fs::copy(d.join("a.y4m"), d.join("a-copy.y4m")).unwrap();
    let again = index_all(&p, &mut index, &[files[0].clone(), d.join("a-copy.y4m")]);
    assert!(
        again
            .iter()
            .all(|o| matches!(o, FileOutcome::AlreadyIndexed { .. }))
    );

    // An image query finds the clip it was taken from (the fixture's image network is an
    // exact deflation of its clip network on static clips).
    let q = p
        .query(
            &QueryInput::Image(d.join("still.png")),
            &OpenOptions::default(),
        )
        .unwrap();
    let hits = index
        .search(&p.model_key(), &q, 3, &[Modality::Video])
        .unwrap();
    assert_eq!(hits.len(), 3);
    assert!(hits[0].0.path.ends_with("a.y4m"), "{hits:?}");
    assert_eq!((hits[0].0.clip, hits[0].0.start_s), (1, 1.6));
    assert!(hits[0].1 > 0.99, "{hits:?}");
    assert!(hits[0].0.thumbnail.is_some());

    // An audio query finds audio rows; the tone's own windows score highest.
    let q = p
        .query(&QueryInput::Audio(d.join("c.wav")), &OpenOptions::default())
        .unwrap();
    let hits = index.search(&p.model_key(), &q, 2, &[]).unwrap();
    assert!(
        hits.iter().all(|(s, _)| s.modality == Modality::Audio),
        "{hits:?}"
    );
    assert!(hits[0].1 > 0.99, "{hits:?}");

    // Text queries reach every row with a text-space embedding.
    let q = p
        .query(
            &QueryInput::Text("the number seven".into()),
            &OpenOptions::default(),
        )
        .unwrap();
    let hits = index.search(&p.model_key(), &q, 100, &[]).unwrap();
    assert_eq!(hits.len(), 7);
    assert!(hits.windows(2).all(|w| w[0].1 >= w[1].1));

    // Tagging: probabilities over the labels sum to one, per modality and fused.
    let labels = LabelSet::avdigits();
    let tagger = p.tagger(&labels).unwrap();
    let mut clips = p
        .open(&d.join("a.y4m"), &OpenOptions::default(), None)
        .unwrap();
    let clip = clips.next(0, false).unwrap().unwrap();
    let tags = p.tag(&tagger, &clip, 10, 0.0).unwrap();
    let video = tags.video.unwrap();
    assert_eq!(video.len(), 10);
    let total: f32 = video.iter().map(|t| t.score).sum();
    assert!((total - 1.0).abs() < 1e-4);
    assert!(tags.audio.is_none() && tags.fused.is_none());
    assert!(
        p.tag(&tagger, &clip, 3, 1.01)
            .unwrap()
            .video
            .unwrap()
            .is_empty()
    );

    // Stats.
    let stats = index.stats().unwrap();
    assert_eq!((stats.files_complete, stats.files_pending), (3, 0));
}

#[test]
fn strides_overlap_clips() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let p = pipeline(d);
    common::digits_y4m(&d.join("a.y4m"), &[3, 7, 1]);
    let mut index = Index::open(&d.join("i.db")).unwrap();
    let options = IndexOptions {
        stride_s: Some(0.8),
        ..IndexOptions::default()
    };
    let out = index_file(&p, &mut index, &d.join("a.y4m"), &options, &mut |_| {}).unwrap();
    // Starts every 0.8 s over 4.8 s: 0, 0.8, ..., 3.2 full; 4.0 has 0.8 s = half: kept.
    assert!(
        matches!(out, FileOutcome::Indexed { clips: 6, .. }),
        "{out:?}"
    );
}

#[test]
fn malformed_inputs_are_clear_errors_and_leave_no_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let p = pipeline(d);
    let mut index = Index::open(&d.join("i.db")).unwrap();
    fn fails(p: &Pipeline, index: &mut Index, d: &Path, name: &str) -> String {
        let e = index_file(
            p,
            index,
            &d.join(name),
            &IndexOptions::default(),
            &mut |_| {},
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(name), "{name}: {msg}");
        msg
    }
    let mut run = |name: &str| fails(&p, &mut index, d, name);

    // Truncated Y4M, inside the first clip.
    common::digits_y4m(&d.join("full.y4m"), &[1, 2]);
    let bytes = std::fs::read(d.join("full.y4m")).unwrap();
    std::fs::write(d.join("cut.y4m"), &bytes[..bytes.len() / 4]).unwrap();
    assert!(run("cut.y4m").contains("truncated"));
    // Bad MJPEG.
    std::fs::write(
        d.join("bad.mjpeg"),
        b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00garbage",
    )
    .unwrap();
    assert!(run("bad.mjpeg").contains("bad.mjpeg"));
    std::fs::write(d.join("text.mjpeg"), "hello ".repeat(1000)).unwrap();
    assert!(run("text.mjpeg").contains("not an MJPEG stream"));
    // Empty WAV, and a WAV header with no data.
    common::tone_wav(&d.join("empty.wav"), 16_000, 0.0, 440.0);
    assert!(run("empty.wav").contains("no audio"));
    std::fs::write(d.join("zero.wav"), b"").unwrap();
    assert!(run("zero.wav").contains("zero.wav"));
    // Odd sample rates: 7 Hz is refused, 44.1 kHz and 22.05 kHz work.
    common::tone_wav(&d.join("slow.wav"), 7, 10.0, 1.0);
    assert!(run("slow.wav").contains("7 Hz"));
    // Unsupported and missing files.
    std::fs::write(d.join("notes.txt"), b"hi").unwrap();
    assert!(run("notes.txt").contains("unsupported"));
    assert!(run("missing.y4m").contains("cannot read"));
    for (name, rate) in [("cd.wav", 44_100), ("odd.wav", 22_050)] {
        common::tone_wav(&d.join(name), rate, 1.7, 300.0);
        let out = index_file(
            &p,
            &mut index,
            &d.join(name),
            &IndexOptions::default(),
            &mut |_| {},
        )
        .unwrap();
        assert!(
            matches!(out, FileOutcome::Indexed { clips: 1, .. }),
            "{out:?}"
        );
    }

    // None of the failures left a row behind.
    let files = index.files().unwrap();
    assert_eq!(files.len(), 2);
    assert!(files.iter().all(|f| f.status == FileStatus::Complete));

    // Huge and unknown text.
    let huge = "seven ".repeat(100_000);
    let e = p.embed_text(&huge).unwrap_err().to_string();
    assert!(e.contains("at most 4096"), "{e}");
    let e = p.embed_text("xylophone zebra").unwrap_err().to_string();
    assert!(e.contains("vocabulary"), "{e}");
    assert!(matches!(p.embed_text(""), Err(PipelineError::Input(_))));
    // A bad stride.
    let e = index_file(
        &p,
        &mut index,
        &d.join("cd.wav"),
        &IndexOptions {
            stride_s: Some(-1.0),
            ..IndexOptions::default()
        },
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(e, IndexFileError::Pipeline(PipelineError::Input(_))),
        "{e}"
    );
}

#[test]
fn a_truncated_tail_keeps_the_committed_clips_pending_and_reports_the_error() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let p = pipeline(d);
    common::digits_y4m(&d.join("full.y4m"), &[1, 2, 3, 4]);
    let bytes = std::fs::read(d.join("full.y4m")).unwrap();
    std::fs::write(d.join("cut.y4m"), &bytes[..bytes.len() - 100]).unwrap();
    let mut index = Index::open(&d.join("i.db")).unwrap();
    let options = IndexOptions {
        batch_clips: 1,
        ..IndexOptions::default()
    };
    let e = index_file(&p, &mut index, &d.join("cut.y4m"), &options, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
    let files = index.files().unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].status, FileStatus::Pending);
    assert!(files[0].clips_done >= 2, "{:?}", files[0]);
    // A pending file is not searchable.
    let q = p
        .query(&QueryInput::Text("seven".into()), &OpenOptions::default())
        .unwrap();
    assert!(index.search(&p.model_key(), &q, 5, &[]).unwrap().is_empty());
}

/// Text hits are marked against a cosine cut; a contrast cut (relative to a label set) has no
/// counterpart for a free-text query and marks nothing; image and sound queries never mark
/// against a cosine cut; a typicality cut marks any query's hits by their own embedding.
#[test]
fn search_hits_are_marked_against_cosine_and_typicality_cuts() {
    use mmv_runtime::index::Query;
    use mmv_runtime::open_set::{OpenSet, OpenSetScore};
    let tmp = tempfile::tempdir().unwrap();
    let mut p = pipeline(tmp.path());
    let text = Query {
        va: None,
        vat: Some(vec![1.0]),
        text: true,
    };
    let image = Query {
        text: false,
        ..text.clone()
    };
    assert_eq!(
        p.below_cut(&text, Modality::Video, 0.1, None),
        None,
        "no calibration"
    );
    let mut open_set = OpenSet {
        thresholds: [("video".to_string(), 0.3)].into_iter().collect(),
        score: OpenSetScore::Cosine,
        method: "test".into(),
        labels: "avdigits".into(),
        target_negative_rate: 0.01,
        made_by: "test".into(),
        ..OpenSet::default()
    };
    p.bundle.manifest.open_set = Some(open_set.clone());
    assert_eq!(p.below_cut(&text, Modality::Video, 0.1, None), Some(true));
    assert_eq!(p.below_cut(&text, Modality::Video, 0.5, None), Some(false));
    assert_eq!(p.below_cut(&image, Modality::Video, 0.1, None), None);
    open_set.score = OpenSetScore::Contrast;
    p.bundle.manifest.open_set = Some(open_set.clone());
    assert_eq!(p.below_cut(&text, Modality::Video, 0.1, None), None);
    // A cut on typicality marks by the hit's own embedding, for any query: far from every
    // label's training inputs is below it, near one is not; without the embedding, nothing.
    open_set.score = OpenSetScore::Cosine;
    open_set
        .modality_scores
        .insert("video".into(), OpenSetScore::Typicality);
    open_set.thresholds.insert("video".into(), -4.0);
    let samples: Vec<(usize, Vec<f32>)> = (0..100)
        .map(|i| {
            (
                i % 2,
                vec![if i % 2 == 0 { 1.0 } else { -1.0 } + 0.1 * (i as f32).sin()],
            )
        })
        .collect();
    open_set.gaussians.insert(
        "video".into(),
        mmv_runtime::open_set::LabelGaussians::fit(&samples, 2, 0.0).unwrap(),
    );
    p.bundle.manifest.open_set = Some(open_set);
    assert_eq!(p.below_cut(&text, Modality::Video, 0.1, None), None);
    assert_eq!(
        p.below_cut(&image, Modality::Video, 0.1, Some(&[1.0])),
        Some(false)
    );
    assert_eq!(
        p.below_cut(&text, Modality::Video, 0.9, Some(&[0.0])),
        Some(true)
    );
    // An embedding of another width than the Gaussians' is not judged.
    assert_eq!(
        p.below_cut(&text, Modality::Video, 0.1, Some(&[0.0, 1.0])),
        None
    );
}

/// A file's answer comes from the window where the best label stands out most (contrast), not
/// from the window with the highest cosine: a window that resembles every label a little loses
/// to one that names a single label clearly.
#[test]
fn a_files_answer_is_the_window_whose_label_stands_out_most() {
    use mmv_runtime::pipeline::{ClipTags, FileSummary};
    use mmv_runtime::tag::Tag;
    let tag = |label: &str, similarity: f32, contrast: f32| Tag {
        label: label.into(),
        score: 0.5,
        similarity,
        contrast,
        typicality: None,
        present: true,
    };
    let window = |t: Tag| ClipTags {
        video: None,
        audio: Some(vec![t]),
        image: None,
        fused: None,
    };
    let mut summary = FileSummary::default();
    summary.add(&window(tag("one", 0.50, 0.05)));
    summary.add(&window(tag("seven", 0.45, 0.30)));
    summary.add(&window(tag("two", 0.55, 0.10)));
    assert_eq!(summary.answer("audio").unwrap().label, "seven");
    assert!(summary.answer("video").is_none());
}
