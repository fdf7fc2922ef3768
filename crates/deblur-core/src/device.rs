//! Choosing a burn device by name. Libraries never pick a backend; binaries call this once.

use burn::tensor::Device;

use crate::{Error, Result};

/// Names of the backends compiled into this build, for help texts and errors.
pub fn available_backends() -> Vec<&'static str> {
    let mut names = Vec::new();
    if cfg!(feature = "flex") {
        names.push("cpu");
    }
    if cfg!(feature = "wgpu") {
        names.push("wgpu");
    }
    if cfg!(feature = "cuda") {
        names.push("cuda");
    }
    names
}

/// Maps `cpu`/`flex`, `wgpu` or `cuda` to a [`Device`].
///
/// `wgpu` takes the adapter from `CUBECL_WGPU_DEFAULT_DEVICE` when set (e.g. `Cpu` for Mesa's
/// software Vulkan driver), else the best adapter found.
///
/// # Errors
/// [`Error::UnknownBackend`] when the name is unknown or its cargo feature is not enabled.
pub fn device_from_name(name: &str) -> Result<Device> {
    match name.to_ascii_lowercase().as_str() {
        #[cfg(feature = "flex")]
        "cpu" | "flex" => Ok(Device::flex()),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(0)),
        _ => Err(Error::UnknownBackend(
            name.to_owned(),
            available_backends().join(", "),
        )),
    }
}

/// Whether `device` is `flex` (with or without autodiff), where the host-side operations of
/// `flex_ext` run; always false without the `flex` feature.
pub fn is_flex(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    {
        *device == Device::flex()
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}

/// The default device of this build: the CPU (`flex`) when compiled in, else the first backend.
pub fn default_device() -> Device {
    Device::default()
}
