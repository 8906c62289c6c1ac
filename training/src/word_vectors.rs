//! Frozen word vectors for the text network: loaded from any GloVe-format text file (plain or
//! gzipped: `word v1 ... vD` a line), or a seeded random table when none is given.
//!
//! Row 0 is the padding word and row 1 the unknown word, matching the runtime's `Vocab`.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use mmv_runtime::text::Vocab;
use rand::{Rng, SeedableRng, rngs::StdRng};

#[derive(Debug, thiserror::Error)]
pub enum WordVectorError {
    #[error("cannot read word vectors {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("word vectors {path}, line {line}: {problem}")]
    Format {
        path: String,
        line: usize,
        problem: String,
    },
    #[error("word vectors {path} hold no vectors")]
    Empty { path: String },
}

/// A vocabulary and its frozen vectors, row-major [vocab.len(), dim].
#[derive(Clone, Debug)]
pub struct WordVectors {
    pub vocab: Vocab,
    pub dim: usize,
    pub table: Vec<f32>,
}

impl WordVectors {
    /// Loads a GloVe text file (`.gz` is decompressed), keeping at most `limit` words in file
    /// order (GloVe files are sorted by frequency).
    pub fn load_glove(path: &Path, limit: Option<usize>) -> Result<Self, WordVectorError> {
        let name = path.display().to_string();
        let io = |source| WordVectorError::Io {
            path: name.clone(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
            Box::new(flate2::read::GzDecoder::new(file))
        } else {
            Box::new(file)
        };
        let mut words = Vec::new();
        let mut rows: Vec<f32> = Vec::new();
        let mut dim = 0;
        for (index, line) in BufReader::new(reader).lines().enumerate() {
            if limit.is_some_and(|l| words.len() >= l) {
                break;
            }
            let line = line.map_err(io)?;
            let mut parts = line.split(' ');
            let word = parts.next().unwrap_or_default();
            if word.is_empty() {
                continue;
            }
            let start = rows.len();
            for p in parts {
                let v: f32 = p.parse().map_err(|_| WordVectorError::Format {
                    path: name.clone(),
                    line: index + 1,
                    problem: format!("{p:?} is not a number"),
                })?;
                rows.push(v);
            }
            let got = rows.len() - start;
            if dim == 0 {
                dim = got;
            }
            if got != dim || got == 0 {
                return Err(WordVectorError::Format {
                    path: name,
                    line: index + 1,
                    problem: format!("{got} values where the file's vectors have {dim}"),
                });
            }
            words.push(word.to_string());
        }
        if words.is_empty() {
            return Err(WordVectorError::Empty { path: name });
        }
        // Rows are placed by the vocabulary's ids: the specials (padding, unknown) stay zero,
        // and a word repeated in the file keeps its first vector.
        let vocab = Vocab::from_words(words.iter().cloned());
        let mut table = vec![0.0; vocab.len() * dim];
        let mut filled = vec![false; vocab.len()];
        for (row, word) in words.iter().enumerate() {
            let id = vocab.id(word) as usize;
            if id > 1 && !filled[id] {
                filled[id] = true;
                table[id * dim..(id + 1) * dim].copy_from_slice(&rows[row * dim..(row + 1) * dim]);
            }
        }
        Ok(Self { vocab, dim, table })
    }

    /// A seeded random table (unit-variance Gaussian-like entries) for `words`, for runs without
    /// a GloVe file.
    pub fn random(words: impl IntoIterator<Item = String>, dim: usize, seed: u64) -> Self {
        let vocab = Vocab::from_words(words);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut table: Vec<f32> = (0..vocab.len() * dim)
            .map(|_| {
                // Sum of uniforms: cheap, deterministic, roughly normal.
                (0..4).map(|_| rng.random::<f32>() - 0.5).sum::<f32>() * 1.7
            })
            .collect();
        table[..dim].iter_mut().for_each(|v| *v = 0.0);
        Self { vocab, dim, table }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_plain_glove_text_with_specials_first() {
        let dir = std::env::temp_dir().join(format!("mmv-glove-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tiny.txt");
        std::fs::write(&path, "seven 0.5 -1\nnumber 2 3\n").unwrap();
        let wv = WordVectors::load_glove(&path, None).unwrap();
        assert_eq!(wv.dim, 2);
        let seven = wv.vocab.id("seven") as usize;
        assert_eq!(&wv.table[seven * 2..seven * 2 + 2], &[0.5, -1.0]);
        assert_eq!(&wv.table[0..2], &[0.0, 0.0]);
        assert_eq!(wv.table.len(), wv.vocab.len() * 2);

        std::fs::write(&path, "seven 0.5 -1\nnumber 2\n").unwrap();
        let err = WordVectors::load_glove(&path, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("tiny.txt"), "{err}");
        std::fs::write(&path, "seven 0.5 x\n").unwrap();
        let err = WordVectors::load_glove(&path, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"x\""), "{err}");
        std::fs::write(&path, "").unwrap();
        assert!(matches!(
            WordVectors::load_glove(&path, None),
            Err(WordVectorError::Empty { .. })
        ));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn random_table_is_seeded() {
        let words = || ["one", "two"].map(String::from);
        let a = WordVectors::random(words(), 8, 1);
        let b = WordVectors::random(words(), 8, 1);
        let c = WordVectors::random(words(), 8, 2);
        assert_eq!(a.table, b.table);
        assert_ne!(a.table, c.table);
        assert!(a.table[..8].iter().all(|&v| v == 0.0));
    }

    #[test]
    #[ignore = "needs MMV_DATA"]
    fn loads_the_shared_glove_file() {
        // Relative to the workspace root, where the README's command runs.
        let data = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(std::env::var("MMV_DATA").expect("MMV_DATA"));
        let path = data.join("glove/glove.6B.50d.top50k.txt.gz");
        let wv = WordVectors::load_glove(&path, None).unwrap();
        assert_eq!(wv.dim, 50);
        assert!(wv.vocab.len() >= 50_000);
        let seven = wv.vocab.id("seven") as usize;
        assert!(seven > 1, "seven is a known word");
        assert!(
            wv.table[seven * 50..seven * 50 + 50]
                .iter()
                .any(|&v| v != 0.0)
        );
    }
}
