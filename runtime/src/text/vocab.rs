//! Word vocabulary: the word ↔ id table shared by training and inference.
//!
//! Id 0 is always [`PAD`] (fills short captions) and id 1 is always [`UNK`]
//! (any word not in the table), so those meanings never depend on the data.
//! A vocabulary travels in a bundle manifest (serde, as a JSON array of words
//! in id order) or as a text file, one word a line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::limits::{MAX_VOCAB_BYTES, MAX_VOCAB_WORDS};

/// Padding token, id [`PAD_ID`].
pub const PAD: &str = "<pad>";
/// Unknown-word token, id [`UNK_ID`].
pub const UNK: &str = "<unk>";
pub const PAD_ID: u32 = 0;
pub const UNK_ID: u32 = 1;

/// Problems loading, saving or deserialising a vocabulary. `origin` is the
/// file path, or `serialized vocabulary` for serde input.
#[derive(Debug, thiserror::Error)]
pub enum VocabError {
    #[error("cannot read vocabulary {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write vocabulary {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: the first two entries must be \"<pad>\" and \"<unk>\", found {found:?}")]
    MissingSpecials { origin: String, found: Vec<String> },
    #[error("{origin}: entry {index} ({word:?}) is a duplicate")]
    Duplicate {
        origin: String,
        index: usize,
        word: String,
    },
    #[error("{origin}: entry {index} ({word:?}) is empty or contains a line break")]
    InvalidWord {
        origin: String,
        index: usize,
        word: String,
    },
    #[error("{origin}: more than {} entries do not fit u32 ids", u32::MAX)]
    TooLarge { origin: String },
    /// A file or word list past [`crate::limits::MAX_VOCAB_BYTES`] or
    /// [`crate::limits::MAX_VOCAB_WORDS`].
    #[error("{origin}: {what}; a vocabulary is at most {limit}")]
    OverLimit {
        origin: String,
        what: String,
        limit: String,
    },
}

/// Word ↔ id table with `<pad>` = 0 and `<unk>` = 1.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Vocab {
    /// Words in id order, specials included.
    words: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Default for Vocab {
    /// Only the two specials.
    fn default() -> Self {
        Self::from_words(std::iter::empty::<String>())
    }
}

impl Vocab {
    /// Builds a vocabulary from `words` in order (ids 2, 3, …), keeping the
    /// first occurrence of duplicates. The specials, empty strings and words
    /// containing a line break (which the tokenizer never produces and the
    /// text format cannot store) are skipped.
    pub fn from_words<I, S>(words: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut vocab = Self {
            words: Vec::new(),
            ids: HashMap::new(),
        };
        for special in [PAD, UNK] {
            vocab.push(special.to_owned());
        }
        for word in words {
            let word = word.into();
            if !is_storable(&word) || vocab.ids.contains_key(&word) {
                continue;
            }
            if u32::try_from(vocab.words.len()).is_err() {
                break; // 4 billion words: cannot happen in practice.
            }
            vocab.push(word);
        }
        vocab
    }

    /// Rebuilds a vocabulary from its full id-ordered word list (specials
    /// first), as stored; stricter than [`from_words`](Self::from_words).
    fn from_list(list: Vec<String>, origin: &str) -> Result<Self, VocabError> {
        if list.len() < 2 || list[0] != PAD || list[1] != UNK {
            return Err(VocabError::MissingSpecials {
                origin: origin.to_owned(),
                found: list.into_iter().take(2).collect(),
            });
        }
        if u32::try_from(list.len()).is_err() {
            return Err(VocabError::TooLarge {
                origin: origin.to_owned(),
            });
        }
        let mut vocab = Self {
            words: Vec::with_capacity(list.len()),
            ids: HashMap::with_capacity(list.len()),
        };
        for (index, word) in list.into_iter().enumerate() {
            if !is_storable(&word) {
                return Err(VocabError::InvalidWord {
                    origin: origin.to_owned(),
                    index,
                    word,
                });
            }
            if vocab.ids.contains_key(&word) {
                return Err(VocabError::Duplicate {
                    origin: origin.to_owned(),
                    index,
                    word,
                });
            }
            vocab.push(word);
        }
        Ok(vocab)
    }

    fn push(&mut self, word: String) {
        let id = self.words.len() as u32; // callers check the u32 range
        self.ids.insert(word.clone(), id);
        self.words.push(word);
    }

    /// Id of `word`, or [`UNK_ID`] if it is not in the vocabulary.
    pub fn id(&self, word: &str) -> u32 {
        self.ids.get(word).copied().unwrap_or(UNK_ID)
    }

    /// Whether `word` has its own id (the specials count).
    pub fn contains(&self, word: &str) -> bool {
        self.ids.contains_key(word)
    }

    /// Word with id `id`, if any.
    pub fn word(&self, id: u32) -> Option<&str> {
        self.words.get(id as usize).map(String::as_str)
    }

