//! The text network: frozen word vectors, a per-word Linear + ReLU, max-pooled over the words
//! of a narration to f_t (the paper's word2vec pipeline, with GloVe vectors here).

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

#[derive(Module, Debug)]
pub struct TextEncoder {
    /// The frozen word-vector table [vocab, word_dim]. A plain tensor, not a `Param`: the
    /// optimiser never sees it, and it is rebuilt from the GloVe file rather than checkpointed.
    pub words: Tensor<2>,
    pub proj: Linear,
}

impl TextEncoder {
    /// `table`: row-major [vocab, word_dim], row 0 the padding word (all zeros).
    pub fn new(table: Vec<f32>, word_dim: usize, hidden: usize, device: &Device) -> Self {
        let vocab = table.len() / word_dim;
        let words = Tensor::from_data(TensorData::new(table, [vocab, word_dim]), device);
        Self {
            words,
            proj: LinearConfig::new(word_dim, hidden).init(device),
        }
    }

    pub fn vocab_size(&self) -> usize {
        self.words.dims()[0]
    }

    /// `ids`: [B, K, W] token ids (0 = padding) -> f_t: [B, K, hidden].
    pub fn forward(&self, ids: Tensor<3, Int>) -> Tensor<3> {
        let [b, k, w] = ids.dims();
        let word_dim = self.words.dims()[1];
        let mask = ids.clone().not_equal_elem(0).float().reshape([b, k, w, 1]);
        let flat = ids.reshape([b * k * w]);
        let vectors = self
            .words
            .clone()
            .to_device(&flat.device())
            .select(0, flat)
            .reshape([b, k, w, word_dim]);
        // ReLU output is >= 0, so zeroing the padding words keeps them out of the max (an
        // all-padding narration gives the zero vector).
        let per_word = relu(self.proj.forward(vectors)) * mask;
        let hidden = per_word.dims()[3];
        per_word.max_dim(2).reshape([b, k, hidden])
    }
}
