//! The shipped-weights options shared by the commands that use the GLKM models, and their
//! loading (a leaf module: the command modules use it, it uses none of them).

use std::path::PathBuf;

use clap::Args;
use deblur_optim::{BlindOptions, GlkmModels};

/// Which shipped generator to use and where to find it.
#[derive(Args, Debug)]
pub(crate) struct ShippedWeights {
    /// Weights variant in the manifest.
    #[arg(long, default_value = "shake-k31-v1")]
    pub(crate) variant: String,
    /// Weights folder (default: $DEBLUR_WEIGHTS, ./weights, or beside the executable).
    #[arg(long)]
    pub(crate) weights: Option<PathBuf>,
}

impl ShippedWeights {
    /// The GLKM models of this variant: the generator (required) and its initializer (a warning
    /// and a start from z = 0 when the manifest has none).
    pub(crate) fn load_glkm(
        &self,
        device: &deblur_core::burn::tensor::Device,
    ) -> Result<GlkmModels, Box<dyn std::error::Error>> {
        let options = BlindOptions {
            method: deblur_optim::MethodKind::Glkm,
            weights: self.weights.clone(),
            variant: self.variant.clone(),
            device: device.clone(),
            ..Default::default()
        };
        load_models(&options)?.ok_or_else(|| "the GLKM models could not be loaded".into())
    }
}

/// The GLKM models when the method needs them, with a warning when the manifest holds no
/// initializer.
pub(crate) fn load_models(
    options: &BlindOptions,
) -> Result<Option<GlkmModels>, Box<dyn std::error::Error>> {
    let models = options.load_models()?;
    if models.as_ref().is_some_and(|m| m.initializer.is_none()) {
        eprintln!(
            "warning: the weights hold no kernel initializer {:?}; starting from the latent mean",
            options.variant
        );
    }
    Ok(models)
}
