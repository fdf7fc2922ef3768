//! Weights the project trains and ships under `weights/`, described by `weights/manifest.json`:
//! one entry per file with the model, its config file, the SHA-256 of the weights, and how they
//! were made (data, seed, steps, wall time, final losses). Loading verifies the checksum.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::generator::{KernelGenerator, KernelGeneratorConfig};
use crate::initializer::{InitializerConfig, KernelInitializer};
use crate::{Error, Result};

/// The models a weights folder can hold (the manifest's `model` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelFamily {
    /// The DCGAN kernel generator ([`KernelGenerator`]), `kernel-generator`.
    KernelGenerator,
    /// The ResNet kernel initializer ([`KernelInitializer`]), `kernel-initializer`.
    KernelInitializer,
    /// The blur-kernel space F and G ([`crate::KernelSpace`]), `kernel-space`.
    KernelSpace,
    /// The plug-and-play denoiser ([`deblur_priors::Denoiser`]), `denoiser`.
    Denoiser,
}

impl std::fmt::Display for ModelFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ModelFamily::KernelGenerator => "kernel-generator",
            ModelFamily::KernelInitializer => "kernel-initializer",
            ModelFamily::KernelSpace => "kernel-space",
            ModelFamily::Denoiser => "denoiser",
        })
    }
}

/// One shipped weight file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightEntry {
    /// Which model the file holds.
    pub model: ModelFamily,
    /// Variant name, e.g. `shake-k31-v1`: free text, since users name the variants they train.
    pub variant: String,
    /// Weights file (burnpack), relative to the weights folder.
    pub file: String,
    /// Config file (JSON), relative to the weights folder.
    pub config: String,
    /// Lower-case hex SHA-256 of the weights file.
    pub sha256: String,
    /// Free-form provenance: command, data, seed, steps, wall time, losses, quality.
    pub provenance: serde_json::Value,
}

/// The manifest of a weights folder.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The entries.
    pub weights: Vec<WeightEntry>,
}

