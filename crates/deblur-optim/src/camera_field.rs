//! A kernel field with few unknowns: the blur of one camera motion (translation plus in-plane
//! rotation, the model of [`deblur_kernels::field::camera_motion_field`] after Whyte et al.)
//! seen at every region of the SVOLA grid.
//!
//! During the exposure the camera passes through translations `t` with the weights of a base
//! kernel (the global estimate: tap `u` of the base is the time spent at `t = u`) and turns by an
//! angle `θ(u)` at each of them. A scene point at `p` (relative to the image centre) then moves
//! by `R(θ) p − p + u`, so region `r` with centre `p_r` sees the base's taps displaced to
//!
//! ```text
//! u + ((cos θ(u) − 1) p_r,x − sin θ(u) p_r,y,  sin θ(u) p_r,x + (cos θ(u) − 1) p_r,y)
//! ```
//!
//! and its kernel is those taps splatted bilinearly onto the canvas and normalised. `θ(u)` is a
//! bilinear interpolation of a `g × g` grid of angles over the kernel canvas (a path that turns
//! smoothly while it translates), so the whole field has `g²` unknowns (plus, optionally, the
//! base's taps, shared by every region) against `R · K²` for free region kernels — the twelfth
//! sitting's joint k-step found natural images at 1 % noise too poor in edges per region for
//! nine free kernels (docs/benchmarks.md, "Non-uniform blur").
//!
//! The angles are held in pixels of displacement at the farthest region centre (`θ · ρ`), so one
//! learning rate suits every image size.

use burn::module::{Module, Param};
use burn::optim::ModuleOptimizer;
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Gradients, Tensor, TensorData};
use deblur_core::Kernel;
use deblur_kernels::field::region_centres;

use crate::models::{KernelModel, adam, step_module};
use crate::{Error, Result};

/// Settings of [`CameraFieldKernel`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CameraFieldConfig {
    /// Control points per side of the angle's grid over the kernel canvas (1: one angle for the
    /// whole exposure). Default: 5 (screening mosaics: 22.33 dB against 22.31 for 3 and 22.27
    /// for the uniform kernel, docs/benchmarks.md).
    pub angle_grid: usize,
    /// Learning rate of the angles, in pixels at the farthest region centre per step (Adam).
    /// Default: 0.05.
    pub angle_lr: f64,
    /// Learning rate of the base's log-weights (0: the base stays the global kernel).
    /// Default: 0 (0.02 lost 0.06 dB on the screening mosaics).
    pub base_lr: f64,
    /// In [`crate::deblur_nonuniform`] with several rounds: the last round fits SelfDeblur's free
    /// region kernels (the MLP field) started from the camera field, the rounds before it the
    /// camera field. Default: true (screening mosaics, 3 rounds: 22.51 dB against 22.40 with
    /// the camera field throughout and 22.45 for one round of the MLP field alone).
    pub mlp_last: bool,
}

impl Default for CameraFieldConfig {
    fn default() -> Self {
        CameraFieldConfig {
            angle_grid: 5,
            angle_lr: 0.05,
            base_lr: 0.0,
            mlp_last: true,
        }
    }
}

impl CameraFieldConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] naming the setting.
    pub fn validate(&self) -> Result<()> {
        if !(1..=64).contains(&self.angle_grid) {
            return Err(Error::setting(
                "camera angle grid",
                format!("{} control points per side: use 1 to 64", self.angle_grid),
            ));
        }
        if !(self.angle_lr.is_finite() && self.angle_lr > 0.0 && self.angle_lr <= MAX_ANGLE_LR) {
            return Err(Error::setting(
                "camera angle learning rate",
                format!(
                    "{} px per step: use a value above 0 and at most {MAX_ANGLE_LR} (a step \
                     larger than the kernel moves taps off its canvas)",
                    self.angle_lr
                ),
            ));
        }
        if !(self.base_lr.is_finite() && self.base_lr >= 0.0 && self.base_lr <= MAX_BASE_LR) {
            return Err(Error::setting(
                "camera base learning rate",
                format!(
                    "{}: use a value from 0 to {MAX_BASE_LR} (log-weight per step)",
                    self.base_lr
                ),
            ));
        }
        Ok(())
    }
}

