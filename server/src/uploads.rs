//! Uploaded query files: the size limit, and what kind of file the bytes are (by their first
//! bytes, not by any name the client sends; a name never reaches the file system).

use axum::body::Body;
use axum::http::{HeaderMap, header};

use crate::error::ApiError;

/// The default upload limit: a query image or a few seconds of sound is far smaller.
pub const DEFAULT_UPLOAD_LIMIT: u64 = 16 << 20;

/// What an upload is, with the file suffix the runtime's readers go by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadKind {
    Image(&'static str),
    Audio(&'static str),
}

impl UploadKind {
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Image(s) | Self::Audio(s) => s,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Image(_) => "image",
            Self::Audio(_) => "audio",
        }
    }
}

/// The kind of an upload from its first bytes: PNG or JPEG images; WAV, FLAC, Ogg or MP3 sound.
pub fn sniff(bytes: &[u8]) -> Option<UploadKind> {
    let b = bytes;
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(UploadKind::Image(".png"))
    } else if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(UploadKind::Image(".jpg"))
    } else if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WAVE" {
        Some(UploadKind::Audio(".wav"))
    } else if b.starts_with(b"fLaC") {
        Some(UploadKind::Audio(".flac"))
    } else if b.starts_with(b"OggS") {
        Some(UploadKind::Audio(".ogg"))
    } else if b.starts_with(b"ID3") || (b.len() >= 2 && b[0] == 0xFF && b[1] & 0xE0 == 0xE0) {
        Some(UploadKind::Audio(".mp3"))
    } else {
        None
    }
}

/// Reads a request body of at most `limit` bytes: a declared length over the limit is refused
/// before anything is read, and a body that grows past it while being read is refused too.
pub async fn read_body(headers: &HeaderMap, body: Body, limit: u64) -> Result<Vec<u8>, ApiError> {
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit
    {
        return Err(ApiError::TooLarge { got: len, limit });
    }
    let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
    let bytes = axum::body::to_bytes(body, limit_usize).await.map_err(|e| {
        // The one error to_bytes has besides the limit is a broken connection.
        let text = e.to_string();
        if text.contains("length limit") {
            ApiError::TooLarge {
                got: limit + 1,
                limit,
            }
        } else {
            ApiError::BadRequest(format!("reading the upload: {text}"))
        }
    })?;
    if bytes.is_empty() {
        return Err(ApiError::BadRequest(
            "the upload is empty: send an image (PNG, JPEG) or a sound (WAV, FLAC, Ogg, MP3) as \
             the request body"
                .into(),
        ));
    }
    Ok(bytes.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_content() {
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\nrest"),
            Some(UploadKind::Image(".png"))
        );
        assert_eq!(
            sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(UploadKind::Image(".jpg"))
        );
        assert_eq!(
            sniff(b"RIFF\0\0\0\0WAVEfmt "),
            Some(UploadKind::Audio(".wav"))
        );
        assert_eq!(sniff(b"RIFF\0\0\0\0AVI LIST"), None);
        assert_eq!(sniff(b"ID3\x04"), Some(UploadKind::Audio(".mp3")));
        assert_eq!(sniff(b"../../etc/passwd"), None);
        assert_eq!(sniff(b""), None);
    }
}
