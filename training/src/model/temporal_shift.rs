//! TSM's temporal shift: 1/8 of the channels move one frame forward in time, 1/8 one frame
//! back, with zeros entering at the clip's ends. It costs no parameters and no FLOPs.

use burn::prelude::*;

/// `x`: [B*T, C, H, W] with the T frames of each clip consecutive.
pub fn temporal_shift(x: Tensor<4>, frames: usize) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let fold = c / 8;
    if frames < 2 || fold == 0 {
        return x;
    }
    let b = n / frames;
    let x = x.reshape([b, frames, c, h, w]);
    let device = x.device();
    let zeros = |len: usize| Tensor::<5>::zeros([b, 1, len, h, w], &device);
    // Frame t receives frame t-1's first fold of channels.
    let fwd = Tensor::cat(
        vec![zeros(fold), x.clone().slice(s![.., 0..frames - 1, 0..fold])],
        1,
    );
    // Frame t receives frame t+1's second fold.
    let back = Tensor::cat(
        vec![
            x.clone().slice(s![.., 1..frames, fold..2 * fold]),
            zeros(fold),
        ],
        1,
    );
    let rest = x.slice(s![.., .., 2 * fold..c]);
    Tensor::cat(vec![fwd, back, rest], 2).reshape([n, c, h, w])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_one_eighth_each_way_with_zero_fill() {
        let device = Device::flex();
        // One clip, 3 frames, 8 channels, 1x1 pixels; value = 10*frame + channel.
        let values: Vec<f32> = (0..3)
            .flat_map(|t| (0..8).map(move |ch| (10 * t + ch) as f32))
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(values, [3, 8, 1, 1]), &device);
        let y: Vec<f32> = temporal_shift(x, 3)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let at = |t: usize, ch: usize| y[t * 8 + ch];
        assert_eq!(at(0, 0), 0.0); // zero enters at the start
        assert_eq!(at(1, 0), 0.0); // frame 0, channel 0
        assert_eq!(at(2, 0), 10.0); // frame 1, channel 0
        assert_eq!(at(0, 1), 11.0); // frame 1, channel 1 moved back
        assert_eq!(at(2, 1), 0.0); // zero enters at the end
        assert_eq!(at(1, 5), 15.0); // untouched channels stay
    }
}
