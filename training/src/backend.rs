//! The burn device that runs training: burn-flex on the CPU by default, CUDA behind the `cuda`
//! feature (a one-line switch where burn's CUDA build can download its LLVM bundle), and Vulkan
//! behind `vulkan` (builds offline).

use burn::prelude::*;

/// The device for training, with autodiff on.
pub fn training_device() -> Device {
    inference_device().autodiff()
}

/// The device for forward passes without gradients.
pub fn inference_device() -> Device {
    #[cfg(feature = "cuda")]
    {
        Device::cuda(0)
    }
    #[cfg(all(feature = "vulkan", not(feature = "cuda")))]
    {
        Device::vulkan(DeviceKind::DiscreteGpu(0))
    }
    #[cfg(not(any(feature = "cuda", feature = "vulkan")))]
    {
        Device::flex()
    }
}

/// A human name for logs.
pub fn describe() -> &'static str {
    if cfg!(feature = "cuda") {
        "burn CUDA (GPU 0)"
    } else if cfg!(feature = "vulkan") {
        "burn Vulkan/wgpu"
    } else {
        "burn-flex (CPU)"
    }
}
