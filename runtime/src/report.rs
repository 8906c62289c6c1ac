//! One line for an error and its causes, as the binaries print it.
//!
//! Errors here name their file and, often, repeat their source's text in their own message
//! (`"x.wav is not a valid WAV file: <hound's reason>"`) while also keeping the source for
//! callers that walk the chain. Printing the whole chain then says the same thing two or three
//! times; [`chain`] keeps each cause only where it adds something.

use std::error::Error;

/// `error: cause: cause`, each cause left out when the text so far already contains it.
pub fn chain(error: &(dyn Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let text = e.to_string();
        if !text.is_empty() && !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = e.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Leaf(&'static str);

    #[derive(Debug, thiserror::Error)]
    #[error("{msg}")]
    struct Wrap {
        msg: String,
        #[source]
        source: Box<dyn Error + Send + Sync>,
    }

    #[test]
    fn causes_are_kept_once() {
        let leaf = Leaf("failed to read enough bytes");
        let repeated = Wrap {
            msg: "a.wav is not a valid WAV file: failed to read enough bytes".into(),
            source: Box::new(leaf),
        };
        assert_eq!(
            chain(&repeated),
            "a.wav is not a valid WAV file: failed to read enough bytes"
        );
        let new = Wrap {
            msg: "indexing b/".into(),
            source: Box::new(repeated),
        };
        assert_eq!(
            chain(&new),
            "indexing b/: a.wav is not a valid WAV file: failed to read enough bytes"
        );
    }
}
