//! Zero-shot classification: an embedding (of a video, or of audio mapped into the text space)
//! gets the digit whose narrations lie nearest in the text space. No classifier is trained.
//!
//! Each digit is represented by all its narration templates (a prompt ensemble): the mean of
//! their normalised text embeddings, normalised again.

use burn::prelude::*;

use crate::data::narrations::{DIGIT_WORDS, NARRATIONS, narration};
use crate::loss::l2_normalize;
use crate::model::Mmv;

/// The ten class embeddings [10, d] in the text space, L2-normalised. `encode` tokenises one
/// narration into the model's [max_words] ids.
pub fn class_embeddings(model: &Mmv, encode: impl Fn(&str) -> Vec<u32>) -> Tensor<2> {
    let device = model.text.words.device();
    let k = NARRATIONS.len();
    let mut ids: Vec<i64> = Vec::new();
    for digit in 0..DIGIT_WORDS.len() {
        for template in NARRATIONS {
            ids.extend(
                encode(&narration(template, digit))
                    .into_iter()
                    .map(i64::from),
            );
        }
    }
    let width = ids.len() / (DIGIT_WORDS.len() * k);
    let ids =
        Tensor::<3, Int>::from_data(TensorData::new(ids, [DIGIT_WORDS.len(), k, width]), &device);
    let per_prompt = l2_normalize(model.embed_text(ids));
    l2_normalize(per_prompt.mean_dim(1).squeeze_dim(1))
}

/// The nearest class (by cosine) of each row of `embeddings` [N, d].
pub fn classify(embeddings: Tensor<2>, classes: Tensor<2>) -> Vec<usize> {
    let classes = classes.to_device(&embeddings.device());
    l2_normalize(embeddings)
        .matmul(classes.transpose())
        .argmax(1)
        .into_data_as::<i64>()
        .try_to_vec::<i64>()
        .expect("argmax gives integers")
        .into_iter()
        .map(|c| c as usize)
        .collect()
}

/// The share of predictions equal to the labels.
pub fn accuracy(predicted: &[usize], labels: &[usize]) -> f64 {
    let hits = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
    hits as f64 / labels.len().max(1) as f64
}
