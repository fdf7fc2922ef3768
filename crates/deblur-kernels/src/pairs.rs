//! Training pairs: image source × kernel source × blur operator × noise, as a seeded iterator of
//! batches of burn tensors. The kernels are returned too, so that kernel-space models can be
//! supervised.

use burn::tensor::{Device, Tensor, TensorData};
use deblur_core::{Boundary, Kernel, UniformBlur, add_gaussian_noise};
use ndarray::Array3;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::generator::KernelFamily;
use crate::images::ImageSource;
use crate::{Error, Result};

/// Something that draws kernels.
pub trait KernelSource: Send + Sync {
    /// Kernel side.
    fn kernel_size(&self) -> usize;
    /// Draws one kernel.
    ///
    /// # Errors
    /// Kernel validation errors.
    fn sample_kernel(&self, rng: &mut StdRng) -> Result<Kernel>;
}

impl KernelSource for KernelFamily {
    fn kernel_size(&self) -> usize {
        self.size()
    }

    fn sample_kernel(&self, rng: &mut StdRng) -> Result<Kernel> {
        Ok(Kernel::new(self.sampler().draw(rng).0)?)
    }
}

impl KernelSource for [Kernel] {
    fn kernel_size(&self) -> usize {
        self.first().map_or(0, |k| k.size()[0])
    }

    fn sample_kernel(&self, rng: &mut StdRng) -> Result<Kernel> {
        if self.is_empty() {
            return Err(Error::EmptyBank);
        }
        Ok(self[rng.random_range(0..self.len())].clone())
    }
}

impl KernelSource for Vec<Kernel> {
    fn kernel_size(&self) -> usize {
        self.as_slice().kernel_size()
    }

    fn sample_kernel(&self, rng: &mut StdRng) -> Result<Kernel> {
        self.as_slice().sample_kernel(rng)
    }
}

/// A borrowed source, so a large bank is not copied into every generator.
impl<T: KernelSource + ?Sized> KernelSource for &T {
    fn kernel_size(&self) -> usize {
        (**self).kernel_size()
    }

    fn sample_kernel(&self, rng: &mut StdRng) -> Result<Kernel> {
        (**self).sample_kernel(rng)
    }
}

/// One batch of training pairs.
#[derive(Clone, Debug)]
pub struct PairBatch {
    /// Sharp crops `[b, c, p, p]` (for a `Valid` blur, `[b, c, p + k − 1, p + k − 1]`).
    pub sharp: Tensor<4>,
    /// Blurred, noisy observations `[b, c, p, p]`.
    pub blurred: Tensor<4>,
    /// The kernels drawn, `[b, 1, k, k]`: the blur of every pair without a field.
    pub kernels: Tensor<4>,
    /// The camera-motion field that blurred each pair instead of its kernel, if any
    /// ([`PairConfig::field`]).
    pub fields: Vec<Option<deblur_core::KernelField>>,
    /// Noise standard deviation of each pair.
    pub noise_std: Vec<f32>,
}

/// Settings of a [`PairGenerator`].
#[derive(Clone, Debug, PartialEq)]
pub struct PairConfig {
    /// Pairs per batch.
    pub batch: usize,
    /// Border handling of the blur: `Same(Reflect)` as GKPILE's initializer training, or `Valid`
    /// (the sharp crop is then larger by K − 1).
    pub boundary: Boundary,
    /// Range of the Gaussian noise standard deviation, drawn uniformly per pair (0 for none).
    pub noise_std: [f32; 2],
    /// A camera response with saturation applied to both images (blur a convolution of the
    /// display values cannot express); `None` blurs the display values directly.
    pub response: Option<CameraResponse>,
    /// Non-uniform blur for a fraction of the pairs: a camera motion (shake plus in-plane
    /// rotation) drawn per pair and applied as a field of kernels (SVOLA); `None`: every pair
    /// is blurred by one kernel.
    pub field: Option<FieldPairs>,
    /// Master seed.
    pub seed: u64,
}

/// Which pairs get non-uniform blur, and how ([`crate::field::camera_motion_field`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FieldPairs {
    /// Probability that a pair's blur is a field instead of one kernel.
    pub fraction: f32,
    /// Regions of the field `[rows, columns]` over the crop.
    pub grid: [usize; 2],
    /// Largest in-plane rotation of the motion in degrees.
    pub max_rotation_deg: f64,
}