/// The largest angle learning rate [`CameraFieldConfig::validate`] accepts, in pixels at the
/// farthest region centre per step.
pub const MAX_ANGLE_LR: f64 = 10.0;

/// The largest base learning rate [`CameraFieldConfig::validate`] accepts (log-weight per step).
pub const MAX_BASE_LR: f64 = 10.0;

/// The angles, `[g², 1]`, in pixels at the farthest region centre.
#[derive(Module, Debug)]
pub struct AngleParams {
    /// `θ · ρ` at the grid's control points, row by row.
    pub angles: Param<Tensor<2>>,
}

/// The base kernel's log-weights, `[K², 1]` (softmax gives the weights).
#[derive(Module, Debug)]
pub struct BaseParams {
    /// Log-weights of the taps, row by row.
    pub logits: Param<Tensor<2>>,
}

/// The field of one camera motion on a SVOLA grid (module docs).
pub struct CameraFieldKernel {
    angles: AngleParams,
    base: BaseParams,
    angle_optim: ModuleOptimizer,
    base_optim: ModuleOptimizer,
    config: CameraFieldConfig,
    /// `[K², g²]` bilinear weights from the control points to the taps.
    interp: Tensor<2>,
    /// `[K², 1]` the base kernel's taps (used as they are while the base is not learned).
    base_weights: Tensor<2>,
    /// `[1, K²]` column and row offsets of the taps from the canvas centre.
    tap_x: Tensor<2>,
    tap_y: Tensor<2>,
    /// `[R, 1]` region centres relative to the image centre, in pixels.
    centre_x: Tensor<2>,
    centre_y: Tensor<2>,
    /// `[1, 1, kh]` and `[1, 1, kw]` canvas offsets from its centre.
    canvas_y: Tensor<3>,
    canvas_x: Tensor<3>,
    /// `ρ`, the farthest region centre's distance from the image centre (1 for one region).
    radius: f64,
    regions: usize,
    size: [usize; 2],
    last: Option<Tensor<4>>,
}

/// `[kh·kw, g²]`: the bilinear interpolation of a `g × g` grid spanning a `kh × kw` canvas at its
/// taps.
fn interpolation([kh, kw]: [usize; 2], grid: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; kh * kw * grid * grid];
    let coordinate = |i: usize, size: usize| -> (usize, usize, f64) {
        if grid == 1 || size == 1 {
            return (0, 0, 0.0);
        }
        let s = i as f64 * (grid - 1) as f64 / (size - 1) as f64;
        let lo = (s.floor() as usize).min(grid - 2);
        (lo, lo + 1, s - lo as f64)
    };
    for i in 0..kh {
        let (r0, r1, fr) = coordinate(i, kh);
        for j in 0..kw {
            let (c0, c1, fc) = coordinate(j, kw);
            let row = &mut out[(i * kw + j) * grid * grid..][..grid * grid];
            row[r0 * grid + c0] += ((1.0 - fr) * (1.0 - fc)) as f32;
            row[r0 * grid + c1] += ((1.0 - fr) * fc) as f32;
            row[r1 * grid + c0] += (fr * (1.0 - fc)) as f32;
            row[r1 * grid + c1] += (fr * fc) as f32;
        }
    }
    out
}