    /// Number of ids, specials included (so always at least 2).
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Always false: the specials are always present.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// All words in id order, specials first.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// Loads a text vocabulary: one word a line, in id order, the first two
    /// lines being `<pad>` and `<unk>`. A UTF-8 BOM and CRLF endings are accepted.
    pub fn load_text(path: &Path) -> Result<Self, VocabError> {
        let io = |source| VocabError::Read {
            path: path.to_path_buf(),
            source,
        };
        let bytes = std::fs::metadata(path).map_err(io)?.len();
        if bytes > MAX_VOCAB_BYTES {
            return Err(VocabError::OverLimit {
                origin: path.display().to_string(),
                what: format!("{bytes} bytes"),
                limit: format!("{MAX_VOCAB_BYTES} bytes"),
            });
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        Self::parse_text(&text, &path.display().to_string())
    }

    /// Parses the [`load_text`](Self::load_text) format held in memory; `origin` names it in
    /// errors.
    pub fn parse_text(text: &str, origin: &str) -> Result<Self, VocabError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let lines = text.lines().count();
        if lines > MAX_VOCAB_WORDS {
            return Err(VocabError::OverLimit {
                origin: origin.to_owned(),
                what: format!("{lines} entries"),
                limit: format!("{MAX_VOCAB_WORDS} entries"),
            });
        }
        let list = text.lines().map(str::to_owned).collect();
        Self::from_list(list, origin)
    }

    /// Writes the vocabulary in the [`load_text`](Self::load_text) format.
    pub fn save_text(&self, path: &Path) -> Result<(), VocabError> {
        let mut text = String::with_capacity(self.words.iter().map(|w| w.len() + 1).sum());
        for word in &self.words {
            text.push_str(word);
            text.push('\n');
        }
        std::fs::write(path, text).map_err(|source| VocabError::Write {
            path: path.to_path_buf(),
            source,
        })
    }
}

fn is_storable(word: &str) -> bool {
    !word.is_empty() && !word.contains(['\n', '\r'])
}

impl TryFrom<Vec<String>> for Vocab {
    type Error = VocabError;

    fn try_from(list: Vec<String>) -> Result<Self, Self::Error> {
        Self::from_list(list, "serialized vocabulary")
    }
}

impl From<Vocab> for Vec<String> {
    fn from(vocab: Vocab) -> Self {
        vocab.words
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn specials_and_order() {
        let v = Vocab::from_words(words(&["cat", "dog", "cat", "<unk>", "", "bird", "<pad>"]));
        assert_eq!(v.words(), words(&["<pad>", "<unk>", "cat", "dog", "bird"]));
        assert_eq!(v.len(), 5);
        assert!(!v.is_empty());
        assert_eq!(v.id("<pad>"), 0);
        assert_eq!(v.id("<unk>"), 1);
        assert_eq!(v.id("cat"), 2);
        assert_eq!(v.id("bird"), 4);
        assert_eq!(v.id("zebra"), UNK_ID);
        assert_eq!(v.word(3), Some("dog"));
        assert_eq!(v.word(5), None);
        assert_eq!(v.word(u32::MAX), None);
        assert_eq!(Vocab::default().len(), 2);
    }

    #[test]
    fn serde_roundtrip_and_validation() {
        let v = Vocab::from_words(["seven", "oh", "naïve"]);
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(json, r#"["<pad>","<unk>","seven","oh","naïve"]"#);
        assert_eq!(serde_json::from_str::<Vocab>(&json).unwrap(), v);
        for bad in [
            r#"["seven"]"#,
            r#"["<unk>","<pad>","a"]"#,
            r#"["<pad>","<unk>","a","a"]"#,
            r#"["<pad>","<unk>",""]"#,
            r#"["<pad>","<unk>","a\nb"]"#,
            r#"[]"#,
        ] {
            assert!(serde_json::from_str::<Vocab>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_file_roundtrip_and_errors() {
        let dir = std::env::temp_dir().join(format!("mmv-vocab-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("vocab.txt");
        let v = Vocab::from_words(["zero", "one", "東京", "don't"]);
        v.save_text(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "<pad>\n<unk>\nzero\none\n東京\ndon't\n"
        );
        assert_eq!(Vocab::load_text(&path).unwrap(), v);

        std::fs::write(&path, "\u{feff}<pad>\r\n<unk>\r\nx\r\n").unwrap();
        assert_eq!(Vocab::load_text(&path).unwrap().id("x"), 2);

        std::fs::write(&path, "cat\ndog\n").unwrap();
        let err = Vocab::load_text(&path).unwrap_err();
        assert!(matches!(err, VocabError::MissingSpecials { .. }));
        assert!(err.to_string().contains("vocab.txt"), "{err}");

        std::fs::write(&path, "<pad>\n<unk>\na\n\nb\n").unwrap();
        assert!(matches!(
            Vocab::load_text(&path),
            Err(VocabError::InvalidWord { index: 3, .. })
        ));

        let missing = dir.join("nope.txt");
        let err = Vocab::load_text(&missing).unwrap_err();
        assert!(err.to_string().contains("nope.txt"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
