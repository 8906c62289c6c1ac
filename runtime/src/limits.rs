//! Resource limits on untrusted input, in one place.
//!
//! Every reader of a file the user (or a camera, or a network share) hands us checks what a
//! header *declares* against these bounds before it allocates for it, so that a WAV claiming
//! 4 GB, a Y4M frame of 100000x100000, a manifest with enormous tensor shapes or a label file
//! of a million lines is a clear error naming the file, not an out-of-memory kill. The bounds
//! are far above anything the product reads (a 4K camera, hours of audio, the ten-word
//! AV-Digits label set) and far below what would hurt a board with 1-2 GB of memory.
//!
//! The modules that enforce them re-export the older names (`ingest::y4m::MAX_SIDE`,
//! `ingest::mjpeg::MAX_FRAME_BYTES`, `ingest::MAX_IMAGE_BYTES`, `tag::MAX_TEXT_BYTES`,
//! `tag::MAX_LABEL_FILE_BYTES`), which stay as aliases of the constants here.

/// Largest side of a raw (Y4M or headerless camera) video frame, in pixels.
pub const MAX_FRAME_SIDE: usize = 16_384;

/// Largest raw video frame, in pixels (8K UHD, 7680x4320, fits): with [`MAX_FRAME_SIDE`] it
/// bounds one frame's buffer to 96 MiB of 4:4:4 planes plus the same in RGB.
pub const MAX_FRAME_PIXELS: usize = 1 << 25;

/// Longest Y4M stream-header or frame-header line, in bytes.
pub const MAX_Y4M_LINE: usize = 4096;

/// Largest single JPEG in an MJPEG stream, in bytes (a stream that never ends its image must
/// not exhaust memory).
pub const MAX_MJPEG_FRAME_BYTES: usize = 64 << 20;

/// Largest still-image file (JPEG or PNG) read, in bytes. Decoded images are further bounded
/// by `frames::codec::MAX_DECODE_SIDE` a side.
pub const MAX_IMAGE_BYTES: u64 = 256 << 20;

/// Most audio samples (over all channels) one WAV file may hold or declare: 2^29 samples,
/// 2 GiB as `f32`, e.g. 93 minutes of 48 kHz stereo or 9.3 hours of 16 kHz mono. A header
/// declaring more (a "4 GB" WAV) is refused before any sample is read.
pub const MAX_AUDIO_SAMPLES: u64 = 1 << 29;

/// Up-front reservation for decoded samples, in samples: past this a WAV's buffer grows only
/// as real samples arrive, so a header's declared length never sizes an allocation.
pub const AUDIO_RESERVE_SAMPLES: usize = 1 << 20;

/// Longest prompt or query text accepted, in bytes. The text network reads at most 16 words,
/// so longer text is a mistake (a file passed as a query, say), not a longer description.
pub const MAX_TEXT_BYTES: usize = 4096;

/// Largest label file read, in bytes.
pub const MAX_LABEL_FILE_BYTES: u64 = 1 << 20;

/// Most labels in one label set (each is embedded through the text network, and scored for
/// every clip).
pub const MAX_LABELS: usize = 10_000;

/// Largest bundle manifest (`manifest.json`) read, in bytes.
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// Most elements of one tensor a manifest may declare (an encoder's input or output):
/// 2^26, 256 MiB as `f32`. The products of the declared dimensions are checked without
/// overflow.
pub const MAX_TENSOR_ELEMENTS: usize = 1 << 26;

/// Most dimensions of one tensor a manifest may declare.
pub const MAX_TENSOR_RANK: usize = 8;

/// Most frames in one model clip (`video.frames` of a manifest).
pub const MAX_CLIP_FRAMES: usize = 1024;

/// Longest model audio window (`audio.window_samples` of a manifest), in samples: 10 minutes
/// at 48 kHz.
pub const MAX_WINDOW_SAMPLES: usize = 48_000 * 600;

/// Largest vocabulary file read, in bytes.
pub const MAX_VOCAB_BYTES: u64 = 16 << 20;

/// Most words in a vocabulary (a manifest's `text.vocab_size` and a vocabulary file).
pub const MAX_VOCAB_WORDS: usize = 1 << 20;
