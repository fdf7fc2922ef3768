//! Backend extensions on `flex` (burn's CPU backend): buffers shared with other crates' fused
//! operations, and the FFT blur on host transforms of any size ([`crate::host_fft`]) with a
//! handwritten backward pass, routed at run time through burn's `Dispatch`.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::tensor::{Tensor, TensorData};

use std::sync::Arc;

use crate::host_fft::{PlaneCorrelation, Relation};
use crate::pad::{PadWidths, Padding, add_planes_at, crop_planes, pad_planes, pad_planes_adjoint};
use crate::svola_host::{SvolaGeometry, SvolaPass};

/// The `[d0, d1, d2, d3]` dimensions of a rank-4 flex tensor.
pub fn dims4(t: &FlexTensor) -> [usize; 4] {
    let s = t.layout().shape();
    [s[0], s[1], s[2], s[3]]
}

/// The tensor's values in row-major order (copied only when the tensor is a strided view).
pub fn contiguous_f32(t: &FlexTensor) -> FlexTensor {
    if t.as_slice::<f32>().is_some() {
        t.clone()
    } else {
        t.to_contiguous()
    }
}

/// A contiguous flex tensor from values and a shape.
pub fn from_vec(values: Vec<f32>, shape: &[usize]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.to_vec()))
}

