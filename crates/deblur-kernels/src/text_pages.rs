//! Procedural document pages: dark strokes on bright paper, laid out as lines of words.
//!
//! Blind deblurring of scanned text fails differently from natural photos (large flat areas, two
//! tones, thin strokes everywhere: Pan et al. 2014 built their L0 intensity prior for it), and the
//! training data here has no documents. These pages are a screening and training source for that
//! case that needs no font files: every page draws its own alphabet of stroke glyphs (line
//! segments between points of a small lattice, like a plotter font), then sets paragraphs of
//! words of those glyphs, with headings in a larger size and the odd ruled line, and renders them
//! with anti-aliased strokes (4 × 4 supersampling) over paper with a mild brightness gradient.

use ndarray::{Array2, Array3};
use rand::Rng;

use crate::images::{ColorMode, ImageSource};
use crate::{Error, Result};

/// Procedural text pages (see the module documentation).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TextPages {
    /// Side of the square pages.
    pub size: usize,
    /// Colour mode (colour pages are gray pages repeated: ink and paper are neutral).
    pub color: ColorMode,
    /// Smallest and largest body-text glyph height in pixels. Default: 10 and 28.
    pub glyph_height: (f64, f64),
    /// Glyphs in a page's alphabet. Default: 40.
    pub alphabet: usize,
}

/// One glyph: strokes in glyph units (x in `[0, 0.6]`, y in `[0, 1]` from the top).
type Glyph = Vec<[(f64, f64); 2]>;

impl TextPages {
    /// Pages of side `size` with the defaults above.
    pub fn new(size: usize, color: ColorMode) -> Self {
        TextPages {
            size,
            color,
            glyph_height: (10.0, 28.0),
            alphabet: 40,
        }
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] naming the problem.
    pub fn validate(&self) -> Result<()> {
        let (lo, hi) = self.glyph_height;
        if !(1..=crate::images::MAX_PROCEDURAL_SIDE).contains(&self.size) {
            return Err(Error::InvalidSetting {
                setting: "text page size",
                rule: format!(
                    "{} px: pages are 1 to {} px on a side",
                    self.size,
                    crate::images::MAX_PROCEDURAL_SIDE
                ),
            });
        }
        if !(lo >= 3.0 && hi >= lo && hi.is_finite()) {
            return Err(Error::InvalidSetting {
                setting: "glyph height",
                rule: format!("needs 3 ≤ smallest ≤ largest, got {lo} and {hi}"),
            });
        }
        if self.alphabet == 0 {
            return Err(Error::InvalidSetting {
                setting: "alphabet",
                rule: "needs at least one glyph".into(),
            });
        }
        Ok(())
    }

    /// Draws an alphabet: each glyph 2–4 strokes between points of a 3 × 5 lattice (descenders
    /// and ascenders come from the lattice's top and bottom rows).
    fn alphabet(&self, rng: &mut dyn rand::RngCore) -> Vec<Glyph> {
        let point = |rng: &mut dyn rand::RngCore| {
            (
                0.3 * f64::from(rng.random_range(0..3u8)),
                0.25 * f64::from(rng.random_range(0..5u8)),
            )
        };
        (0..self.alphabet)
            .map(|_| {
                let strokes = rng.random_range(2..=4usize);
                let mut glyph = Vec::with_capacity(strokes);
                let mut from = point(rng);
                for _ in 0..strokes {
                    let mut to = point(rng);
                    while to == from {
                        to = point(rng);
                    }
                    glyph.push([from, to]);
                    // strokes mostly continue from where the last one ended, as a pen does
                    from = if rng.random::<f64>() < 0.7 {
                        to
                    } else {
                        point(rng)
                    };
                }
                glyph
            })
            .collect()
    }