impl CameraFieldKernel {
    /// The field of a camera that translates along `base` without turning,
    /// on a `grid` of regions over a latent image of `latent` `[h, w]`, on the autodiff
    /// `device` (made an autodiff device if it is not one): every region starts with `base`.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for bad settings.
    pub fn new(
        base: &Kernel,
        grid: [usize; 2],
        latent: [usize; 2],
        config: CameraFieldConfig,
        device: &Device,
    ) -> Result<Self> {
        config.validate()?;
        // the parameters need autodiff; on a device without it the model would panic
        let device = &device.clone().autodiff();
        let [kh, kw] = base.size();
        let g = config.angle_grid;
        // the kernels' centre convention: tap (K − 1) / 2, rounded down
        let (half_y, half_x) = (((kh - 1) / 2) as f32, ((kw - 1) / 2) as f32);
        let taps = kh * kw;
        let ys = region_centres(grid[0], latent[0]);
        let xs = region_centres(grid[1], latent[1]);
        let (mut cx, mut cy) = (Vec::new(), Vec::new());
        for &y in &ys {
            for &x in &xs {
                cy.push(y as f32);
                cx.push(x as f32);
            }
        }
        let regions = cx.len();
        let radius = cx
            .iter()
            .zip(&cy)
            .map(|(&x, &y)| f64::from(x).hypot(f64::from(y)))
            .fold(0.0, f64::max)
            .max(1.0);
        let tap_x: Vec<f32> = (0..taps).map(|t| (t % kw) as f32 - half_x).collect();
        let tap_y: Vec<f32> = (0..taps).map(|t| (t / kw) as f32 - half_y).collect();
        let canvas = |len: usize, half: f32| {
            let values: Vec<f32> = (0..len).map(|v| v as f32 - half).collect();
            Tensor::<3>::from_data(TensorData::new(values, [1, 1, len]), device)
        };
        let peak = base
            .values()
            .iter()
            .copied()
            .fold(0.0f32, f32::max)
            .max(1e-12);
        let logits: Vec<f32> = base
            .values()
            .iter()
            .map(|&v| (v.max(0.0) + 1e-4 * peak).ln())
            .collect();
        let tensor2 = |values: Vec<f32>, shape: [usize; 2]| {
            Tensor::<2>::from_data(TensorData::new(values, shape), device)
        };
        Ok(CameraFieldKernel {
            angles: AngleParams {
                angles: Param::from_tensor(Tensor::<2>::zeros([g * g, 1], device).require_grad()),
            },
            base: BaseParams {
                logits: Param::from_tensor(tensor2(logits, [taps, 1]).require_grad()),
            },
            angle_optim: adam(),
            base_optim: adam(),
            config,
            interp: tensor2(interpolation([kh, kw], g), [taps, g * g]),
            base_weights: tensor2(
                base.values().iter().map(|v| v.max(0.0)).collect(),
                [taps, 1],
            ),
            tap_x: tensor2(tap_x, [1, taps]),
            tap_y: tensor2(tap_y, [1, taps]),
            centre_x: tensor2(cx, [regions, 1]),
            centre_y: tensor2(cy, [regions, 1]),
            canvas_y: canvas(kh, half_y),
            canvas_x: canvas(kw, half_x),
            radius,
            regions,
            size: [kh, kw],
            last: None,
        })
    }

    /// The same field with the angles at the grid's control points set to `angles` radians (row
    /// by row, `g²` values): a known motion, or a start other than no turn.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for a count other than `g²` or a value that is not finite.
    pub fn with_angles(mut self, angles: &[f64]) -> Result<Self> {
        let g = self.config.angle_grid;
        if angles.len() != g * g || angles.iter().any(|a| !a.is_finite()) {
            return Err(Error::setting(
                "camera angles",
                format!("{} values: give {} finite angles", angles.len(), g * g),
            ));
        }
        let device = self.interp.device();
        let values: Vec<f32> = angles.iter().map(|a| (a * self.radius) as f32).collect();
        self.angles.angles = Param::from_tensor(
            Tensor::<2>::from_data(TensorData::new(values, [g * g, 1]), &device).require_grad(),
        );
        self.last = None;
        Ok(self)
    }

    /// The angles at the grid's control points in radians, row by row (`g²` values): what
    /// [`CameraFieldKernel::with_angles`] takes.
    pub fn control_angles(&self) -> Vec<f64> {
        self.angles
            .angles
            .val()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap_or_default()
            .into_iter()
            .map(|a| f64::from(a) / self.radius)
            .collect()
    }

    /// The angle at every tap, in radians, `[1, K²]`, detached.
    pub fn angles(&self) -> Tensor<2> {
        self.tap_angles().detach()
    }

    fn tap_angles(&self) -> Tensor<2> {
        let taps = self.size[0] * self.size[1];
        self.interp
            .clone()
            .matmul(self.angles.angles.val())
            .reshape([1, taps])
            .div_scalar(self.radius)
    }