/// Hex SHA-256 of a file.
///
/// # Errors
/// [`Error::Checkpoint`] if the file cannot be read.
pub fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::Checkpoint {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

impl Manifest {
    /// Reads `dir/manifest.json`.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] if it is missing or malformed.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::Checkpoint {
            path: path.clone(),
            reason: format!("{e}; the weights folder needs a manifest.json"),
        })?;
        serde_json::from_str(&text).map_err(|e| Error::Checkpoint {
            path,
            reason: e.to_string(),
        })
    }

    /// The entry of `model`/`variant`.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] listing the variants available.
    pub fn entry(&self, model: ModelFamily, variant: &str) -> Result<&WeightEntry> {
        self.weights
            .iter()
            .find(|e| e.model == model && e.variant == variant)
            .ok_or_else(|| Error::Checkpoint {
                path: PathBuf::from("manifest.json"),
                reason: format!(
                    "no {model} weights named {variant:?}; available: {}",
                    self.weights
                        .iter()
                        .filter(|e| e.model == model)
                        .map(|e| e.variant.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }
}

/// The denoiser variant of the manifest that the plug-and-play steps use unless told otherwise.
pub const SHIPPED_DENOISER: &str = "grey-v1";

/// The weights folder: `$DEBLUR_WEIGHTS`, else `weights/` in the current folder, else beside the
/// executable or two levels up from it (a `target/release` binary in the repository), else the
/// `weights/` of the source tree this library was built from, if it is still there (tests and
/// examples run from a crate folder).
pub fn find_weights_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("DEBLUR_WEIGHTS") {
        return Some(PathBuf::from(dir));
    }
    let mut candidates = vec![PathBuf::from("weights")];
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        candidates.push(dir.join("weights"));
        candidates.extend(dir.ancestors().nth(2).map(|d| d.join("weights")));
    }
    candidates.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../weights"));
    candidates
        .into_iter()
        .find(|d| d.join("manifest.json").exists())
}

/// The weights file and config file of `model`/`variant` in the weights folder `dir`, after
/// checking the file's SHA-256 against the manifest.
///
/// # Errors
/// [`Error::Checkpoint`] for a missing manifest, entry or file, or a checksum mismatch.
pub fn verified_entry(dir: &Path, model: ModelFamily, variant: &str) -> Result<(PathBuf, PathBuf)> {
    let manifest = Manifest::read(dir)?;
    let entry = manifest.entry(model, variant)?;
    let file = dir.join(&entry.file);
    let sum = sha256_file(&file)?;
    if sum != entry.sha256 {
        return Err(Error::Checkpoint {
            path: file,
            reason: format!(
                "checksum {sum} does not match the manifest's {}; the file is damaged or was replaced",
                entry.sha256
            ),
        });
    }
    Ok((file, dir.join(&entry.config)))
}

/// Loads the kernel generator `variant` from the weights folder `dir`, verifying its checksum.
///
/// # Errors
/// [`Error::Checkpoint`] for a missing manifest, entry or file, or a checksum mismatch.
pub fn load_generator(dir: &Path, variant: &str, device: &Device) -> Result<KernelGenerator> {
    let (file, config) = verified_entry(dir, ModelFamily::KernelGenerator, variant)?;
    load_generator_files(&file, &config, device)
}

/// Loads the kernel initializer `variant` from the weights folder `dir`, verifying its checksum.
///
/// # Errors
/// [`Error::Checkpoint`] for a missing manifest, entry or file, or a checksum mismatch.
pub fn load_initializer(dir: &Path, variant: &str, device: &Device) -> Result<KernelInitializer> {
    let (file, config) = verified_entry(dir, ModelFamily::KernelInitializer, variant)?;
    load_initializer_files(&file, &config, device)
}

/// Loads the blur-kernel space `variant` from the weights folder `dir`, verifying its checksum.
///
/// # Errors
/// [`Error::Checkpoint`] for a missing manifest, entry or file, or a checksum mismatch.
pub fn load_kernel_space(dir: &Path, variant: &str, device: &Device) -> Result<crate::KernelSpace> {
    let (file, config) = verified_entry(dir, ModelFamily::KernelSpace, variant)?;
    load_kernel_space_files(&file, &config, device)
}

/// A blur-kernel space from a trained `file` (`kernel_space.bpk` from `deblur train
/// kernel-space`, its `.json` beside it) when one is given, else the shipped `variant` of the
/// weights folder `dir` (default: [`find_weights_dir`]).
///
/// # Errors
/// [`Error::Checkpoint`] naming a missing or damaged file, [`Error::InvalidSetting`] when no
/// weights folder is found, and the errors of [`load_kernel_space`].
pub fn load_kernel_space_from(
    file: Option<&Path>,
    dir: Option<&Path>,
    variant: &str,
    device: &Device,
) -> Result<crate::KernelSpace> {
    let (weights, config) = resolve_model(file, dir, ModelFamily::KernelSpace, variant)?;
    load_kernel_space_files(&weights, &config, device)
}

/// A denoiser from a trained `file` (`denoiser.bpk` from `deblur train denoiser`, its `.json`
/// beside it) when one is given, else the shipped `variant` of the weights folder `dir` (default:
/// [`find_weights_dir`]), checksum verified.
///
/// # Errors
/// As [`load_kernel_space_from`].
pub fn load_denoiser_from(
    file: Option<&Path>,
    dir: Option<&Path>,
    variant: &str,
    device: &Device,
) -> Result<deblur_priors::Denoiser> {
    let (weights, config) = resolve_model(file, dir, ModelFamily::Denoiser, variant)?;
    let parsed: deblur_priors::DenoiserConfig = read_config(&config)?;
    if parsed.depth < 2 || parsed.width == 0 || !(parsed.channels == 1 || parsed.channels == 3) {
        return Err(Error::Checkpoint {
            path: config,
            reason: format!(
                "{} channel(s), width {}, depth {}: not a denoiser (1 or 3 channels, width ≥ 1, \
                 depth ≥ 2)",
                parsed.channels, parsed.width, parsed.depth
            ),
        });
    }
    apply_record(parsed.init(device), &weights, &config)
}

/// [`load_denoiser_from`], except that `Ok(None)` stands for "no weights folder found" when no
/// `file` is given: for callers with a fallback (the pipeline's default final step).
///
/// # Errors
/// As [`load_denoiser_from`], but for the missing folder.
pub fn find_denoiser(
    file: Option<&Path>,
    dir: Option<&Path>,
    variant: &str,
    device: &Device,
) -> Result<Option<deblur_priors::Denoiser>> {
    match load_denoiser_from(file, dir, variant, device) {
        Ok(model) => Ok(Some(model)),
        Err(Error::InvalidSetting {
            setting: "weights", ..
        }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The weights and config files of a model: a trained `file` with its `.json` beside it, else
/// the verified `family`/`variant` of the weights folder `dir` or [`find_weights_dir`].
fn resolve_model(
    file: Option<&Path>,
    dir: Option<&Path>,
    family: ModelFamily,
    variant: &str,
) -> Result<(PathBuf, PathBuf)> {
    if let Some(file) = file {
        if !file.is_file() {
            return Err(Error::Checkpoint {
                path: file.to_path_buf(),
                reason: format!(
                    "no such model file; train one with `deblur train {family}` (its .json sits \
                     beside it) or use a shipped variant"
                ),
            });
        }
        return Ok((file.to_path_buf(), file.with_extension("json")));
    }
    let dir = dir
        .map(Path::to_path_buf)
        .or_else(find_weights_dir)
        .ok_or_else(|| Error::InvalidSetting {
            setting: "weights",
            rule: "no weights folder found: set DEBLUR_WEIGHTS, give a weights folder, or run \
                   from the repository (weights/manifest.json)"
                .into(),
        })?;
    verified_entry(&dir, family, variant)
}

fn read_config<C: serde::de::DeserializeOwned>(path: &Path) -> Result<C> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Checkpoint {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| Error::Checkpoint {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Loads the weights at `weights` into `module` (built from the config at `config`), refusing
/// weights of other shapes with an error naming both files instead of a panic, and weights that
/// are not all finite numbers (a damaged file would otherwise surface later as a NaN image or a
/// NaN training loss).
pub(crate) fn apply_record<M: Module>(module: M, weights: &Path, config: &Path) -> Result<M> {
    let module = module
        .try_load_record(read_record(weights)?)
        .map_err(|e| Error::Checkpoint {
            path: weights.to_path_buf(),
            reason: format!(
                "the weights do not fit the network described by {} ({e:?}); the two files \
                 belong to different models",
                config.display()
            ),
        })?;
    let mut count = NonFinite::default();
    module.visit(&mut count);
    if count.values > 0 {
        return Err(Error::Checkpoint {
            path: weights.to_path_buf(),
            reason: format!(
                "{} of the weights are not finite numbers (NaN or infinite): the file is damaged; \
                 restore it or train the model again",
                count.values
            ),
        });
    }
    Ok(module)
}

/// Counts the float parameters' entries that are NaN or infinite.
#[derive(Default)]
struct NonFinite {
    values: usize,
}

impl burn::module::ModuleVisitor for NonFinite {
    fn visit_float<const D: usize>(
        &mut self,
        param: &burn::module::Param<burn::tensor::Tensor<D>>,
    ) {
        let data = param.val().into_data().convert::<f32>();
        self.values += match data.as_slice::<f32>() {
            Ok(values) => values.iter().filter(|v| !v.is_finite()).count(),
            // not readable as f32: counted as damaged
            Err(_) => 1,
        };
    }
}

fn read_record(path: &Path) -> Result<ModuleRecord> {
    ModuleRecord::load(path).map_err(|e| Error::Checkpoint {
        path: path.to_path_buf(),
        reason: format!("{e:?}"),
    })
}

/// Loads an initializer from a weights file and its config (`initializer.bpk` +
/// `initializer.json`, as written by `deblur train initializer`), without a manifest.
///
/// # Errors
/// [`Error::Checkpoint`] for missing or unreadable files.
pub fn load_initializer_files(
    weights: &Path,
    config: &Path,
    device: &Device,
) -> Result<KernelInitializer> {
    let parsed: InitializerConfig = read_config(config)?;
    parsed.validate().map_err(|reason| Error::Checkpoint {
        path: config.to_path_buf(),
        reason,
    })?;
    apply_record(parsed.init(device), weights, config)
}

/// Loads a generator from a weights file and its config (`generator.bpk` + `generator.json`, as
/// written by `deblur train kernel-prior`), without a manifest.
///
/// # Errors
/// [`Error::Checkpoint`] for missing or unreadable files; [`Error::Checkpoint`] naming the config file for a bad size.
pub fn load_generator_files(
    weights: &Path,
    config: &Path,
    device: &Device,
) -> Result<KernelGenerator> {
    let parsed: KernelGeneratorConfig = read_config(config)?;
    parsed.geometry().map_err(|e| Error::Checkpoint {
        path: config.to_path_buf(),
        reason: e.to_string(),
    })?;
    apply_record(parsed.init(device), weights, config)
}

/// Loads a blur-kernel space (F and G) from a weights file and its config (`kernel_space.bpk` +
/// `kernel_space.json`, as written by `deblur train kernel-space`), without a manifest.
///
/// # Errors
/// [`Error::Checkpoint`] for missing or unreadable files or a config out of range.
pub fn load_kernel_space_files(
    weights: &Path,
    config: &Path,
    device: &Device,
) -> Result<crate::KernelSpace> {
    let parsed: crate::KernelSpaceConfig = read_config(config)?;
    parsed.validate().map_err(|e| Error::Checkpoint {
        path: config.to_path_buf(),
        reason: e.to_string(),
    })?;
    apply_record(parsed.init(device)?, weights, config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_a_known_string() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("abc.txt");
        std::fs::write(&p, "abc").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn round_trip_and_checksum_mismatch() {
        let device = Device::default();
        let dir = tempfile::tempdir().unwrap();
        let config = KernelGeneratorConfig::new(31).with_base_channels(4);
        let generator = config.init(&device);
        generator
            .clone()
            .into_record()
            .save(dir.path().join("g.bpk"))
            .unwrap();
        std::fs::write(
            dir.path().join("g.json"),
            serde_json::to_string(&config).unwrap(),
        )
        .unwrap();
        let entry = WeightEntry {
            model: ModelFamily::KernelGenerator,
            variant: "test".into(),
            file: "g.bpk".into(),
            config: "g.json".into(),
            sha256: sha256_file(&dir.path().join("g.bpk")).unwrap(),
            provenance: serde_json::json!({}),
        };
        let manifest = Manifest {
            weights: vec![entry],
        };
        std::fs::write(
            dir.path().join("manifest.json"),
            serde_json::to_string(&manifest).unwrap(),
        )
        .unwrap();
        let loaded = load_generator(dir.path(), "test", &device).unwrap();
        let z = generator.sample_latent(2, 1, &device);
        let diff = (generator.valid().forward(z.clone()) - loaded.valid().forward(z))
            .abs()
            .max()
            .into_scalar::<f32>();
        assert!(diff < 1e-6, "{diff}");
        assert!(
            load_generator(dir.path(), "other", &device)
                .unwrap_err()
                .to_string()
                .contains("available: test")
        );
        std::fs::write(dir.path().join("g.bpk"), b"garbage").unwrap();
        assert!(
            load_generator(dir.path(), "test", &device)
                .unwrap_err()
                .to_string()
                .contains("checksum")
        );
    }
}