    /// Renders one page `[channels, size, size]` in `[0, 1]`; the settings must pass
    /// [`TextPages::validate`] (as [`ImageSource::sample`] checks).
    pub fn render(&self, rng: &mut dyn rand::RngCore) -> Array3<f32> {
        let n = self.size;
        let glyphs = self.alphabet(rng);
        let mut ink = Array2::<f32>::zeros((n, n));
        let (lo, hi) = self.glyph_height;
        let margin = rng.random_range(0.02..0.08) * n as f64;
        let right = n as f64 - margin;
        let mut y = margin;
        while y < n as f64 - margin {
            // a paragraph: one size, optionally under a heading
            let height = lo + (hi - lo) * rng.random::<f64>();
            let width = height * rng.random_range(0.08..0.15);
            if rng.random::<f64>() < 0.3 {
                let h = height * rng.random_range(1.4..2.0);
                y = self.set_line(&mut ink, &glyphs, y, margin, right * 0.7, h, h * 0.13, rng);
                y += 0.6 * h;
            }
            for _ in 0..rng.random_range(2..8usize) {
                if y + height > n as f64 - margin {
                    break;
                }
                y = self.set_line(&mut ink, &glyphs, y, margin, right, height, width, rng);
                y += height * rng.random_range(0.4..0.8);
            }
            if rng.random::<f64>() < 0.15 {
                let w = rng.random_range(1.0..3.0);
                stroke(&mut ink, (margin, y), (right, y), w);
                y += 4.0 * w;
            }
            y += height * rng.random_range(0.8..2.0);
        }
        let paper = rng.random_range(0.75..0.97);
        let dark = rng.random_range(0.02..0.25);
        let (gy, gx) = (
            rng.random_range(-0.04..0.04) / n as f64,
            rng.random_range(-0.04..0.04) / n as f64,
        );
        let page = Array2::from_shape_fn((n, n), |(r, c)| {
            let p = paper + gy * (r as f64 - n as f64 / 2.0) + gx * (c as f64 - n as f64 / 2.0);
            let a = f64::from(ink[[r, c]]);
            ((1.0 - a) * p + a * dark).clamp(0.0, 1.0) as f32
        });
        let channels = self.color.channels();
        Array3::from_shape_fn((channels, n, n), |(_, r, c)| page[[r, c]])
    }

    /// Sets one line of words of glyphs `height` px tall with strokes `width` px wide, its top at
    /// `top`, from `left` up to `right`; returns the line's bottom.
    #[allow(clippy::too_many_arguments)]
    fn set_line(
        &self,
        ink: &mut Array2<f32>,
        glyphs: &[Glyph],
        top: f64,
        left: f64,
        right: f64,
        height: f64,
        width: f64,
        rng: &mut dyn rand::RngCore,
    ) -> f64 {
        let advance = height * 0.8;
        // lines of a paragraph end raggedly
        let end = right - rng.random::<f64>() * 0.3 * (right - left);
        let mut x = left;
        while x + advance < end {
            let letters = rng.random_range(1..10usize);
            for _ in 0..letters {
                if x + advance >= end {
                    break;
                }
                let glyph = &glyphs[rng.random_range(0..glyphs.len())];
                for [(x0, y0), (x1, y1)] in glyph {
                    stroke(
                        ink,
                        (x + x0 * height, top + y0 * height),
                        (x + x1 * height, top + y1 * height),
                        width,
                    );
                }
                x += advance;
            }
            x += advance * rng.random_range(0.5..1.0);
        }
        top + height
    }
}

/// Adds a straight stroke of `width` px from `a` to `b` (points as (x, y)) to the coverage map:
/// each pixel's coverage is the fraction of its 4 × 4 sub-samples within `width / 2` of the
/// segment, and overlapping strokes keep the larger coverage.
fn stroke(ink: &mut Array2<f32>, a: (f64, f64), b: (f64, f64), width: f64) {
    let (h, w) = ink.dim();
    let r = width / 2.0;
    let x0 = (a.0.min(b.0) - r).floor().max(0.0) as usize;
    let x1 = ((a.0.max(b.0) + r).ceil().max(0.0) as usize).min(w);
    let y0 = (a.1.min(b.1) - r).floor().max(0.0) as usize;
    let y1 = ((a.1.max(b.1) + r).ceil().max(0.0) as usize).min(h);
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = (dx * dx + dy * dy).max(1e-12);
    for py in y0..y1 {
        for px in x0..x1 {
            let mut inside = 0u32;
            for sy in 0..4 {
                for sx in 0..4 {
                    let (qx, qy) = (
                        px as f64 + (f64::from(sx) + 0.5) / 4.0,
                        py as f64 + (f64::from(sy) + 0.5) / 4.0,
                    );
                    let t = (((qx - a.0) * dx + (qy - a.1) * dy) / len2).clamp(0.0, 1.0);
                    let (ex, ey) = (qx - a.0 - t * dx, qy - a.1 - t * dy);
                    if ex * ex + ey * ey <= r * r {
                        inside += 1;
                    }
                }
            }
            let cover = inside as f32 / 16.0;
            let cell = &mut ink[[py, px]];
            *cell = cell.max(cover);
        }
    }
}

impl ImageSource for TextPages {
    fn crop_size(&self) -> usize {
        self.size
    }

    fn channels(&self) -> usize {
        self.color.channels()
    }

    fn sample(&self, rng: &mut dyn rand::RngCore) -> Result<Array3<f32>> {
        self.validate()?;
        Ok(self.render(rng))
    }
}