    fn field(&self) -> Tensor<4> {
        let ([kh, kw], r) = (self.size, self.regions);
        let taps = kh * kw;
        let theta = self.tap_angles();
        let (cos1, sin) = (theta.clone().cos().sub_scalar(1.0), theta.sin());
        // [R, K²] displaced tap positions
        let x = self.tap_x.clone() + cos1.clone() * self.centre_x.clone()
            - sin.clone() * self.centre_y.clone();
        let y = self.tap_y.clone() + sin * self.centre_x.clone() + cos1 * self.centre_y.clone();
        let tent = |pos: Tensor<2>, canvas: &Tensor<3>| -> Tensor<3> {
            // [R, K², K]: the bilinear splat weights along one axis, written through the
            // fractional part so that a tap on a whole pixel (every tap at the start) still has
            // a gradient (the tent's |·| and ReLU have none there)
            let floor = pos.clone().detach().floor();
            let frac = (pos - floor.clone()).unsqueeze_dim::<3>(2);
            let offset = canvas.clone() - floor.unsqueeze_dim::<3>(2);
            let at = offset.clone().equal_elem(0.0).float();
            let next = offset.equal_elem(1.0).float();
            at * (frac.clone().neg() + 1.0) + next * frac
        };
        let weights = if self.config.base_lr > 0.0 {
            softmax(self.base.logits.val(), 0)
        } else {
            self.base_weights.clone()
        }
        .reshape([1, taps, 1]);
        let rows = tent(y, &self.canvas_y) * weights; // [R, taps, kh]
        let kernels = rows.swap_dims(1, 2).matmul(tent(x, &self.canvas_x)); // [R, kh, kw]
        let mass = kernels.clone().sum_dim(2).sum_dim(1).clamp_min(1e-12);
        (kernels / mass).reshape([r, 1, kh, kw])
    }
}

impl KernelModel for CameraFieldKernel {
    fn forward(&mut self, _step: usize) -> Tensor<4> {
        let field = self.field();
        self.last = Some(field.clone().detach());
        field
    }

    /// The angles and the base move with their own rates ([`CameraFieldConfig`]); the solver's
    /// `lr` (a region kernel's rate) does not apply to them.
    fn update(&mut self, grads: &mut Gradients, _lr: f64) {
        self.angles = step_module(
            &mut self.angle_optim,
            &self.angles,
            grads,
            self.config.angle_lr,
        );
        if self.config.base_lr > 0.0 {
            self.base = step_module(&mut self.base_optim, &self.base, grads, self.config.base_lr);
        }
    }

    fn kernel(&self) -> Tensor<4> {
        self.last.clone().unwrap_or_else(|| self.field().detach())
    }