/// A camera's non-linear response with saturation. The sharp crop is read as display values,
/// linearised (`v^gamma`), scaled by an exposure gain drawn per pair, and both the sharp image
/// and its blur (taken in linear light) are clipped at 1 and mapped back (`v^(1/gamma)`): bright
/// regions saturate in both, and a blurred light streak keeps its full brightness where a
/// convolution of display values would dim it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CameraResponse {
    /// Exponent of the response (2.2 is typical of sRGB-like curves; 1 is linear).
    pub gamma: f32,
    /// Range of the exposure gain, drawn uniformly per pair (above 1 saturates highlights).
    pub gain: [f32; 2],
}

impl Default for PairConfig {
    /// 16 noise-free pairs per batch, blurred with a mirrored border (GKPILE's initializer
    /// training), seed 0.
    fn default() -> Self {
        PairConfig {
            batch: 16,
            boundary: Boundary::Same(deblur_core::Padding::Reflect),
            noise_std: [0.0, 0.0],
            response: None,
            field: None,
            seed: 0,
        }
    }
}

/// A seeded, endless iterator of [`PairBatch`]es.
pub struct PairGenerator<I: ImageSource, K: KernelSource> {
    images: I,
    kernels: K,
    config: PairConfig,
    rng: StdRng,
    device: Device,
}

impl<I: ImageSource, K: KernelSource> PairGenerator<I, K> {
    /// Combines sources; the image source's crop size is the observation size for `Same`
    /// blur and the sharp size for `Valid` blur.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] if the batch is empty, the noise range is invalid, or the kernel
    /// does not fit the crop.
    pub fn new(images: I, kernels: K, config: PairConfig, device: &Device) -> Result<Self> {
        if config.batch == 0 {
            return Err(Error::InvalidSetting {
                setting: "batch",
                rule: "must be at least 1".into(),
            });
        }
        if !(config.noise_std[0] >= 0.0 && config.noise_std[0] <= config.noise_std[1]) {
            return Err(Error::InvalidSetting {
                setting: "noise_std",
                rule: format!(
                    "the range {:?} must satisfy 0 ≤ min ≤ max",
                    config.noise_std
                ),
            });
        }
        if let Some(r) = config.response
            && !(r.gamma.is_finite()
                && r.gamma > 0.0
                && r.gain[0].is_finite()
                && r.gain[0] > 0.0
                && r.gain[0] <= r.gain[1]
                && r.gain[1].is_finite())
        {
            return Err(Error::InvalidSetting {
                setting: "response",
                rule: format!(
                    "gamma {} must be finite and above 0, and the gain range {:?} must satisfy \
                     0 < min ≤ max",
                    r.gamma, r.gain
                ),
            });
        }
        if let Some(f) = config.field
            && !((0.0..=1.0).contains(&f.fraction)
                && f.grid[0] >= 1
                && f.grid[1] >= 1
                && f.grid[0].max(f.grid[1]) <= images.crop_size() / 8
                && (0.0..=45.0).contains(&f.max_rotation_deg))
        {
            return Err(Error::InvalidSetting {
                setting: "field",
                rule: format!(
                    "fraction {} must lie in [0, 1], the grid {:?} between 1×1 and a region of \
                     8 px per side of the {} px crops, the rotation {}° within 0–45°",
                    f.fraction,
                    f.grid,
                    images.crop_size(),
                    f.max_rotation_deg
                ),
            });
        }
        if kernels.kernel_size() > images.crop_size() {
            return Err(Error::InvalidSetting {
                setting: "crop",
                rule: format!(
                    "the crop size {} must be at least the kernel size {}",
                    images.crop_size(),
                    kernels.kernel_size()
                ),
            });
        }
        let rng = StdRng::seed_from_u64(config.seed);
        Ok(PairGenerator {
            images,
            kernels,
            config,
            rng,
            device: device.clone(),
        })
    }

