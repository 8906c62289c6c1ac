//! `mmv-host`: the mmv-edge board daemon.
//!
//! It captures a camera and a microphone, runs every frame, clip and audio window through the
//! MMV networks, and publishes zero-shot tags (JSON lines), events (a label that holds over k of
//! n windows, [`pipeline::events`]), a searchable index of clips, and an on-screen overlay. The media layer is the runtime's (`mmv_runtime`: file readers, camera
//! formats, preprocessing, clip sampling rules, resampling, silence, tagging, thumbnails, the
//! index), the same code `mmv tag` and `mmv index` run; the daemon adds the devices, threads,
//! queues, supervision and the overlay. Hardware sits behind traits (the runtime's
//! `FrameSource` for cameras, [`capture::AudioSource`], [`overlay::Display`]) and the model
//! behind [`model::Embedder`], so everything downstream of the devices runs in tests with
//! file-backed sources and a fake model.
//!
//! Threads: one capture thread per modality (or cpal's callback thread) hands data to the
//! inference thread through fixed-capacity `heapless` SPSC queues ([`queue`]); a supervisor
//! ([`supervisor`]) reopens a source that fails, with backoff, while the other keeps running.

pub mod capture;
pub mod config;
pub mod daemon;
pub mod fake;
pub mod model;
pub mod outputs;
pub mod overlay;
pub mod pipeline;
pub mod queue;
pub mod supervisor;
pub mod sysinfo;
