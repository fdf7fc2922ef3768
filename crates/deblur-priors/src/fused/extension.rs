//! The backend extension behind [`super::conv2d_padded`], [`super::upsample_bilinear2`] and
//! [`super::batch_norm_leaky_relu`]:
//! a backend trait implemented for `Flex` (forward) and `Autodiff<Flex, _>` (forward + handwritten
//! backward), routed at run time through burn's `Dispatch`.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, unary};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::tensor::Tensor;
use burn::tensor::ops::ConvOptions;
use deblur_core::Padding;
use deblur_core::flex_ext::record;
use deblur_core::pad::{pad_planes, pad_planes_adjoint};

use super::flex_kernels::{
    batch_stats, bn_lrelu_backward, bn_lrelu_forward, channel_sums, contiguous_f32, conv2d_forward,
    conv2d_input_grad, conv2d_weight_grad, dims4, from_vec, upsample2_planes,
    upsample2_planes_adjoint,
};

/// Fused DIP operations (see the parent module).
#[backend_extension(Flex, Autodiff)]
pub trait DipOps: Backend {
    /// Convolution with bias after padding by `pad` (reflection or zeros), dilation 1, one group.
    fn dip_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        pad: usize,
        reflect: bool,
    ) -> FloatTensor<Self>;

    /// Bilinear ×2 upsampling with half-pixel centres.
    fn dip_upsample2(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// Batch-statistics batch normalisation followed by LeakyReLU.
    fn dip_bn_lrelu(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        slope: f64,
    ) -> FloatTensor<Self>;
}

/// The project's padding mode for the extension's `reflect` flag.
fn padding_mode(reflect: bool) -> Padding {
    if reflect {
        Padding::Reflect
    } else {
        Padding::Zero
    }
}

fn conv_options(stride: usize) -> ConvOptions<2> {
    ConvOptions::new([stride, stride], [0, 0], [1, 1], 1)
}

/// `[c]` values of a rank-1 flex tensor.
fn values(t: &FlexTensor) -> Vec<f32> {
    contiguous_f32(t)
        .as_slice::<f32>()
        .expect("contiguous f32")
        .to_vec()
}

/// Batch statistics and the forward output of BN → LeakyReLU on flex tensors.
fn bn_forward(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    epsilon: f64,
    slope: f64,
) -> (FlexTensor, BnState) {
    let x = contiguous_f32(x);
    let dims = dims4(&x);
    let xs = x.as_slice::<f32>().expect("contiguous f32");
    let (mean, inv_std) = batch_stats(xs, dims, epsilon);
    let (gamma, beta) = (values(gamma), values(beta));
    let out = bn_lrelu_forward(xs, dims, &gamma, &beta, &mean, &inv_std, slope as f32);
    let out = from_vec(out, &dims);
    let state = BnState {
        x,
        gamma,
        beta,
        mean,
        inv_std,
        slope: slope as f32,
    };
    (out, state)
}

/// `x` padded by `pad` on each side of every plane (the tensor itself when `pad` is 0).
fn padded(x: FlexTensor, pad: usize, reflect: bool) -> FlexTensor {
    if pad == 0 {
        return x;
    }
    let x = contiguous_f32(&x);
    let [n, c, h, w] = dims4(&x);
    let xs = x.as_slice::<f32>().expect("contiguous f32");
    let out = pad_planes(xs, [h, w], [(pad, pad); 2], padding_mode(reflect));
    from_vec(out, &[n, c, h + 2 * pad, w + 2 * pad])
}

/// Bilinear ×2 upsampling of a flex tensor.
fn upsample2(x: &FlexTensor) -> FlexTensor {
    let x = contiguous_f32(x);
    let [n, c, h, w] = dims4(&x);
    let out = upsample2_planes(x.as_slice::<f32>().expect("contiguous f32"), [n, c, h, w]);
    from_vec(out, &[n, c, 2 * h, 2 * w])
}

impl DipOps for Flex {
    fn dip_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        pad: usize,
        reflect: bool,
    ) -> FloatTensor<Self> {
        conv2d_forward(&padded(x, pad, reflect), &weight, &bias, stride)
    }

    fn dip_upsample2(x: FloatTensor<Self>) -> FloatTensor<Self> {
        upsample2(&x)
    }

    fn dip_bn_lrelu(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        slope: f64,
    ) -> FloatTensor<Self> {
        bn_forward(&x, &gamma, &beta, epsilon, slope).0
    }
}

/// What the BN backward needs: the input and the per-channel parameters and statistics.
#[derive(Clone, Debug)]
struct BnState {
    x: FlexTensor,
    gamma: Vec<f32>,
    beta: Vec<f32>,
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    slope: f32,
}