    /// Draws the next batch.
    ///
    /// # Errors
    /// Errors of the sources (unreadable image files).
    pub fn next_batch(&mut self) -> Result<PairBatch> {
        let b = self.config.batch;
        let mut crops: Vec<Array3<f32>> = Vec::with_capacity(b);
        let mut kernels = Vec::with_capacity(b);
        let mut noise_std = Vec::with_capacity(b);
        for _ in 0..b {
            crops.push(self.images.sample(&mut self.rng)?);
            kernels.push(self.kernels.sample_kernel(&mut self.rng)?);
            let [lo, hi] = self.config.noise_std;
            noise_std.push(if hi > lo {
                self.rng.random_range(lo..hi)
            } else {
                lo
            });
        }
        // drawn only with a field setting, so that batches without one stay as they were
        let mut fields: Vec<Option<deblur_core::KernelField>> = vec![None; b];
        if let Some(f) = self.config.field {
            let side = crops[0].dim().1;
            let motion = crate::field::CameraMotionConfig {
                shake: crate::shake::ShakeConfig::new(self.kernels.kernel_size()),
                max_rotation_deg: f.max_rotation_deg,
                max_redraws: 20,
            };
            for slot in fields.iter_mut() {
                if self.rng.random::<f32>() < f.fraction {
                    let (field, _, _) = crate::field::camera_motion_field(
                        &motion,
                        f.grid,
                        deblur_core::WindowShape::default(),
                        [side, side],
                        &mut self.rng,
                    )?;
                    *slot = Some(field);
                }
            }
        }
        let (c, p, _) = crops[0].dim();
        let data: Vec<f32> = crops.iter().flat_map(|a| a.iter().copied()).collect();
        let sharp = Tensor::<4>::from_data(TensorData::new(data, [b, c, p, p]), &self.device);
        let kernel_tensor = deblur_core::kernel::kernels_to_tensor(&kernels, &self.device)?;
        let blur = UniformBlur::new(self.config.boundary);
        let (sharp, blurred) = match self.config.response {
            None => {
                let blurred = blur_pairs(blur, &fields, sharp.clone(), kernel_tensor.clone())?;
                (sharp, blurred)
            }
            Some(r) => {
                // drawn only with a response, so that batches without one stay as they were
                let gains: Vec<f32> = (0..b)
                    .map(|_| {
                        if r.gain[1] > r.gain[0] {
                            self.rng.random_range(r.gain[0]..r.gain[1])
                        } else {
                            r.gain[0]
                        }
                    })
                    .collect();
                let gains = Tensor::<1>::from_data(TensorData::new(gains, [b]), &self.device)
                    .reshape([b, 1, 1, 1]);
                let linear = sharp.clamp(0.0, 1.0).powf_scalar(r.gamma) * gains;
                let display = |t: Tensor<4>| t.clamp(0.0, 1.0).powf_scalar(1.0 / r.gamma);
                let blurred = blur_pairs(blur, &fields, linear.clone(), kernel_tensor.clone())?;
                // a `Valid` blur shrinks the observation; the sharp crop keeps its margin
                (display(linear), display(blurred))
            }
        };
        let blurred = if noise_std.iter().any(|&s| s > 0.0) {
            let dims = blurred.dims();
            let unit =
                add_gaussian_noise(Tensor::zeros(dims, &self.device), 1.0, self.rng.random())?;
            let scale =
                Tensor::<1>::from_data(TensorData::new(noise_std.clone(), [b]), &self.device)
                    .reshape([b, 1, 1, 1]);
            blurred + unit * scale
        } else {
            blurred
        };
        Ok(PairBatch {
            sharp,
            blurred,
            kernels: kernel_tensor,
            fields,
            noise_std,
        })
    }
}

/// Blurs each pair by its kernel, or by its field where it has one (each pair blurred once).
fn blur_pairs(
    blur: UniformBlur,
    fields: &[Option<deblur_core::KernelField>],
    sharp: Tensor<4>,
    kernels: Tensor<4>,
) -> Result<Tensor<4>> {
    if fields.iter().all(Option::is_none) {
        return Ok(blur.apply(sharp, kernels)?);
    }
    fields
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let x = sharp.clone().narrow(0, i, 1);
            Ok(match field {
                None => blur.apply(x, kernels.clone().narrow(0, i, 1))?,
                Some(field) => field.blur(x, blur.boundary)?,
            })
        })
        .collect::<Result<Vec<_>>>()
        .map(|rows| Tensor::cat(rows, 0))
}

impl<I: ImageSource, K: KernelSource> Iterator for PairGenerator<I, K> {
    type Item = Result<PairBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.next_batch())
    }
}