    fn size(&self) -> [usize; 2] {
        self.size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_rows_sum_to_one_and_hit_the_control_points() {
        let w = interpolation([5, 5], 3);
        for t in 0..25 {
            let s: f32 = w[t * 9..][..9].iter().sum();
            assert!((s - 1.0).abs() < 1e-6, "tap {t}: {s}");
        }
        // tap (2, 4) = the control point (1, 2); tap (1, 1) = halfway among (0..1, 0..1)
        assert_eq!(w[(2 * 5 + 4) * 9 + 5], 1.0);
        assert_eq!(&w[6 * 9..][..5], &[0.25, 0.25, 0.0, 0.25, 0.25]);
    }

    fn host(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn without_a_turn_every_region_has_the_base_kernel() {
        let device = Device::default();
        let base = Kernel::new(ndarray::Array2::from_shape_fn((5, 5), |(i, j)| {
            ((i * 5 + j) % 7) as f32
        }))
        .unwrap();
        let mut field = CameraFieldKernel::new(
            &base,
            [3, 3],
            [60, 80],
            CameraFieldConfig::default(),
            &device,
        )
        .unwrap();
        let kernels = host(field.forward(0));
        let expected: Vec<f32> = base.values().iter().copied().collect();
        for r in 0..9 {
            for (a, b) in kernels[r * 25..][..25].iter().zip(&expected) {
                assert!((a - b).abs() < 1e-6, "region {r}: {a} against {b}");
            }
        }
    }

    #[test]
    fn a_turn_moves_a_delta_by_hand_computed_amounts() {
        // one row of three regions over a 201 px wide latent: centres at x = -100, 0, 100, y = 0;
        // a delta base turned by 0.01 rad is seen at the right region at
        // ((cos θ − 1)·100, sin θ·100) = (−0.0050, 0.99998) px from the canvas centre
        let device = Device::default();
        let mut delta = ndarray::Array2::zeros((5, 5));
        delta[[2, 2]] = 1.0f32;
        let config = CameraFieldConfig {
            angle_grid: 1,
            ..CameraFieldConfig::default()
        };
        let mut field = CameraFieldKernel::new(
            &Kernel::new(delta).unwrap(),
            [1, 3],
            [1, 201],
            config,
            &device,
        )
        .unwrap()
        .with_angles(&[0.01])
        .unwrap();
        let k = host(field.forward(0));
        let (dx, dy) = ((0.01f64.cos() - 1.0) * 100.0, 0.01f64.sin() * 100.0);
        let (fx, fy) = (dx + 1.0, dy); // x floor −1, y floor 0
        let right = &k[50..75];
        let expect = |row: usize, col: usize| -> f64 {
            let wy = if row == 2 {
                1.0 - fy
            } else if row == 3 {
                fy
            } else {
                0.0
            };
            let wx = if col == 1 {
                1.0 - fx
            } else if col == 2 {
                fx
            } else {
                0.0
            };
            wy * wx
        };
        for row in 0..5 {
            for col in 0..5 {
                let got = f64::from(right[row * 5 + col]);
                assert!(
                    (got - expect(row, col)).abs() < 1e-5,
                    "({row}, {col}): {got}"
                );
            }
        }
        assert!((f64::from(right[3 * 5 + 2]) - 0.99998 * 0.995).abs() < 1e-4);
        // the left region turns the other way, the middle one not at all
        assert!(
            (f64::from(k[5 + 2]) - 0.99998 * 0.995).abs() < 1e-4,
            "{:?}",
            &k[..25]
        );
        assert!((k[25 + 12] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn bad_settings_are_refused_and_any_kernel_shape_is_taken() {
        let device = Device::default();
        let k = Kernel::delta([5, 5]).unwrap();
        let bad = CameraFieldConfig {
            angle_grid: 0,
            ..CameraFieldConfig::default()
        };
        assert!(CameraFieldKernel::new(&k, [3, 3], [50, 50], bad, &device).is_err());
        // rates past the bounds (a 1e300 rate used to run until the loss became NaN)
        for (angle_lr, base_lr) in [(1e300, 0.0), (MAX_ANGLE_LR * 1.01, 0.0), (0.05, 10.5)] {
            let bad = CameraFieldConfig {
                angle_lr,
                base_lr,
                ..CameraFieldConfig::default()
            };
            assert!(bad.validate().is_err(), "{angle_lr} {base_lr}");
        }
        let field =
            CameraFieldKernel::new(&k, [3, 3], [50, 50], CameraFieldConfig::default(), &device)
                .unwrap();
        assert!(field.with_angles(&[0.0; 3]).is_err());
        // the control angles read back as they were set (radians, row by row)
        let set: Vec<f64> = (0..25).map(|i| (i as f64 - 12.0) * 1e-3).collect();
        let field =
            CameraFieldKernel::new(&k, [3, 3], [50, 50], CameraFieldConfig::default(), &device)
                .unwrap()
                .with_angles(&set)
                .unwrap();
        for (a, b) in field.control_angles().iter().zip(&set) {
            assert!((a - b).abs() < 1e-7, "{a} against {b}");
        }
        // an even or oblong kernel is a kernel like any other
        let oblong = Kernel::new(ndarray::Array2::from_elem((4, 7), 1.0)).unwrap();
        let config = CameraFieldConfig::default();
        let mut field = CameraFieldKernel::new(&oblong, [3, 3], [50, 50], config, &device).unwrap();
        assert_eq!(field.forward(0).dims(), [9, 1, 4, 7]);
    }

    #[test]
    fn regions_sit_where_the_tent_windows_peak() {
        assert_eq!(region_centres(3, 5), vec![-2.0, 0.0, 2.0]);
        assert_eq!(region_centres(1, 7), vec![0.0]);
    }
}
