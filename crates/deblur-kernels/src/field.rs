//! Kernel fields for spatially varying blur ([`deblur_core::KernelField`]): the blur of one
//! camera motion seen at every region of an image, and fields of independent per-region kernels.
//!
//! **Camera motion** (after Whyte, Sivic, Zisserman and Ponce, "Non-uniform deblurring for shaken
//! images", IJCV 2012, restricted to in-plane rotation plus translation): during the exposure the
//! camera translates along a Boracchi–Foi shake path `t(τ)` ([`crate::shake`]) and rotates about
//! the optical axis by `θ(τ)`. A scene point at `p` (relative to the image centre) is seen at
//! `R(θ(τ)) p + t(τ)`, so its blur path is `R(θ(τ)) p − p + t(τ)`; the kernel of a region is that
//! path rasterised at the region's centre. The translation path is centred on its centroid once
//! for the whole field, so the centre region's kernel is centred and the others keep the offsets
//! the rotation gives them. The rotation path is a second shake path's horizontal coordinate,
//! centred and scaled to a peak angle drawn in `[½, 1] × max_rotation_deg`.
//!
//! **Per region**: an independent camera-shake kernel in every region (a field no single motion
//! produces; the simplest test of a non-uniform method).

use burn::config::Config;
use deblur_core::{Kernel, KernelField, WindowShape};
use ndarray::Array2;
use rand::Rng;

use crate::raster::rasterise_at;
use crate::shake::{ShakeConfig, shake_kernel, shake_trajectory};

/// Settings of a camera-motion kernel field.
#[derive(Config, Debug, PartialEq)]
pub struct CameraMotionConfig {
    /// Translation: the camera-shake settings (their `size` is the kernel side K).
    pub shake: ShakeConfig,
    /// Largest in-plane rotation during the exposure, in degrees (peak of |θ|). Default: 1.0.
    #[config(default = 1.0)]
    pub max_rotation_deg: f64,
    /// Redraws of a motion whose blur does not fit the kernel at every region before the
    /// motion is shrunk. Default: 20.
    #[config(default = 20)]
    pub max_redraws: usize,
}

impl CameraMotionConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`crate::Error::InvalidSetting`] naming the field.
    pub fn validate(&self) -> crate::Result<()> {
        self.shake.validate()?;
        if !(self.max_rotation_deg.is_finite() && (0.0..=45.0).contains(&self.max_rotation_deg)) {
            return Err(crate::Error::InvalidSetting {
                setting: "max_rotation_deg",
                rule: format!("{} must be within 0 to 45 degrees", self.max_rotation_deg),
            });
        }
        Ok(())
    }
}

/// The centres of `regions` tent windows over `len` pixels (`0, (N−1)/(g−1), …, N−1`; the
/// middle for one region), relative to the image centre: where [`deblur_core::Svola`]'s tent
/// windows peak, and where the camera field of `deblur_optim` places its regions.
pub fn region_centres(regions: usize, len: usize) -> Vec<f64> {
    let middle = (len as f64 - 1.0) / 2.0;
    if regions == 1 {
        return vec![0.0];
    }
    (0..regions)
        .map(|i| i as f64 * (len as f64 - 1.0) / (regions as f64 - 1.0) - middle)
        .collect()
}

/// Checks a grid against the image it covers.
fn check_grid(grid: [usize; 2], image: [usize; 2]) -> crate::Result<()> {
    if grid[0] == 0 || grid[1] == 0 || grid[0] > image[0] || grid[1] > image[1] {
        return Err(crate::Error::InvalidSetting {
            setting: "grid",
            rule: format!(
                "{}x{} regions over a {}x{} image: use 1 region or more per axis, at most one per pixel",
                grid[0], grid[1], image[0], image[1]
            ),
        });
    }
    Ok(())
}