/// Records an extension operation in the autodiff graph: with its backward state when any input
/// is tracked (the state is built only then), else as a constant.
pub fn record<O, C, const N: usize>(
    prep: OpsKind<O, Flex, O::State, C, N>,
    state: impl FnOnce() -> O::State,
    out: FlexTensor,
) -> FloatTensor<Autodiff<Flex, C>>
where
    O: Backward<Flex, N>,
    C: CheckpointStrategy,
{
    match prep {
        OpsKind::Tracked(prep) => prep.finish(state(), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

/// Whether `t` lives on `flex` (plain or autodiff), where the extensions run.
pub fn on_flex<const D: usize>(t: &Tensor<D>) -> bool {
    crate::device::is_flex(&t.device())
}

/// The FFT blur on host transforms, and boundary extension on host planes.
#[backend_extension(Flex, Autodiff)]
pub trait FftBlurOps: Backend {
    /// [`crate::pad::pad`] (`adjoint` false) or [`crate::pad::pad_adjoint`] (`adjoint` true) of
    /// `x` `[n, c, h, w]`, `pads` as `[top, bottom, left, right]`.
    fn host_pad(
        x: FloatTensor<Self>,
        pads: [usize; 4],
        mode: Padding,
        adjoint: bool,
    ) -> FloatTensor<Self>;

    /// `total` `[n, c, H, W]` with `piece` `[n, c, h, w]` added at rows `at[0]..`, columns
    /// `at[1]..` (in place when `total` is not shared): overlap-add without a full-size copy.
    fn add_at(
        total: FloatTensor<Self>,
        piece: FloatTensor<Self>,
        at: [usize; 2],
    ) -> FloatTensor<Self>;

    /// `x` `[n, c, h, w]` related to `kernel` `[kn, kc, kh, kw]`: the valid cross-correlation,
    /// or the full convolution that is its adjoint.
    fn fft_relate(
        x: FloatTensor<Self>,
        kernel: FloatTensor<Self>,
        relation: Relation,
    ) -> FloatTensor<Self>;

    /// The SVOLA blur of `x` `[n, c, input]` by `kernels` `[R, kc, kh, kw]` over `geometry`
    /// ([`crate::svola_host`]): `[n, c, output]`.
    fn svola_relate(
        x: FloatTensor<Self>,
        kernels: FloatTensor<Self>,
        geometry: Arc<SvolaGeometry>,
    ) -> FloatTensor<Self>;
}

/// Runs the SVOLA forward pass on flex tensors: the pass (for the backward) and the output.
fn svola_forward(
    x: &FlexTensor,
    kernels: &FlexTensor,
    geometry: &SvolaGeometry,
) -> (SvolaPass, FlexTensor) {
    let (x, kernels) = (contiguous_f32(x), contiguous_f32(kernels));
    let [n, c, ..] = dims4(&x);
    let [_, kc, ..] = dims4(&kernels);
    let (pass, out) = geometry.forward(
        x.as_slice::<f32>().expect("contiguous f32"),
        [n, c],
        kernels.as_slice::<f32>().expect("contiguous f32"),
        kc,
    );
    let [oh, ow] = geometry.output;
    (pass, from_vec(out, &[n, c, oh, ow]))
}

/// Transforms both inputs and returns the plan (which holds their spectra) and the output.
fn relate(
    x: &FlexTensor,
    kernel: &FlexTensor,
    relation: Relation,
) -> (PlaneCorrelation, FlexTensor) {
    let (x, kernel) = (contiguous_f32(x), contiguous_f32(kernel));
    let plan = PlaneCorrelation::new(
        relation,
        x.as_slice::<f32>().expect("contiguous f32"),
        dims4(&x),
        kernel.as_slice::<f32>().expect("contiguous f32"),
        dims4(&kernel),
    );
    let out = from_vec(plan.forward(), &plan.output_dims());
    (plan, out)
}

fn widths(pads: [usize; 4]) -> PadWidths {
    [(pads[0], pads[1]), (pads[2], pads[3])]
}

/// Padding (or its adjoint) of a flex tensor on the host.
fn host_pad(x: &FlexTensor, pads: [usize; 4], mode: Padding, adjoint: bool) -> FlexTensor {
    let x = contiguous_f32(x);
    let [n, c, h, w] = dims4(&x);
    let xs = x.as_slice::<f32>().expect("contiguous f32");
    let (dh, dw) = (pads[0] + pads[1], pads[2] + pads[3]);
    if adjoint {
        let size = [h - dh, w - dw];
        from_vec(
            pad_planes_adjoint(xs, size, widths(pads), mode),
            &[n, c, size[0], size[1]],
        )
    } else {
        from_vec(
            pad_planes(xs, [h, w], widths(pads), mode),
            &[n, c, h + dh, w + dw],
        )
    }
}

/// `piece` added into `total` at `at` (`total` copied only when shared).
fn add_in_place(total: FlexTensor, piece: &FlexTensor, at: [usize; 2]) -> FlexTensor {
    let mut total = if total.as_slice::<f32>().is_some() {
        total
    } else {
        total.to_contiguous()
    };
    let piece = contiguous_f32(piece);
    let [n, c, th, tw] = dims4(&total);
    let [pn, pc, ph, pw] = dims4(&piece);
    assert!(
        pn == n && pc == c,
        "piece {:?} against {:?}",
        [pn, pc, ph, pw],
        [n, c, th, tw]
    );
    add_planes_at(
        total.storage_mut::<f32>(),
        [th, tw],
        piece.as_slice::<f32>().expect("contiguous f32"),
        [ph, pw],
        at,
    );
    total
}

/// The `[h, w]` region of `t` at `at`, copied.
fn region(t: &FlexTensor, at: [usize; 2], size: [usize; 2]) -> FlexTensor {
    let t = contiguous_f32(t);
    let [n, c, th, tw] = dims4(&t);
    let src = t.as_slice::<f32>().expect("contiguous f32");
    from_vec(
        crop_planes(src, [th, tw], at, size),
        &[n, c, size[0], size[1]],
    )
}

impl FftBlurOps for Flex {
    fn add_at(
        total: FloatTensor<Self>,
        piece: FloatTensor<Self>,
        at: [usize; 2],
    ) -> FloatTensor<Self> {
        add_in_place(total, &piece, at)
    }

    fn host_pad(
        x: FloatTensor<Self>,
        pads: [usize; 4],
        mode: Padding,
        adjoint: bool,
    ) -> FloatTensor<Self> {
        host_pad(&x, pads, mode, adjoint)
    }

    fn fft_relate(
        x: FloatTensor<Self>,
        kernel: FloatTensor<Self>,
        relation: Relation,
    ) -> FloatTensor<Self> {
        relate(&x, &kernel, relation).1
    }

    fn svola_relate(
        x: FloatTensor<Self>,
        kernels: FloatTensor<Self>,
        geometry: Arc<SvolaGeometry>,
    ) -> FloatTensor<Self> {
        svola_forward(&x, &kernels, &geometry).1
    }
}

#[derive(Debug)]
struct SvolaBackward;

/// The forward pass, the geometry, and the input and kernel shapes.
type SvolaState = (Arc<SvolaPass>, Arc<SvolaGeometry>, [usize; 4], [usize; 4]);

impl Backward<Flex, 2> for SvolaBackward {
    type State = SvolaState;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_k] = ops.parents;
        let grad = contiguous_f32(&grads.consume::<Flex>(&ops.node));
        let (pass, geometry, x_dims, k_dims) = ops.state;
        let (dx, dk) = geometry.backward(
            &pass,
            grad.as_slice::<f32>().expect("contiguous f32"),
            k_dims[0],
            [node_x.is_some(), node_k.is_some()],
        );
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<Flex>(node.id, from_vec(dx, &x_dims));
        }
        if let (Some(node), Some(dk)) = (node_k, dk) {
            grads.register::<Flex>(node.id, from_vec(dk, &k_dims));
        }
    }
}

#[derive(Debug)]
struct RelateBackward;

/// The plan with both inputs' spectra, and the input shapes.
type RelateState = (Arc<PlaneCorrelation>, [usize; 4], [usize; 4]);

impl Backward<Flex, 2> for RelateBackward {
    type State = RelateState;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_k] = ops.parents;
        let grad = contiguous_f32(&grads.consume::<Flex>(&ops.node));
        let (plan, x_dims, k_dims) = ops.state;
        let (dx, dk) = plan.backward(
            grad.as_slice::<f32>().expect("contiguous f32"),
            [node_x.is_some(), node_k.is_some()],
        );
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<Flex>(node.id, from_vec(dx, &x_dims));
        }
        if let (Some(node), Some(dk)) = (node_k, dk) {
            grads.register::<Flex>(node.id, from_vec(dk, &k_dims));
        }
    }
}

