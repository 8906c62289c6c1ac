//! Text front end: caption/query tokenisation into fixed-length id sequences.
//!
//! [`Tokenizer::encode`] turns free text into exactly `max_words` word ids
//! from a [`Vocab`], the input of the text tower.

mod tokenizer;
mod vocab;

pub use tokenizer::{DEFAULT_MAX_WORDS, ENGLISH_STOP_WORDS, Tokenizer};
pub use vocab::{PAD, PAD_ID, UNK, UNK_ID, Vocab, VocabError};