/// The field of one camera motion over an image of `image` `[height, width]` on `grid`, and the
/// motion's peak rotation in degrees and translation path length in pixels.
///
/// # Errors
/// [`crate::Error::InvalidSetting`] for bad settings or a grid finer than the image.
pub fn camera_motion_field(
    config: &CameraMotionConfig,
    grid: [usize; 2],
    window: WindowShape,
    image: [usize; 2],
    rng: &mut impl Rng,
) -> crate::Result<(KernelField, f64, f64)> {
    config.validate()?;
    check_grid(grid, image)?;
    let size = config.shake.size;
    let centre = ((size - 1) / 2) as f64;
    let rows = region_centres(grid[0], image[0]);
    let cols = region_centres(grid[1], image[1]);
    let max_length = config.shake.max_length_px.unwrap_or(1.5 * size as f64);
    let fraction = config.shake.min_length_fraction;
    let mut length = max_length * (fraction + (1.0 - fraction) * rng.random::<f64>());
    let mut peak = config.max_rotation_deg.to_radians() * (0.5 + 0.5 * rng.random::<f64>());
    loop {
        for _ in 0..config.max_redraws.max(1) {
            let path = shake_trajectory(&config.shake, length, rng);
            let n = path.points.len();
            let exposed = ((config.shake.exposure * n as f64).ceil() as usize).clamp(1, n);
            let points = &path.points[..exposed];
            let (mx, my) = points
                .iter()
                .fold((0.0, 0.0), |(a, b), &(x, y)| (a + x, b + y));
            let (mx, my) = (mx / exposed as f64, my / exposed as f64);
            // The rotation: another path's horizontal coordinate, centred, scaled to the peak.
            let turn = shake_trajectory(&config.shake, length.max(1.0), rng);
            let mean = turn.points[..exposed].iter().map(|p| p.0).sum::<f64>() / exposed as f64;
            let spread = turn.points[..exposed]
                .iter()
                .map(|p| (p.0 - mean).abs())
                .fold(0.0, f64::max);
            let scale = if spread > 0.0 { peak / spread } else { 0.0 };
            let angles: Vec<f64> = turn.points[..exposed]
                .iter()
                .map(|p| (p.0 - mean) * scale)
                .collect();
            let kernels: Option<Vec<Array2<f32>>> = rows
                .iter()
                .flat_map(|&py| cols.iter().map(move |&px| (py, px)))
                .map(|(py, px)| {
                    let samples: Vec<(f64, f64, f64)> = points
                        .iter()
                        .zip(&angles)
                        .map(|(&(tx, ty), &a)| {
                            let (c, s) = (a.cos(), a.sin());
                            let dx = c * px - s * py - px + (tx - mx);
                            let dy = s * px + c * py - py + (ty - my);
                            (dy, dx, 1.0)
                        })
                        .collect();
                    rasterise_at(&samples, size, (centre, centre))
                })
                .collect();
            if let Some(kernels) = kernels {
                let kernels = kernels
                    .into_iter()
                    .map(Kernel::new)
                    .collect::<deblur_core::Result<Vec<_>>>()?;
                let field = KernelField::new(grid, window, kernels)?;
                return Ok((field, peak.to_degrees(), length));
            }
        }
        // Too large for the kernel at some region: shrink the motion.
        length *= 0.7;
        peak *= 0.7;
    }
}

