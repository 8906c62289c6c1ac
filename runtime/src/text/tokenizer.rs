//! Caption tokeniser: text → lower-case content words → fixed-length ids.
//!
//! Rules, applied identically in training and at query time:
//! - Unicode lower-casing per character (`İ` becomes plain `i`, so Turkish
//!   capitals still match their ASCII spelling).
//! - A word is a maximal run of alphanumeric characters (any script, digits
//!   included); combining marks (U+0300–U+036F and similar blocks) stay
//!   attached to the word they follow. Everything else, punctuation, spaces,
//!   emoji, separates words. Scripts written without spaces (CJK) therefore
//!   yield one word per run of characters.
//! - An apostrophe (`'` or `’`) *between* two word characters is kept, as an
//!   ASCII `'`: `Don’t` → `don't`, which is a stop word. Leading or trailing
//!   apostrophes (quotes) are separators.
//! - Stop words are dropped, then the first `max_words` words are kept.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::vocab::{PAD_ID, Vocab};

/// Words per caption fed to the text tower.
pub const DEFAULT_MAX_WORDS: usize = 16;

/// NLTK's English stop-word list (179 words). It contains no digit words
/// (`zero`…`nine`) and not `oh`, which spoken-digit captions rely on.
pub const ENGLISH_STOP_WORDS: &[&str] = &[
    "i",
    "me",
    "my",
    "myself",
    "we",
    "our",
    "ours",
    "ourselves",
    "you",
    "you're",
    "you've",
    "you'll",
    "you'd",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "he",
    "him",
    "his",
    "himself",
    "she",
    "she's",
    "her",
    "hers",
    "herself",
    "it",
    "it's",
    "its",
    "itself",
    "they",
    "them",
    "their",
    "theirs",
    "themselves",
    "what",
    "which",
    "who",
    "whom",
    "this",
    "that",
    "that'll",
    "these",
    "those",
    "am",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "have",
    "has",
    "had",
    "having",
    "do",
    "does",
    "did",
    "doing",
    "a",
    "an",
    "the",
    "and",
    "but",
    "if",
    "or",
    "because",
    "as",
    "until",
    "while",
    "of",
    "at",
    "by",
    "for",
    "with",
    "about",
    "against",
    "between",
    "into",
    "through",
    "during",
    "before",
    "after",
    "above",
    "below",
    "to",
    "from",
    "up",
    "down",
    "in",
    "out",
    "on",
    "off",
    "over",
    "under",
    "again",
    "further",
    "then",
    "once",
    "here",
    "there",
    "when",
    "where",
    "why",
    "how",
    "all",
    "any",
    "both",
    "each",
    "few",
    "more",
    "most",
    "other",
    "some",
    "such",
    "no",
    "nor",
    "not",
    "only",
    "own",
    "same",
    "so",
    "than",
    "too",
    "very",
    "s",
    "t",
    "can",
    "will",
    "just",
    "don",
    "don't",
    "should",
    "should've",
    "now",
    "d",
    "ll",
    "m",
    "o",
    "re",
    "ve",
    "y",
    "ain",
    "aren",
    "aren't",
    "couldn",
    "couldn't",
    "didn",
    "didn't",
    "doesn",
    "doesn't",
    "hadn",
    "hadn't",
    "hasn",
    "hasn't",
    "haven",
    "haven't",
    "isn",
    "isn't",
    "ma",
    "mightn",
    "mightn't",
    "mustn",
    "mustn't",
    "needn",
    "needn't",
    "shan",
    "shan't",
    "shouldn",
    "shouldn't",
    "wasn",
    "wasn't",
    "weren",
    "weren't",
    "won",
    "won't",
    "wouldn",
    "wouldn't",
];

/// Text → word list / fixed-length id sequence. See the module docs for the rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tokenizer {
    /// Words kept per text; [`encode`](Self::encode) output length.
    pub max_words: usize,
    /// Lower-case words to drop (apostrophes as ASCII `'`).
    pub stop_words: BTreeSet<String>,
}

impl Default for Tokenizer {
    /// 16 words, NLTK English stop words.
    fn default() -> Self {
        Self {
            max_words: DEFAULT_MAX_WORDS,
            stop_words: ENGLISH_STOP_WORDS.iter().map(|w| (*w).to_owned()).collect(),
        }
    }
}

impl Tokenizer {
    /// The default stop words with a different word budget.
    pub fn with_max_words(max_words: usize) -> Self {
        Self {
            max_words,
            ..Self::default()
        }
    }

    /// The first `max_words` non-stop words of `text`, lower-cased.
    pub fn words(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.max_words == 0 {
            return out;
        }
        let mut word = String::new();
        // An apostrophe seen after a word character; kept only if another
        // word character follows.
        let mut apostrophe = false;
        for c in text.chars() {
            if c.is_alphanumeric() || (is_combining_mark(c) && !word.is_empty()) {
                if apostrophe {
                    word.push('\'');
                    apostrophe = false;
                }
                push_lowercase(&mut word, c);
            } else if is_apostrophe(c) && !word.is_empty() && !apostrophe {
                apostrophe = true;
            } else {
                apostrophe = false;
                // Stop scanning once full: a 1 MB caption costs no more than a short one.
                if self.finish_word(&mut word, &mut out) {
                    return out;
                }
            }
        }
        self.finish_word(&mut word, &mut out);
        out
    }

    /// Moves a completed `word` into `out` unless it is a stop word; returns
    /// true when `out` is full.
    fn finish_word(&self, word: &mut String, out: &mut Vec<String>) -> bool {
        if !word.is_empty() {
            if self.stop_words.contains(word.as_str()) {
                word.clear();
            } else {
                out.push(std::mem::take(word));
            }
        }
        out.len() >= self.max_words
    }

