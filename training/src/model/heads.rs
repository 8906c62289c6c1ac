//! Projection heads from each encoder's features into the shared spaces, for the three designs
//! of MMV section 3.1. FAC follows the reference code's `fac_relu` exactly:
//! video -> va: Linear + BN + ReLU + Linear (no bias) + BN; audio -> va: Linear;
//! va -> vat: ReLU + Linear + BN, ONE module applied to both the video and the audio va
//! embeddings; text -> vat: Linear.

use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::config::{Design, HeadsConfig};

/// Linear + BatchNorm over [B, D] features.
#[derive(Module, Debug)]
pub struct LinearBn {
    pub linear: Linear,
    pub bn: BatchNorm,
}

impl LinearBn {
    fn new(d_in: usize, d_out: usize, bias: bool, momentum: f64, device: &Device) -> Self {
        Self {
            linear: LinearConfig::new(d_in, d_out).with_bias(bias).init(device),
            bn: BatchNormConfig::new(d_out)
                .with_momentum(momentum)
                .init(device),
        }
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.bn.forward(self.linear.forward(x))
    }
}

/// FAC's video -> va head.
#[derive(Module, Debug)]
pub struct FacVideoHead {
    pub first: LinearBn,
    pub second: LinearBn,
}

impl FacVideoHead {
    pub fn forward(&self, f_v: Tensor<2>) -> Tensor<2> {
        self.second.forward(relu(self.first.forward(f_v)))
    }
}

/// FAC's va -> vat map, shared by video and audio.
#[derive(Module, Debug)]
pub struct VaToVat {
    pub map: LinearBn,
}

impl VaToVat {
    pub fn forward(&self, z_va: Tensor<2>) -> Tensor<2> {
        self.map.forward(relu(z_va))
    }
}

/// Shared design: one space; every modality has a linear head into S_vat.
#[derive(Module, Debug)]
pub struct SharedHeads {
    pub video: Linear,
    pub audio: Linear,
    pub text: Linear,
}

/// Disjoint design: S_va (video, audio) and S_vt (video, text), each with its own linear heads.
#[derive(Module, Debug)]
pub struct DisjointHeads {
    pub video_va: Linear,
    pub audio_va: Linear,
    pub video_vt: Linear,
    pub text_vt: Linear,
}

/// FAC design: fine S_va, then the shared va -> vat map; text lives in S_vat.
#[derive(Module, Debug)]
pub struct FacHeads {
    pub video_va: FacVideoHead,
    pub audio_va: Linear,
    pub va_to_vat: VaToVat,
    pub text_vat: Linear,
}

/// The heads of one design. Text heads act per narration, on [B, K, D].
// One value per model: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Heads {
    Shared(SharedHeads),
    Disjoint(DisjointHeads),
    Fac(FacHeads),
}

/// Video embeddings in the space where they meet audio (`va`) and text (`vt`); in the shared
/// design both are the same tensor.
pub struct VideoSpaces {
    pub va: Tensor<2>,
    pub vt: Tensor<2>,
}

/// Audio embeddings: `va` meets video; `vt` meets text (None in the disjoint design, where audio
/// and text are not comparable).
pub struct AudioSpaces {
    pub va: Tensor<2>,
    pub vt: Option<Tensor<2>>,
}

impl Heads {
    pub fn new(config: &HeadsConfig, d_v: usize, d_a: usize, d_t: usize, device: &Device) -> Self {
        let (va, vat, m) = (config.va_dim, config.vat_dim, config.bn_momentum);
        let lin = |i: usize, o: usize| LinearConfig::new(i, o).init(device);
        match config.design {
            Design::Shared => Heads::Shared(SharedHeads {
                video: lin(d_v, vat),
                audio: lin(d_a, vat),
                text: lin(d_t, vat),
            }),
            Design::Disjoint => Heads::Disjoint(DisjointHeads {
                video_va: lin(d_v, va),
                audio_va: lin(d_a, va),
                video_vt: lin(d_v, vat),
                text_vt: lin(d_t, vat),
            }),
            Design::Fac => Heads::Fac(FacHeads {
                video_va: FacVideoHead {
                    first: LinearBn::new(d_v, va, true, m, device),
                    second: LinearBn::new(va, va, false, m, device),
                },
                audio_va: lin(d_a, va),
                va_to_vat: VaToVat {
                    map: LinearBn::new(va, vat, true, m, device),
                },
                text_vat: lin(d_t, vat),
            }),
        }
    }

    pub fn video(&self, f_v: Tensor<2>) -> VideoSpaces {
        match self {
            Heads::Shared(SharedHeads { video, .. }) => {
                let z = video.forward(f_v);
                VideoSpaces {
                    va: z.clone(),
                    vt: z,
                }
            }
            Heads::Disjoint(DisjointHeads {
                video_va, video_vt, ..
            }) => VideoSpaces {
                va: video_va.forward(f_v.clone()),
                vt: video_vt.forward(f_v),
            },
            Heads::Fac(FacHeads {
                video_va,
                va_to_vat,
                ..
            }) => {
                let va = video_va.forward(f_v);
                let vt = va_to_vat.forward(va.clone());
                VideoSpaces { va, vt }
            }
        }
    }

    pub fn audio(&self, f_a: Tensor<2>) -> AudioSpaces {
        match self {
            Heads::Shared(SharedHeads { audio, .. }) => {
                let z = audio.forward(f_a);
                AudioSpaces {
                    va: z.clone(),
                    vt: Some(z),
                }
            }
            Heads::Disjoint(DisjointHeads { audio_va, .. }) => AudioSpaces {
                va: audio_va.forward(f_a),
                vt: None,
            },
            Heads::Fac(FacHeads {
                audio_va,
                va_to_vat,
                ..
            }) => {
                let va = audio_va.forward(f_a);
                let vt = va_to_vat.forward(va.clone());
                AudioSpaces { va, vt: Some(vt) }
            }
        }
    }

    /// `f_t`: [B, K, D] -> [B, K, d_vt].
    pub fn text(&self, f_t: Tensor<3>) -> Tensor<3> {
        match self {
            Heads::Shared(SharedHeads { text, .. }) => text.forward(f_t),
            Heads::Disjoint(DisjointHeads { text_vt, .. }) => text_vt.forward(f_t),
            Heads::Fac(FacHeads { text_vat, .. }) => text_vat.forward(f_t),
        }
    }
}