#[derive(Debug)]
struct ConvBackward;

/// The padded input, the weight, the stride, the padding and whether it reflects.
type ConvState = (FlexTensor, FlexTensor, usize, usize, bool);

impl Backward<Flex, 3> for ConvBackward {
    type State = ConvState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, weight, stride, pad, reflect) = ops.state;
        let kernel = dims4(&weight)[2];
        if let Some(node) = node_x {
            let gx = if stride == 1 && kernel > 1 {
                conv2d_input_grad(&weight, &grad)
            } else {
                Flex::conv2d_x_backward(
                    x.clone(),
                    weight.clone(),
                    grad.clone(),
                    conv_options(stride),
                )
            };
            let gx = if pad == 0 {
                gx
            } else {
                let gx = contiguous_f32(&gx);
                let [n, c, ph, pw] = dims4(&gx);
                let dims = [n, c, ph - 2 * pad, pw - 2 * pad];
                let gs = gx.as_slice::<f32>().expect("contiguous f32");
                from_vec(
                    pad_planes_adjoint(
                        gs,
                        [dims[2], dims[3]],
                        [(pad, pad); 2],
                        padding_mode(reflect),
                    ),
                    &dims,
                )
            };
            grads.register::<Flex>(node.id, gx);
        }
        if let Some(node) = node_w {
            grads.register::<Flex>(node.id, conv2d_weight_grad(&x, &grad, kernel, stride));
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, channel_sums(&grad));
        }
    }
}

#[derive(Debug)]
struct UpsampleBackward;

impl Backward<Flex, 1> for UpsampleBackward {
    type State = [usize; 4];

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dims = ops.state;
        unary::<Flex, _>(ops.parents, ops.node, grads, |grad| {
            let grad = contiguous_f32(&grad);
            let gs = grad.as_slice::<f32>().expect("contiguous f32");
            from_vec(upsample2_planes_adjoint(gs, dims), &dims)
        });
    }
}

#[derive(Debug)]
struct BnBackward;

impl Backward<Flex, 3> for BnBackward {
    type State = BnState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_g, node_b] = ops.parents;
        let grad = contiguous_f32(&grads.consume::<Flex>(&ops.node));
        let s = ops.state;
        let dims = dims4(&s.x);
        let xs = s.x.as_slice::<f32>().expect("contiguous f32");
        let gz = grad.as_slice::<f32>().expect("contiguous f32");
        let (dx, d_gamma, d_beta) = bn_lrelu_backward(
            xs, gz, dims, &s.gamma, &s.beta, &s.mean, &s.inv_std, s.slope,
        );
        let c = dims[1];
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, from_vec(dx, &dims));
        }
        if let Some(node) = node_g {
            grads.register::<Flex>(node.id, from_vec(d_gamma, &[c]));
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, from_vec(d_beta, &[c]));
        }
    }
}

impl<C: CheckpointStrategy> DipOps for Autodiff<Flex, C> {
    fn dip_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        pad: usize,
        reflect: bool,
    ) -> FloatTensor<Self> {
        let prep = ConvBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful();
        let (x, weight, bias) = (
            x.into_primitive(),
            weight.into_primitive(),
            bias.into_primitive(),
        );
        let x = padded(x, pad, reflect);
        let out = conv2d_forward(&x, &weight, &bias, stride);
        record(prep, || (x, weight, stride, pad, reflect), out)
    }

    fn dip_upsample2(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let prep = UpsampleBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful();
        let x = x.into_primitive();
        let dims = dims4(&x);
        record(prep, || dims, upsample2(&x))
    }

    fn dip_bn_lrelu(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        slope: f64,
    ) -> FloatTensor<Self> {
        let prep = BnBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful();
        let (x, gamma, beta) = (
            x.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
        );
        let (out, state) = bn_forward(&x, &gamma, &beta, epsilon, slope);
        record(prep, || state, out)
    }
}

/// [`super::conv2d_padded`] on the extension.
pub(super) fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: usize,
    pad: usize,
    reflect: bool,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as DipOps>::dip_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        stride,
        pad,
        reflect,
    ))
}

/// [`super::upsample_bilinear2`] on the extension.
pub(super) fn upsample2x(x: Tensor<4>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as DipOps>::dip_upsample2(x.into_dispatch()))
}

/// [`super::batch_norm_leaky_relu`] on the extension.
pub(super) fn bn_lrelu(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
    slope: f64,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as DipOps>::dip_bn_lrelu(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        epsilon,
        slope,
    ))
}