    /// Exactly `max_words` ids: the words' ids (unknown words →
    /// [`UNK_ID`](super::UNK_ID)), then [`PAD_ID`] padding.
    pub fn encode(&self, text: &str, vocab: &Vocab) -> Vec<u32> {
        let mut ids: Vec<u32> = self.words(text).iter().map(|w| vocab.id(w)).collect();
        ids.resize(self.max_words, PAD_ID);
        ids
    }
}

fn push_lowercase(word: &mut String, c: char) {
    // 'İ' is the one character whose lower case is two characters ("i̇");
    // fold it to plain 'i' so "İstanbul" matches "istanbul".
    if c == 'İ' {
        word.push('i');
    } else {
        word.extend(c.to_lowercase());
    }
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}')
}

/// Combining diacritical marks (decomposed accents), which are not
/// alphanumeric but belong to the preceding letter.
fn is_combining_mark(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::UNK_ID;

    fn tok() -> Tokenizer {
        Tokenizer::default()
    }

    #[test]
    fn basic_caption() {
        assert_eq!(
            tok().words("A man is playing the Guitar, on a stage!"),
            vec!["man", "playing", "guitar", "stage"]
        );
    }

    #[test]
    fn digits_and_oh_are_not_stop_words() {
        let digits = [
            "zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
        ];
        for d in digits {
            assert!(!tok().stop_words.contains(d), "{d}");
        }
        assert_eq!(
            tok().words("Seven, OH, nine 42"),
            vec!["seven", "oh", "nine", "42"]
        );
        assert_eq!(ENGLISH_STOP_WORDS.len(), 179);
    }

    #[test]
    fn punctuation_only_and_empty() {
        assert!(tok().words("").is_empty());
        assert!(tok().words("?!... -- ,,; ''' \"\" ()[]{}").is_empty());
        assert!(tok().words(" \t\n\r ").is_empty());
        let v = Vocab::default();
        assert_eq!(tok().encode("", &v), vec![PAD_ID; 16]);
        assert_eq!(tok().encode("!!!", &v), vec![PAD_ID; 16]);
    }

    #[test]
    fn apostrophes() {
        assert_eq!(tok().words("don't"), Vec::<String>::new()); // stop word
        assert_eq!(tok().words("Don’t stop"), vec!["stop"]);
        assert_eq!(tok().words("rock'n'roll"), vec!["rock'n'roll"]);
        assert_eq!(tok().words("'quoted' dogs'"), vec!["quoted", "dogs"]);
        // A doubled apostrophe separates: "can" and "t", both stop words.
        assert!(tok().words("can''t").is_empty());
    }

    #[test]
    fn unicode_text() {
        assert_eq!(tok().words("Café NAÏVE Ÿes"), vec!["café", "naïve", "ÿes"]);
        // Decomposed accent stays in the word.
        assert_eq!(tok().words("cafe\u{301} noir"), vec!["cafe\u{301}", "noir"]);
        assert_eq!(tok().words("İSTANBUL İzmir"), vec!["istanbul", "izmir"]);
        assert_eq!(tok().words("ΣΟΦΙΑ"), vec!["σοφια"]);
        assert_eq!(tok().words("東京タワー 夜景"), vec!["東京タワー", "夜景"]);
        assert_eq!(tok().words("dog🐶cat 🎸🎸"), vec!["dog", "cat"]);
        assert_eq!(tok().words("👍🏽\u{200d}"), Vec::<String>::new());
        // A mark with nothing before it is a separator, not a word.
        assert!(tok().words("\u{301}\u{301}").is_empty());
    }

    #[test]
    fn max_words_and_padding() {
        let text = (0..40)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        let words = tok().words(&text);
        assert_eq!(words.len(), 16);
        assert_eq!(words[15], "w15");
        let v = Vocab::from_words(["w0", "w3"]);
        let ids = tok().encode(&text, &v);
        assert_eq!(ids.len(), 16);
        assert_eq!(&ids[..4], &[2, UNK_ID, UNK_ID, 3]);
        assert_eq!(tok().encode("w3 zebra", &v)[..3], [3, UNK_ID, PAD_ID]);
        assert!(Tokenizer::with_max_words(0).encode(&text, &v).is_empty());
    }

    #[test]
    fn all_stop_words() {
        let text = ENGLISH_STOP_WORDS.join(" ").to_uppercase();
        assert!(tok().words(&text).is_empty());
        assert_eq!(tok().encode(&text, &Vocab::default()), vec![PAD_ID; 16]);
    }

    #[test]
    fn very_long_text() {
        let mb = 1 << 20;
        // Mostly stop words and punctuation: the whole MB is scanned.
        let filler = "the, of; and! ".repeat(mb / 14);
        let text = format!("{filler} zebra");
        assert_eq!(tok().words(&text), vec!["zebra"]);
        // One enormous word: defined output (one word, unknown id).
        let word = "x".repeat(mb);
        let ids = tok().encode(&word, &Vocab::default());
        assert_eq!(ids[0], UNK_ID);
        assert_eq!(&ids[1..], &[PAD_ID; 15]);
        // Many words: stops after 16.
        let many = "word ".repeat(mb / 5);
        assert_eq!(tok().words(&many).len(), 16);
    }

    #[test]
    fn serde_roundtrip() {
        let t = Tokenizer::with_max_words(8);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<Tokenizer>(&json).unwrap(), t);
    }
}