/// A field of independent camera-shake kernels, one per region.
///
/// # Errors
/// [`crate::Error::InvalidSetting`] for bad settings or an empty grid.
pub fn per_region_field(
    config: &ShakeConfig,
    grid: [usize; 2],
    window: WindowShape,
    rng: &mut impl Rng,
) -> crate::Result<KernelField> {
    config.validate()?;
    check_grid(grid, [usize::MAX, usize::MAX])?;
    let kernels = (0..grid[0] * grid[1])
        .map(|_| Kernel::new(shake_kernel(config, rng).0))
        .collect::<deblur_core::Result<Vec<_>>>()?;
    Ok(KernelField::new(grid, window, kernels)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// Mass-weighted centre of a kernel `(row, col)` relative to its canvas centre.
    fn offset(k: &Kernel) -> (f64, f64) {
        let c = ((k.size()[0] - 1) / 2) as f64;
        let (mut r, mut q) = (0.0, 0.0);
        for ((i, j), v) in k.values().indexed_iter() {
            r += i as f64 * f64::from(*v);
            q += j as f64 * f64::from(*v);
        }
        (r - c, q - c)
    }

    #[test]
    fn pure_rotation_turns_the_corners_in_opposite_directions() {
        // No translation (a zero-length path) and a rotation: the centre region is a point, and
        // opposite corners are blurred along opposite, tangential directions.
        let shake = ShakeConfig::new(31)
            .with_max_length_px(Some(1e-9))
            .with_min_length_fraction(1.0);
        let config = CameraMotionConfig::new(shake).with_max_rotation_deg(2.0);
        let mut rng = StdRng::seed_from_u64(3);
        let (field, peak, _) =
            camera_motion_field(&config, [3, 3], WindowShape::Tent, [401, 401], &mut rng).unwrap();
        assert!((1.0..=2.0).contains(&peak));
        let k = field.kernels();
        // the centre: all mass within one pixel of the canvas centre
        assert!(
            k[4].values()[[15, 15]] > 0.99,
            "{}",
            k[4].values()[[15, 15]]
        );
        // the blur extent at a corner: about r·θ (r = 283 px); measured as the spread of taps
        let extent = |k: &Kernel| k.values().iter().filter(|v| **v > 1e-4).count();
        assert!(extent(&k[0]) > 5 && extent(&k[8]) > 5);
        // point reflection: the top-left corner's kernel is the bottom-right's rotated by 180°
        let diff = (k[0].values() - k[8].rotate_180().values())
            .mapv(f32::abs)
            .sum();
        assert!(diff < 1e-3, "{diff}");
        // the centres of mass reflect too
        let (a, b) = (offset(&k[0]), offset(&k[8]));
        assert!((a.0 + b.0).abs() < 1e-3 && (a.1 + b.1).abs() < 1e-3);
    }

    #[test]
    fn without_rotation_every_region_has_the_same_kernel() {
        let config = CameraMotionConfig::new(ShakeConfig::new(21)).with_max_rotation_deg(0.0);
        let mut rng = StdRng::seed_from_u64(5);
        let (field, _, length) =
            camera_motion_field(&config, [2, 3], WindowShape::Tent, [300, 500], &mut rng).unwrap();
        assert!(length > 0.0);
        for k in &field.kernels()[1..] {
            assert_eq!(k, &field.kernels()[0]);
        }
        // centred: the translation path is moved to its centroid
        let (r, c) = offset(&field.kernels()[0]);
        assert!(r.abs() < 1e-3 && c.abs() < 1e-3, "{r} {c}");
    }

    #[test]
    fn fields_are_deterministic_per_seed_and_refuse_bad_grids() {
        let config = CameraMotionConfig::new(ShakeConfig::new(15));
        let draw = |seed| {
            camera_motion_field(
                &config,
                [3, 3],
                WindowShape::Tent,
                [128, 128],
                &mut StdRng::seed_from_u64(seed),
            )
            .unwrap()
            .0
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
        let mut rng = StdRng::seed_from_u64(0);
        assert!(
            camera_motion_field(&config, [0, 3], WindowShape::Tent, [64, 64], &mut rng).is_err()
        );
        assert!(
            camera_motion_field(&config, [3, 70], WindowShape::Tent, [64, 64], &mut rng).is_err()
        );
        let field =
            per_region_field(&ShakeConfig::new(9), [2, 2], WindowShape::Tent, &mut rng).unwrap();
        assert_eq!(field.kernels().len(), 4);
        assert_ne!(field.kernels()[0], field.kernels()[1]);
    }
}
