//! The burn device that runs training and evaluation, chosen at run time (`--device`):
//! burn-flex on the CPU (always built), CUDA behind the `cuda` feature (`scripts/cuda-setup.sh`
//! prepares its offline build) and Vulkan/wgpu behind `vulkan`.
//!
//! Choosing a device checks first that it can work here (compiled in, driver loadable, a GPU
//! present) and answers with a one-line [`DeviceError`] naming what is missing, instead of a
//! panic inside cubecl at the first kernel launch.

use std::fmt;
use std::sync::OnceLock;

use burn::prelude::*;

/// The kinds of device `mmv-train` can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    /// burn-flex on the CPU.
    Cpu,
    /// burn's CUDA backend on GPU 0 (the `cuda` feature).
    Cuda,
    /// burn's wgpu backend on the first discrete Vulkan GPU (the `vulkan` feature).
    Vulkan,
}

impl DeviceChoice {
    pub const ALL: [DeviceChoice; 3] = [Self::Cpu, Self::Cuda, Self::Vulkan];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
            Self::Vulkan => "vulkan",
        }
    }

    /// The cargo feature that builds this device in; None for the CPU (always built).
    pub fn feature(self) -> Option<&'static str> {
        match self {
            Self::Cpu => None,
            Self::Cuda => Some("cuda"),
            Self::Vulkan => Some("vulkan"),
        }
    }

    /// Whether this binary was built with the device's backend.
    pub fn compiled(self) -> bool {
        match self {
            Self::Cpu => true,
            Self::Cuda => cfg!(feature = "cuda"),
            Self::Vulkan => cfg!(feature = "vulkan"),
        }
    }

    /// The device used when none is chosen: the GPU backend the binary was built for (CUDA
    /// before Vulkan), else the CPU.
    pub fn build_default() -> Self {
        if cfg!(feature = "cuda") {
            Self::Cuda
        } else if cfg!(feature = "vulkan") {
            Self::Vulkan
        } else {
            Self::Cpu
        }
    }

    /// A human name for logs.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Cpu => "burn-flex (CPU)",
            Self::Cuda => "burn CUDA (GPU 0)",
            Self::Vulkan => "burn Vulkan/wgpu",
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("{s:?} is not one of cpu, cuda, vulkan"))
    }
}

/// Why a device cannot run here. Each message is one line and names what is missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error(
        "this mmv-train was built without the {feature} feature: rebuild with --features {feature}{hint}"
    )]
    NotCompiled {
        feature: &'static str,
        hint: &'static str,
    },
    #[error(
        "no CUDA driver found ({library} not loadable: {reason}); install the NVIDIA driver or use --device cpu"
    )]
    NoCudaDriver { library: String, reason: String },
    #[error(
        "the CUDA driver ({library}) did not start: {call} returned {code} ({name}); check the NVIDIA driver or use --device cpu"
    )]
    CudaDriver {
        library: String,
        call: &'static str,
        code: i32,
        name: String,
    },
    #[error("no CUDA GPU {index}: the driver sees {count} GPU(s); use --device cpu")]
    NoCudaGpu { index: usize, count: usize },
    #[error(
        "no Vulkan loader found ({library} not loadable: {reason}); install a Vulkan driver or use --device cpu"
    )]
    NoVulkan { library: String, reason: String },
    #[error("the device is already chosen for this process ({current}); cannot switch to {wanted}")]
    AlreadyChosen {
        current: DeviceChoice,
        wanted: DeviceChoice,
    },
}

/// Checks, without creating the device, that `choice` can run in this process on this machine.
pub fn probe(choice: DeviceChoice) -> Result<(), DeviceError> {
    if let Some(feature) = choice.feature().filter(|_| !choice.compiled()) {
        return Err(DeviceError::NotCompiled {
            feature,
            hint: if choice == DeviceChoice::Cuda {
                " (scripts/cuda-setup.sh prepares its offline build)"
            } else {
                ""
            },
        });
    }
    match choice {
        DeviceChoice::Cpu => Ok(()),
        #[cfg(feature = "cuda")]
        DeviceChoice::Cuda => driver::cuda(0),
        #[cfg(feature = "vulkan")]
        DeviceChoice::Vulkan => driver::vulkan(),
        #[allow(unreachable_patterns)]
        _ => unreachable!("a device not compiled in was answered above"),
    }
}