#[derive(Debug)]
struct PadBackward;

impl Backward<Flex, 1> for PadBackward {
    /// The pads, the mode and whether the forward was the adjoint.
    type State = ([usize; 4], Padding, bool);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (pads, mode, adjoint) = ops.state;
        // padding and its adjoint are each other's transpose
        unary::<Flex, _>(ops.parents, ops.node, grads, |grad| {
            host_pad(&grad, pads, mode, !adjoint)
        });
    }
}

#[derive(Debug)]
struct AddAtBackward;

impl Backward<Flex, 2> for AddAtBackward {
    /// Where the piece went and its size.
    type State = ([usize; 2], [usize; 2]);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_total, node_piece] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (at, size) = ops.state;
        if let Some(node) = node_piece {
            grads.register::<Flex>(node.id, region(&grad, at, size));
        }
        if let Some(node) = node_total {
            grads.register::<Flex>(node.id, grad);
        }
    }
}

impl<C: CheckpointStrategy> FftBlurOps for Autodiff<Flex, C> {
    fn add_at(
        total: FloatTensor<Self>,
        piece: FloatTensor<Self>,
        at: [usize; 2],
    ) -> FloatTensor<Self> {
        let prep = AddAtBackward
            .prepare::<C>([total.node(), piece.node()])
            .compute_bound()
            .stateful();
        let (total, piece) = (total.into_primitive(), piece.into_primitive());
        let [_, _, h, w] = dims4(&piece);
        record(prep, || (at, [h, w]), add_in_place(total, &piece, at))
    }

    fn host_pad(
        x: FloatTensor<Self>,
        pads: [usize; 4],
        mode: Padding,
        adjoint: bool,
    ) -> FloatTensor<Self> {
        let prep = PadBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful();
        let out = host_pad(&x.into_primitive(), pads, mode, adjoint);
        record(prep, || (pads, mode, adjoint), out)
    }

    fn fft_relate(
        x: FloatTensor<Self>,
        kernel: FloatTensor<Self>,
        relation: Relation,
    ) -> FloatTensor<Self> {
        let prep = RelateBackward
            .prepare::<C>([x.node(), kernel.node()])
            .compute_bound()
            .stateful();
        let (x, kernel) = (x.into_primitive(), kernel.into_primitive());
        let (x_dims, k_dims) = (dims4(&x), dims4(&kernel));
        let (plan, out) = relate(&x, &kernel, relation);
        record(prep, || (Arc::new(plan), x_dims, k_dims), out)
    }

    fn svola_relate(
        x: FloatTensor<Self>,
        kernels: FloatTensor<Self>,
        geometry: Arc<SvolaGeometry>,
    ) -> FloatTensor<Self> {
        let prep = SvolaBackward
            .prepare::<C>([x.node(), kernels.node()])
            .compute_bound()
            .stateful();
        let (x, kernels) = (x.into_primitive(), kernels.into_primitive());
        let (x_dims, k_dims) = (dims4(&x), dims4(&kernels));
        let (pass, out) = svola_forward(&x, &kernels, &geometry);
        record(prep, || (Arc::new(pass), geometry, x_dims, k_dims), out)
    }
}

/// The SVOLA blur of flex tensors over `geometry` ([`crate::svola_host`]). Callers check that
/// `x` is on flex and that the shapes match the geometry.
pub(crate) fn svola_relate(
    x: Tensor<4>,
    kernels: Tensor<4>,
    geometry: Arc<SvolaGeometry>,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as FftBlurOps>::svola_relate(
        x.into_dispatch(),
        kernels.into_dispatch(),
        geometry,
    ))
}

/// Valid cross-correlation (or its adjoint full convolution, by `relation`) of flex tensors
/// through host FFTs of 5-smooth sizes. Callers check that `x` is on flex and the shapes fit.
pub(crate) fn fft_relate(x: Tensor<4>, kernel: Tensor<4>, relation: Relation) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as FftBlurOps>::fft_relate(
        x.into_dispatch(),
        kernel.into_dispatch(),
        relation,
    ))
}

/// [`crate::pad::pad`] (or, with `adjoint`, [`crate::pad::pad_adjoint`]) of a flex tensor on the
/// host. Callers check that `x` is on flex and not empty.
pub(crate) fn pad(x: Tensor<4>, pads: PadWidths, mode: Padding, adjoint: bool) -> Tensor<4> {
    let pads = [pads[0].0, pads[0].1, pads[1].0, pads[1].1];
    Tensor::from_dispatch(<Dispatch as FftBlurOps>::host_pad(
        x.into_dispatch(),
        pads,
        mode,
        adjoint,
    ))
}

/// `total + piece` placed at `at` (rows, columns) on flex, in place when `total` is not shared.
/// Callers check that `total` is on flex and that the piece fits.
pub(crate) fn add_at(total: Tensor<4>, piece: Tensor<4>, at: [usize; 2]) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as FftBlurOps>::add_at(
        total.into_dispatch(),
        piece.into_dispatch(),
        at,
    ))
}
