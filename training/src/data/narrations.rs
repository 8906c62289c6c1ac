//! The text of a clip: short narrations that name its digit, the weak, many-candidate text
//! that MIL-NCE expects (its positives are all the narrations of a clip).

use mmv_runtime::text::Tokenizer;
use rand::Rng;

pub const DIGIT_WORDS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

/// Narration templates; `{}` is the digit word. Stop words ("the", "a", "is", ...) are dropped
/// by the tokenizer, so every narration keeps the digit word plus a little context.
pub const NARRATIONS: [&str; 10] = [
    "{}",
    "the number {}",
    "a {} is moving",
    "someone says {}",
    "the digit {} on the screen",
    "count {}",
    "a handwritten {}",
    "you can hear {}",
    "this is a {}",
    "{} bouncing around",
];

/// A narration template filled with a digit's word.
pub fn narration(template: &str, digit: usize) -> String {
    template.replace("{}", DIGIT_WORDS[digit % 10])
}

/// `k` narrations of `digit`, distinct while there are enough templates.
pub fn pick_narrations(digit: usize, k: usize, rng: &mut impl Rng) -> Vec<String> {
    let mut order: Vec<usize> = (0..NARRATIONS.len()).collect();
    let mut out = Vec::with_capacity(k);
    while out.len() < k {
        // A partial Fisher-Yates shuffle per round of templates.
        for i in 0..order.len() {
            let j = rng.random_range(i..order.len());
            order.swap(i, j);
        }
        for &t in order.iter().take(k - out.len()) {
            out.push(narration(NARRATIONS[t], digit));
        }
    }
    out
}

/// Every word the narrations use (after stop-word removal), for a small vocabulary.
pub fn narration_words() -> Vec<String> {
    let tokenizer = Tokenizer::default();
    let mut words = Vec::new();
    for digit in 0..DIGIT_WORDS.len() {
        for template in NARRATIONS {
            for w in tokenizer.words(&narration(template, digit)) {
                if !words.contains(&w) {
                    words.push(w);
                }
            }
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    #[test]
    fn narrations_are_distinct_and_name_the_digit() {
        let mut rng = StdRng::seed_from_u64(1);
        let n = pick_narrations(7, 4, &mut rng);
        assert_eq!(n.len(), 4);
        for (i, a) in n.iter().enumerate() {
            assert!(a.contains("seven"), "{a}");
            assert!(n[i + 1..].iter().all(|b| b != a));
        }
        assert_eq!(pick_narrations(2, 25, &mut rng).len(), 25);
        let tokenizer = Tokenizer::default();
        for (d, word) in DIGIT_WORDS.iter().enumerate() {
            for t in NARRATIONS {
                assert!(
                    tokenizer
                        .words(&narration(t, d))
                        .contains(&word.to_string())
                );
            }
        }
    }
}
