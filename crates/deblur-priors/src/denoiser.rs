//! A learned Gaussian denoiser conditioned on the noise level, the image prior of plug-and-play
//! restoration (the denoiser prior of IRCNN/DPIR: Zhang et al., "Learning deep CNN denoiser prior
//! for image restoration", CVPR 2017; "Plug-and-play image restoration with deep denoiser prior",
//! TPAMI 2021).
//!
//! The network follows FFDNet's layout (Zhang et al., "FFDNet: toward a fast and flexible solution
//! for CNN-based image denoising", TIP 2018), sized for a CPU: the image is folded into its four
//! 2×2 polyphase sub-images (half the resolution, four times the channels), a constant map of the
//! noise level σ is appended, `depth` 3×3 convolutions with ReLU between them (reflection padding)
//! predict the folded noise, and the unfolded prediction is subtracted from the input. Working at
//! half resolution doubles the receptive field for the same cost, which matters at the large σ a
//! plug-and-play schedule starts from.

use burn::config::Config;
use burn::module::Module;
use burn::nn::Initializer;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use crate::fused::conv2d_padded;

/// Configuration of [`Denoiser`]. Build with [`DenoiserConfig::init`].
#[derive(Config, Debug, PartialEq)]
pub struct DenoiserConfig {
    /// Image channels (1 grey, 3 colour). Default: 1.
    #[config(default = 1)]
    pub channels: usize,
    /// Feature channels of the hidden layers. Default: 48.
    #[config(default = 48)]
    pub width: usize,
    /// Convolution layers (at least 2). Default: 10.
    #[config(default = 10)]
    pub depth: usize,
}

impl Default for DenoiserConfig {
    fn default() -> Self {
        DenoiserConfig::new()
    }
}

/// The denoiser network.
#[derive(Module, Debug)]
pub struct Denoiser {
    convs: Vec<Conv2d>,
    channels: usize,
}

impl DenoiserConfig {
    /// Builds the network: the layers followed by a ReLU with He initialisation (Kaiming
    /// normal, gain √2; He et al. 2015), the output layer with burn's default (a small initial
    /// residual). burn's default for the hidden layers (Kaiming uniform with gain 1/√3) keeps a
    /// sixth of the variance a ReLU layer needs to pass its input's scale on: a network 12
    /// layers deep then starts with an output that does not depend on the image and does not
    /// leave that state (its denoised PSNR stayed equal to the noisy input's for 400 training
    /// steps; docs/benchmarks.md). A trained network's weights replace the initial ones, so this
    /// matters only for training (`grey-v1` was trained with burn's default, before this
    /// change).
    ///
    /// # Panics
    /// Never for `depth ≥ 2`, `channels ≥ 1`, `width ≥ 1`; smaller values are raised to those.
    pub fn init(&self, device: &Device) -> Denoiser {
        self.init_with(device, true)
    }

    /// [`DenoiserConfig::init`] with He initialisation of the hidden layers (`he`) or burn's
    /// default for every layer.
    pub fn init_with(&self, device: &Device, he: bool) -> Denoiser {
        let (c, w, depth) = (self.channels.max(1), self.width.max(1), self.depth.max(2));
        let hidden = |i: usize, o: usize| {
            let config = Conv2dConfig::new([i, o], [3, 3]);
            let config = if he {
                config.with_initializer(Initializer::KaimingNormal {
                    gain: std::f64::consts::SQRT_2,
                    fan_out_only: false,
                })
            } else {
                config
            };
            config.init(device)
        };
        let mut convs = vec![hidden(4 * c + 1, w)];
        convs.extend((0..depth - 2).map(|_| hidden(w, w)));
        convs.push(Conv2dConfig::new([w, 4 * c], [3, 3]).init(device));
        Denoiser { convs, channels: c }
    }
}

/// `[n, c, 2h, 2w]` → `[n, 4c, h, w]`: channel `4·ci + 2·dy + dx` holds the pixels at `(2y + dy,
/// 2x + dx)` of channel `ci`.
pub fn fold2(x: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n * c, h / 2, 2, w / 2, 2])
        .permute([0, 2, 4, 1, 3])
        .reshape([n, 4 * c, h / 2, w / 2])
}

/// The inverse of [`fold2`].
pub fn unfold2(x: Tensor<4>) -> Tensor<4> {
    let [n, c4, h, w] = x.dims();
    let c = c4 / 4;
    x.reshape([n * c, 2, 2, h, w])
        .permute([0, 3, 1, 4, 2])
        .reshape([n, c, 2 * h, 2 * w])
}

impl Denoiser {
    /// Image channels the network takes.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The layout of this network (channels, width, depth), read from its layers.
    pub fn config(&self) -> DenoiserConfig {
        DenoiserConfig {
            channels: self.channels,
            width: self.convs.first().map_or(0, |c| c.weight.dims()[0]),
            depth: self.convs.len(),
        }
    }

