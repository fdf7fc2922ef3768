//! Import of reference GKPILE checkpoints (`netG_K.pth`, `netE_K.pth`, PyTorch state dicts) into
//! our models, for users who hold the official weights. Behind the `pytorch` cargo feature.
//!
//! The key map, one rule per line (reference module names → ours):
//!
//! | GKPILE `Generator` | ours |
//! |---|---|
//! | `main1.0.0.weight` (ConvTranspose 100→256) | `g1.weight` |
//! | `main1.0.1.*` (BatchNorm, ε 0.8) | `bn1.*` |
//! | `main2.1.0.weight`, `main2.1.1.*` | `up1.weight`, `bn2.*` |
//! | `main2.2.0.weight`, `main2.2.1.*` | `up2.weight`, `bn3.*` |
//! | `main2.3.weight` | `up3.weight` |
//!
//! | GKPILE `ResNet18` (torchvision layout under `model.`) | ours |
//! |---|---|
//! | `model.conv1`, `model.bn1` | `stem`, `stem_norm` |
//! | `model.layerL.B.{conv1,bn1,conv2,bn2}` | `blocks.(2(L−1)+B).{conv1,norm1,conv2,norm2}` |
//! | `model.layerL.0.downsample.{0,1}` | `blocks.(2(L−1)).project.{0,1}` |
//! | `model.fc` | `head` |
//!
//! BatchNorm `weight`/`bias` become `gamma`/`beta` and linear weights are transposed by
//! burn-store's PyTorch adapter; `num_batches_tracked` has no counterpart and is ignored.

use std::path::Path;

use burn::module::Module;
use burn::store::{ModuleSnapshot, PytorchStore};
use burn::tensor::Device;

use crate::generator::{KernelGenerator, KernelGeneratorConfig};
use crate::initializer::{InitializerConfig, KernelInitializer};
use crate::{Error, Result};

/// What an import mapped.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportReport {
    /// Tensors loaded into the model.
    pub applied: usize,
    /// Model tensors the file did not provide (empty for a complete import).
    pub missing: Vec<String>,
    /// File tensors that matched nothing, other than BatchNorm's `num_batches_tracked`.
    pub unused: Vec<String>,
}

fn generator_rules() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"^main1\.0\.0\.weight$", "g1.weight"),
        (r"^main1\.0\.1\.(.*)$", "bn1.$1"),
        (r"^main2\.1\.0\.weight$", "up1.weight"),
        (r"^main2\.1\.1\.(.*)$", "bn2.$1"),
        (r"^main2\.2\.0\.weight$", "up2.weight"),
        (r"^main2\.2\.1\.(.*)$", "bn3.$1"),
        (r"^main2\.3\.weight$", "up3.weight"),
    ]
}

fn initializer_rules() -> Vec<(String, String)> {
    let mut rules = vec![
        (r"^model\.conv1\.(.*)$".to_string(), "stem.$1".to_string()),
        (
            r"^model\.bn1\.(.*)$".to_string(),
            "stem_norm.$1".to_string(),
        ),
        (r"^model\.fc\.(.*)$".to_string(), "head.$1".to_string()),
    ];
    for layer in 1..=4 {
        for block in 0..2 {
            let index = 2 * (layer - 1) + block;
            let from = format!(r"^model\.layer{layer}\.{block}\.");
            rules.push((
                format!("{from}conv1\\.(.*)$"),
                format!("blocks.{index}.conv1.$1"),
            ));
            rules.push((
                format!("{from}bn1\\.(.*)$"),
                format!("blocks.{index}.norm1.$1"),
            ));
            rules.push((
                format!("{from}conv2\\.(.*)$"),
                format!("blocks.{index}.conv2.$1"),
            ));
            rules.push((
                format!("{from}bn2\\.(.*)$"),
                format!("blocks.{index}.norm2.$1"),
            ));
            rules.push((
                format!("{from}downsample\\.0\\.(.*)$"),
                format!("blocks.{index}.project.0.$1"),
            ));
            rules.push((
                format!("{from}downsample\\.1\\.(.*)$"),
                format!("blocks.{index}.project.1.$1"),
            ));
        }
    }
    rules
}

fn load_into<M: Module + ModuleSnapshot>(
    model: &mut M,
    path: &Path,
    rules: &[(String, String)],
) -> Result<ImportReport> {
    let mut store = PytorchStore::from_file(path)
        .map_indices_contiguous(false)
        .allow_partial(true);
    for (from, to) in rules {
        store = store.with_key_remapping(from, to.clone());
    }
    let result = model.load_from(&mut store).map_err(|e| Error::Checkpoint {
        path: path.to_path_buf(),
        reason: format!("{e}"),
    })?;
    let report = ImportReport {
        applied: result.applied.len(),
        missing: result.missing.iter().map(|(p, _)| p.clone()).collect(),
        unused: result
            .unused
            .into_iter()
            .filter(|u| !u.ends_with("num_batches_tracked"))
            .collect(),
    };
    if !report.missing.is_empty() || !report.unused.is_empty() {
        return Err(Error::Checkpoint {
            path: path.to_path_buf(),
            reason: format!(
                "incomplete key map: model tensors missing from the file {:?}, file tensors unused {:?}",
                report.missing, report.unused
            ),
        });
    }
    Ok(report)
}

/// Loads a GKPILE `netG_K.pth` into a [`KernelGenerator`] built from `config`
/// (`KernelGeneratorConfig::new(K)` for the official weights).
///
/// # Errors
/// [`Error::Checkpoint`] if the file cannot be read or does not map completely.
pub fn import_generator(
    path: &Path,
    config: &KernelGeneratorConfig,
    device: &Device,
) -> Result<(KernelGenerator, ImportReport)> {
    config.geometry()?;
    let mut model = config.init(device);
    let rules: Vec<(String, String)> = generator_rules()
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let report = load_into(&mut model, path, &rules)?;
    Ok((model, report))
}

/// Loads a GKPILE `netE_K.pth` (torchvision ResNet-18 under `model.`) into a [`KernelInitializer`]
/// built from `config` (`InitializerConfig::new()` for the official weights).
///
/// # Errors
/// [`Error::Checkpoint`] if the file cannot be read or does not map completely.
pub fn import_initializer(
    path: &Path,
    config: &InitializerConfig,
    device: &Device,
) -> Result<(KernelInitializer, ImportReport)> {
    let mut model = config.init(device);
    let report = load_into(&mut model, path, &initializer_rules())?;
    Ok((model, report))
}