/// Probes `choice` and creates its device (without autodiff).
pub fn device(choice: DeviceChoice) -> Result<Device, DeviceError> {
    probe(choice)?;
    Ok(create(choice))
}

fn create(choice: DeviceChoice) -> Device {
    match choice {
        DeviceChoice::Cpu => Device::flex(),
        #[cfg(feature = "cuda")]
        DeviceChoice::Cuda => Device::cuda(0),
        #[cfg(feature = "vulkan")]
        DeviceChoice::Vulkan => Device::vulkan(DeviceKind::DiscreteGpu(0)),
        #[allow(unreachable_patterns)]
        _ => unreachable!("create() only follows a successful probe()"),
    }
}

static CHOSEN: OnceLock<DeviceChoice> = OnceLock::new();

/// Chooses the device for the rest of this process ([`training_device`],
/// [`inference_device`]) after checking it can run. Call it before anything makes a device;
/// choosing the same device again is fine, another one is an error.
pub fn choose(choice: DeviceChoice) -> Result<(), DeviceError> {
    probe(choice)?;
    let current = *CHOSEN.get_or_init(|| choice);
    if current == choice {
        Ok(())
    } else {
        Err(DeviceError::AlreadyChosen {
            current,
            wanted: choice,
        })
    }
}

/// The device in use: the one [`choose`]n, else [`DeviceChoice::build_default`].
pub fn chosen() -> DeviceChoice {
    CHOSEN
        .get()
        .copied()
        .unwrap_or_else(DeviceChoice::build_default)
}

/// The device for training, with autodiff on.
pub fn training_device() -> Device {
    inference_device().autodiff()
}

/// The device for forward passes without gradients.
///
/// Panics with the [`DeviceError`] line when the device cannot run; the binaries [`choose`]
/// first, so that they report it as an error instead.
pub fn inference_device() -> Device {
    device(chosen()).unwrap_or_else(|e| panic!("{e}"))
}

/// A human name for logs.
pub fn describe() -> &'static str {
    chosen().describe()
}

/// Loading the GPU driver's library the way the backend will, before the backend tries.
#[cfg(any(feature = "cuda", feature = "vulkan"))]
mod driver {
    use super::DeviceError;
    use libloading::Library;

    /// The first of `names` that loads, kept loaded for the process (the backend loads the
    /// same library again); or the first name and the loader's reason.
    fn load(names: &[&str]) -> Result<(&'static Library, String), (String, String)> {
        let mut first_error = None;
        for &name in names {
            // SAFETY: loading a GPU driver's library runs its initialisers, as the backend's own
            // loading (cudarc, wgpu) will do anyway.
            match unsafe { Library::new(name) } {
                Ok(lib) => return Ok((Box::leak(Box::new(lib)), name.to_string())),
                Err(e) => {
                    // libloading says "dlopen failed"; the loader's own words are its source.
                    let reason = std::error::Error::source(&e)
                        .map_or_else(|| e.to_string(), |s| s.to_string());
                    first_error.get_or_insert_with(|| (name.to_string(), reason));
                }
            }
        }
        Err(first_error.expect("at least one library name"))
    }