    /// Denoises `x` (`[n, channels, h, w]`, intensities in [0, 1]) whose Gaussian noise has
    /// standard deviation `sigma[i]` for image `i` (one value per image, or one for all). Odd
    /// sides are extended by one replicated row or column and cropped back.
    ///
    /// # Panics
    /// If the channel count differs from the network's, or `sigma` has neither 1 nor `n` values.
    pub fn forward(&self, x: Tensor<4>, sigma: &[f32]) -> Tensor<4> {
        let [n, c, h, w] = x.dims();
        assert_eq!(
            c, self.channels,
            "the denoiser takes {} channel(s)",
            self.channels
        );
        assert!(
            sigma.len() == 1 || sigma.len() == n,
            "{} noise levels for {n} images",
            sigma.len()
        );
        let device = x.device();
        let even = |x: Tensor<4>, axis: usize, len: usize| {
            if len % 2 == 1 {
                let last = x.clone().narrow(axis, len - 1, 1);
                Tensor::cat(vec![x, last], axis)
            } else {
                x
            }
        };
        let padded = even(even(x.clone(), 2, h), 3, w);
        let [_, _, he, we] = padded.dims();
        let levels: Vec<f32> = (0..n).map(|i| sigma[i.min(sigma.len() - 1)]).collect();
        let map = Tensor::<1>::from_floats(levels.as_slice(), &device)
            .reshape([n, 1, 1, 1])
            .expand([n, 1, he / 2, we / 2]);
        let mut h_ = Tensor::cat(vec![fold2(padded), map], 1);
        let last = self.convs.len() - 1;
        for (i, conv) in self.convs.iter().enumerate() {
            let [cout, ..] = conv.weight.dims();
            let bias = match &conv.bias {
                Some(b) => b.val(),
                None => Tensor::zeros([cout], &device),
            };
            h_ = conv2d_padded(h_, conv.weight.val(), bias, 1, 1, true, true);
            if i < last {
                h_ = relu(h_);
            }
        }
        let noise = unfold2(h_).narrow(2, 0, h).narrow(3, 0, w);
        x - noise
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn fold_places_the_polyphase_components_and_unfold_inverts_it() {
        let device = Device::default();
        // 1 image, 1 channel, 2×4: values 0..8 row-major
        let x = Tensor::<4>::from_data(
            TensorData::new((0..8).map(|v| v as f32).collect::<Vec<_>>(), [1, 1, 2, 4]),
            &device,
        );
        let f: Vec<f32> = fold2(x.clone())
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .unwrap();
        // channel (dy, dx) = (0,0): pixels (0,0),(0,2) = 0, 2; (0,1): 1, 3; (1,0): 4, 6; (1,1): 5, 7
        assert_eq!(f, vec![0.0, 2.0, 1.0, 3.0, 4.0, 6.0, 5.0, 7.0]);
        let back: Vec<f32> = unfold2(fold2(x))
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .unwrap();
        assert_eq!(back, (0..8).map(|v| v as f32).collect::<Vec<_>>());
    }

    #[test]
    fn odd_sizes_come_back_with_their_size() {
        let device = Device::default();
        let net = DenoiserConfig::new()
            .with_width(4)
            .with_depth(3)
            .init(&device);
        let x = Tensor::<4>::ones([2, 1, 7, 9], &device);
        assert_eq!(net.forward(x, &[0.1, 0.2]).dims(), [2, 1, 7, 9]);
    }

    /// Through a 12-layer network at initialisation, the last hidden layer's spatial variation
    /// keeps the first's scale under He initialisation and all but vanishes under burn's default
    /// (what is left is the biases' constant, which carries no image): each
    /// ReLU layer keeps a sixth of the variance He's keeps, so ten layers shrink the RMS by
    /// about √(6¹⁰) ≈ 7800 relative to He (a ratio, so it holds whatever the weights drawn).
    /// Measured (three draws): last / first 0.42–0.49 under He, 4.6e-5 to 1.6e-4 under burn's default.
    #[test]
    fn he_initialisation_keeps_a_deep_networks_activations_alive() {
        let device = Device::default();
        let n = 32 * 32;
        let pattern: Vec<f32> = (0..n)
            .map(|i| 0.5 + 0.4 * ((i % 32) as f32 * 0.7).sin() * ((i / 32) as f32 * 0.3).cos())
            .collect();
        // the spatial variation (each channel's standard deviation over the pixels, then the
        // root mean square over channels): the part of the activations that depends on the image
        let rms = |t: &Tensor<4>| {
            let [_, c, h, w] = t.dims();
            let v: Vec<f32> = t
                .clone()
                .into_data()
                .convert::<f32>()
                .try_into_vec()
                .unwrap();
            let var = v
                .chunks(h * w)
                .map(|p| {
                    let m = p.iter().sum::<f32>() / p.len() as f32;
                    p.iter().map(|a| (a - m).powi(2)).sum::<f32>() / p.len() as f32
                })
                .sum::<f32>();
            (var / c as f32).sqrt()
        };
        let ratio = |he: bool| {
            let net = DenoiserConfig::new()
                .with_width(32)
                .with_depth(12)
                .init_with(&device, he);
            let x =
                Tensor::<4>::from_data(TensorData::new(pattern.clone(), [1, 1, 32, 32]), &device);
            let map = Tensor::<4>::full([1, 1, 16, 16], 0.1, &device);
            let mut h = Tensor::cat(vec![fold2(x), map], 1);
            let mut first = None;
            for conv in &net.convs[..net.convs.len() - 1] {
                let bias = conv.bias.as_ref().map(|b| b.val()).unwrap();
                h = relu(conv2d_padded(h, conv.weight.val(), bias, 1, 1, true, true));
                first.get_or_insert_with(|| rms(&h));
            }
            rms(&h) / first.unwrap()
        };
        for draw in 0..3 {
            let (he, burn) = (ratio(true), ratio(false));
            eprintln!(
                "draw {draw}: last / first hidden RMS, He {he:.3}, burn's default {burn:.2e}"
            );
            assert!(he > 0.2 && burn < 0.01, "He {he:.3}, burn {burn:.2e}");
        }
    }
}
