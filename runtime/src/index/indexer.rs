//! Indexing footage: each file's clips embedded by the [`Pipeline`] and committed to the
//! [`Index`] in batches, incrementally and resumably.
//!
//! - Incremental: a file is identified by the SHA-256 of its content (and the model); one
//!   already complete is skipped, wherever it now lives.
//! - Resumable: a file's row stays `pending` until its last batch commits; a rerun after a crash
//!   resumes at the first uncommitted clip (clips before it are decoded but not embedded), so
//!   nothing is embedded twice or lost. See [the module](super) for the transaction rules.
//! - Nothing is written for a file that cannot be opened or has no clips.

use std::path::Path;

use serde::Serialize;

use super::{FileStatus, Index, IndexError, Modality, NewFile, NewSegment};
use crate::bundle::sha256_file;
use crate::ingest::OpenOptions;
use crate::pipeline::{ClipEmbedding, Pipeline, PipelineError};

/// Indexing settings.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexOptions {
    /// Seconds between clip starts (None: the clip length, so clips sit side by side).
    pub stride_s: Option<f64>,
    /// Clips per transaction: smaller loses less work to a crash, larger commits less often.
    pub batch_clips: u32,
    /// Store a JPEG thumbnail per video clip and image.
    pub thumbnails: bool,
    pub open: OpenOptions,
}

impl Default for IndexOptions {
    fn default() -> Self {
        Self {
            stride_s: None,
            batch_clips: 16,
            thumbnails: true,
            open: OpenOptions::default(),
        }
    }
}

/// Errors indexing one file.
#[derive(Debug, thiserror::Error)]
pub enum IndexFileError {
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: no frames or audio to index")]
    NoClips { path: String },
}

/// What happened to one file.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum FileOutcome {
    /// Its clips are now in the index (`resumed_from` > 0: an interrupted run was finished).
    Indexed {
        clips: u32,
        rows: u64,
        resumed_from: u32,
        duration_s: f64,
    },
    /// The same content was already indexed with this model (as `as_path`).
    AlreadyIndexed { as_path: String },
}

/// Indexes one file with `pipeline` into `index`. `on_clip` sees every clip as it is embedded
/// (for progress).
pub fn index_file(
    pipeline: &Pipeline,
    index: &mut Index,
    path: &Path,
    options: &IndexOptions,
    on_clip: &mut dyn FnMut(&ClipEmbedding),
) -> Result<FileOutcome, IndexFileError> {
    let name = path.display().to_string();
    let io = |source| IndexFileError::Io {
        path: name.clone(),
        source,
    };
    let bytes = std::fs::metadata(path).map_err(io)?.len();
    let sha256 = sha256_file(path).map_err(io)?;
    let model_id = index.model_id(&pipeline.model_key())?;
    let geometry = pipeline.geometry(options.stride_s)?;
    let (window_s, stride_s) = (geometry.window_s(), geometry.stride_s());
    let resume_from = match index.file(&sha256, model_id)? {
        Some(rec) if rec.status == FileStatus::Complete => {
            return Ok(FileOutcome::AlreadyIndexed { as_path: rec.path });
        }
        Some(rec) if rec.window_s == window_s && rec.stride_s == stride_s => rec.clips_done,
        _ => 0,
    };

    let mut clips = pipeline.open(path, &options.open, options.stride_s)?;
    // The first clip before any row is written: a file with nothing in it leaves no trace.
    let Some(first) = clips.next(resume_from, options.thumbnails)? else {
        return Err(IndexFileError::NoClips { path: name });
    };
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let rec = index.begin_file(
        model_id,
        &NewFile {
            sha256,
            path: abs.display().to_string(),
            bytes,
            kind: clips.kind.name().into(),
            window_s,
            stride_s,
        },
    )?;
    if rec.clips_done != resume_from {
        return Err(IndexError::Conflict {
            path: index.path().display().to_string(),
            problem: format!(
                "{name} changed state while opening it: is another `mmv index` running?"
            ),
        }
        .into());
    }

    let batch = options.batch_clips.max(1);
    let mut done = resume_from;
    let mut pending: Vec<NewSegment> = Vec::new();
    let mut pending_clips = 0u32;
    let mut rows = 0u64;
    let mut next = Some(first);
    while let Some(clip) = next {
        if clip.index >= resume_from {
            on_clip(&clip);
            pending.extend(segments(&clip));
            pending_clips += 1;
        }
        next = clips.next(resume_from, options.thumbnails)?;
        if next.is_none() {
            break;
        }
        if pending_clips == batch {
            index.commit_clips(rec.id, done, done + pending_clips, &pending, None)?;
            rows += pending.len() as u64;
            done += pending_clips;
            pending.clear();
            pending_clips = 0;
        }
    }
    let duration_s = clips.duration_s().unwrap_or(0.0);
    index.commit_clips(
        rec.id,
        done,
        done + pending_clips,
        &pending,
        Some(duration_s),
    )?;
    rows += pending.len() as u64;
    done += pending_clips;
    Ok(FileOutcome::Indexed {
        clips: done,
        rows,
        resumed_from: resume_from,
        duration_s,
    })
}

/// The index rows of one embedded clip: one per modality; thumbnails on visual rows.
pub fn segments(clip: &ClipEmbedding) -> Vec<NewSegment> {
    clip.modalities()
        .into_iter()
        .map(|(modality, e)| NewSegment {
            clip: clip.index,
            modality,
            start_s: clip.start_s,
            end_s: clip.end_s,
            va: e.va.clone(),
            vat: e.vat.clone(),
            thumbnail: match modality {
                Modality::Audio => None,
                Modality::Video | Modality::Image => clip.thumbnail.clone(),
            },
        })
        .collect()
}