    #[cfg(feature = "cuda")]
    pub fn cuda(index: usize) -> Result<(), DeviceError> {
        #[cfg(windows)]
        const NAMES: &[&str] = &["nvcuda.dll"];
        #[cfg(not(windows))]
        const NAMES: &[&str] = &["libcuda.so.1", "libcuda.so"];
        type CuInit = unsafe extern "C" fn(u32) -> i32;
        type CuDeviceGetCount = unsafe extern "C" fn(*mut i32) -> i32;
        type CuGetErrorName = unsafe extern "C" fn(i32, *mut *const std::ffi::c_char) -> i32;

        let (lib, library) = load(NAMES)
            .map_err(|(library, reason)| DeviceError::NoCudaDriver { library, reason })?;
        let missing = |symbol: &str| DeviceError::NoCudaDriver {
            library: library.clone(),
            reason: format!("it has no {symbol}"),
        };
        // SAFETY: the signatures are the CUDA driver API's (cuda.h), stable since CUDA 2.0.
        unsafe {
            let init = lib
                .get::<CuInit>(b"cuInit\0")
                .map_err(|_| missing("cuInit"))?;
            let count_fn = lib
                .get::<CuDeviceGetCount>(b"cuDeviceGetCount\0")
                .map_err(|_| missing("cuDeviceGetCount"))?;
            let error_name = |code: i32| -> String {
                let mut ptr: *const std::ffi::c_char = std::ptr::null();
                match lib.get::<CuGetErrorName>(b"cuGetErrorName\0") {
                    Ok(f) if f(code, &mut ptr) == 0 && !ptr.is_null() => {
                        std::ffi::CStr::from_ptr(ptr).to_string_lossy().into_owned()
                    }
                    _ => "unknown error".into(),
                }
            };
            let fail = |call: &'static str, code: i32| DeviceError::CudaDriver {
                library: library.clone(),
                call,
                code,
                name: error_name(code),
            };
            match init(0) {
                0 => {}
                // CUDA_ERROR_NO_DEVICE: a driver without a GPU.
                100 => return Err(DeviceError::NoCudaGpu { index, count: 0 }),
                code => return Err(fail("cuInit", code)),
            }
            let mut count = 0i32;
            match count_fn(&mut count) {
                0 => {}
                code => return Err(fail("cuDeviceGetCount", code)),
            }
            let count = count.max(0) as usize;
            if index >= count {
                return Err(DeviceError::NoCudaGpu { index, count });
            }
        }
        Ok(())
    }

    #[cfg(feature = "vulkan")]
    pub fn vulkan() -> Result<(), DeviceError> {
        #[cfg(windows)]
        const NAMES: &[&str] = &["vulkan-1.dll"];
        #[cfg(target_os = "macos")]
        const NAMES: &[&str] = &["libvulkan.1.dylib", "libMoltenVK.dylib"];
        #[cfg(not(any(windows, target_os = "macos")))]
        const NAMES: &[&str] = &["libvulkan.so.1", "libvulkan.so"];
        load(NAMES)
            .map(|_| ())
            .map_err(|(library, reason)| DeviceError::NoVulkan { library, reason })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in DeviceChoice::ALL {
            assert_eq!(d.name().parse::<DeviceChoice>(), Ok(d));
            assert_eq!(d.to_string(), d.name());
        }
        assert_eq!(" CUDA ".parse::<DeviceChoice>(), Ok(DeviceChoice::Cuda));
        assert!(
            "gpu"
                .parse::<DeviceChoice>()
                .unwrap_err()
                .contains("cpu, cuda, vulkan")
        );
    }

    #[test]
    fn cpu_always_runs() {
        assert_eq!(probe(DeviceChoice::Cpu), Ok(()));
        assert!(device(DeviceChoice::Cpu).is_ok());
    }

    /// Every device either runs here or says in one line what is missing; a device not built
    /// in says which feature to build it with.
    #[test]
    fn unavailable_devices_explain_in_one_line() {
        for d in DeviceChoice::ALL {
            match probe(d) {
                Ok(()) => assert!(d.compiled()),
                Err(e) => {
                    let line = e.to_string();
                    assert!(!line.contains('\n'), "{d}: {line}");
                    if !d.compiled() {
                        let feature = d.feature().unwrap();
                        assert!(
                            line.contains(&format!("--features {feature}")),
                            "{d}: {line}"
                        );
                    }
                }
            }
        }
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_names_it() {
        let e = probe(DeviceChoice::Cuda).unwrap_err();
        assert_eq!(
            e.to_string(),
            "this mmv-train was built without the cuda feature: rebuild with --features cuda \
             (scripts/cuda-setup.sh prepares its offline build)"
        );
    }
}
