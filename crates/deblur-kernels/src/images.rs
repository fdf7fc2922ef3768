//! Sources of sharp training images: image folders, procedural dead leaves and text pages
//! ([`crate::text_pages`]).
//!
//! Every source draws `[channels, p, p]` crops in `[0, 1]` from a caller's RNG, so a seeded RNG
//! gives the same crops on every run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use deblur_core::color::{YCbCrStandard, luma};
use deblur_core::load_image;
use ndarray::{Array2, Array3, Axis, s};
use rand::Rng;

use crate::text_pages::TextPages;
use crate::{Error, Result};

/// Colour mode of training crops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum ColorMode {
    /// One channel: the luma of colour images (OpenCV full-range Y, as GKPILE trains on).
    #[default]
    Gray,
    /// Three channels; gray images are repeated.
    Rgb,
}

impl ColorMode {
    /// Number of channels.
    pub fn channels(self) -> usize {
        match self {
            ColorMode::Gray => 1,
            ColorMode::Rgb => 3,
        }
    }
}

/// Something that draws sharp training crops.
pub trait ImageSource: Send + Sync {
    /// Side of the square crops.
    fn crop_size(&self) -> usize;
    /// Channels of the crops.
    fn channels(&self) -> usize;
    /// Draws one `[channels, p, p]` crop.
    ///
    /// # Errors
    /// Errors reading a file (folder sources only).
    fn sample(&self, rng: &mut dyn rand::RngCore) -> Result<Array3<f32>>;
}

/// Random flips and 90° rotations (the 8 symmetries of the square).
pub fn random_dihedral(img: Array3<f32>, rng: &mut dyn rand::RngCore) -> Array3<f32> {
    dihedral(img, rng.random_range(0..8u8))
}

/// Symmetry `t` (0–7) of the square: bit 0 flips columns, bit 1 rows, bit 2 transposes.
fn dihedral(img: Array3<f32>, t: u8) -> Array3<f32> {
    let mut out = img;
    if t & 1 == 1 {
        out.invert_axis(Axis(2));
    }
    if t & 2 == 2 {
        out.invert_axis(Axis(1));
    }
    if t & 4 == 4 {
        out.swap_axes(1, 2);
    }
    out.as_standard_layout().into_owned()
}

/// A folder of images, searched recursively for PNG, JPEG and TIFF files; draws random crops
/// (with random flips and 90° rotations when `augment` is set).
#[derive(Clone, Debug)]
pub struct FolderSource {
    files: Vec<PathBuf>,
    crop: usize,
    color: ColorMode,
    augment: bool,
}

fn is_image(path: &Path) -> bool {
    matches!(
        path.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("png" | "jpg" | "jpeg" | "tif" | "tiff")
    )
}

/// The image files under `dir` (recursively), sorted.
///
/// # Errors
/// [`Error::EmptyFolder`] when there is none, an I/O error naming the folder.
fn sorted_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    if files.is_empty() {
        return Err(Error::EmptyFolder {
            path: dir.to_path_buf(),
        });
    }
    Ok(files)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| deblur_core::Error::io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| deblur_core::Error::io(dir, e))?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if is_image(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// Refuses an image of `(width, height)` smaller than the crop.
fn check_fits(path: &Path, (w, h): (usize, usize), crop: usize) -> Result<()> {
    if w < crop || h < crop {
        return Err(Error::ImageTooSmall {
            path: path.to_path_buf(),
            height: h,
            width: w,
            crop,
            min: w.min(h),
        });
    }
    Ok(())
}

/// Reads an image file in the colour mode of a source (grey as full-range luma).
fn load_as(path: &Path, color: ColorMode) -> Result<Array3<f32>> {
    let img = load_image(path)?.pixels;
    Ok(match (color, img.dim().0) {
        (ColorMode::Gray, 3) => luma(&img, YCbCrStandard::FullRange)?.insert_axis(Axis(0)),
        (ColorMode::Rgb, 1) => {
            let (_, h, w) = img.dim();
            Array3::from_shape_fn((3, h, w), |(_, y, x)| img[[0, y, x]])
        }
        _ => img,
    })
}

/// Refuses a zero crop side.
fn check_crop(crop: usize) -> Result<()> {
    if crop == 0 {
        return Err(Error::InvalidSetting {
            setting: "crop",
            rule: "must be positive".into(),
        });
    }
    Ok(())
}

impl FolderSource {
    /// Indexes `dir` and checks every image's header: all must be readable and at least
    /// `crop × crop`.
    ///
    /// # Errors
    /// [`Error::EmptyFolder`], [`Error::ImageTooSmall`], or an I/O / decoding error naming the file.
    pub fn new(
        dir: impl AsRef<Path>,
        crop: usize,
        color: ColorMode,
        augment: bool,
    ) -> Result<Self> {
        let dir = dir.as_ref();
        check_crop(crop)?;
        let files = sorted_images(dir)?;
        for f in &files {
            check_fits(f, deblur_core::image_size(f)?, crop)?;
        }
        Ok(FolderSource {
            files,
            crop,
            color,
            augment,
        })
    }

    /// The image files found.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}

impl ImageSource for FolderSource {
    fn crop_size(&self) -> usize {
        self.crop
    }

    fn channels(&self) -> usize {
        self.color.channels()
    }

    fn sample(&self, rng: &mut dyn rand::RngCore) -> Result<Array3<f32>> {
        let path = &self.files[rng.random_range(0..self.files.len())];
        let img = load_as(path, self.color)?;
        let (_, h, w) = img.dim();
        // the file may have changed since it was indexed
        check_fits(path, (w, h), self.crop)?;
        let (y, x) = (
            rng.random_range(0..=h - self.crop),
            rng.random_range(0..=w - self.crop),
        );
        let crop = img
            .slice(s![.., y..y + self.crop, x..x + self.crop])
            .to_owned();
        Ok(if self.augment {
            random_dihedral(crop, rng)
        } else {
            crop
        })
    }
}

/// Procedural dead-leaves images (Matheron; as training data for restoration networks:
/// Achddou, Gousseau, Ladjal 2021, "Synthetic images as a regularity prior for image restoration
/// neural networks"): opaque discs with power-law radii `p(r) ∝ r^(−alpha)` on `[r_min, r_max]`,
/// stacked front to back until the image is covered. Each disc has a random colour and a mild
/// texture (a linear gradient plus a sinusoidal grating) so that flat regions are not perfectly flat.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeadLeaves {
    /// Side of the square images.
    pub size: usize,
    /// Colour mode.
    pub color: ColorMode,
    /// Power-law exponent of the radius distribution. Default: 3.
    pub alpha: f64,
    /// Smallest radius in pixels. Default: 1.
    pub r_min: f64,
    /// Largest radius as a fraction of the side. Default: 0.5.
    pub r_max_fraction: f64,
    /// Cap on the number of discs per image. Default: 20 000.
    pub max_discs: usize,
}

impl DeadLeaves {
    /// Dead leaves of side `size` with the defaults above.
    pub fn new(size: usize, color: ColorMode) -> Self {
        DeadLeaves {
            size,
            color,
            alpha: 3.0,
            r_min: 1.0,
            r_max_fraction: 0.5,
            max_discs: 20_000,
        }
    }

    /// Draws a radius from the truncated power law by inverting its distribution function.
    fn radius(&self, rng: &mut dyn rand::RngCore) -> f64 {
        let (a, lo, hi) = (
            self.alpha,
            self.r_min,
            (self.r_max_fraction * self.size as f64).max(self.r_min + 1.0),
        );
        let u: f64 = rng.random();
        let e = 1.0 - a;
        (lo.powf(e) + u * (hi.powf(e) - lo.powf(e))).powf(1.0 / e)
    }

    /// Renders one image `[channels, size, size]`.
    pub fn render(&self, rng: &mut dyn rand::RngCore) -> Array3<f32> {
        let n = self.size;
        let channels = self.color.channels();
        let mut img = Array3::<f32>::zeros((channels, n, n));
        let mut covered = Array2::<bool>::from_elem((n, n), false);
        let mut remaining = n * n;
        for _ in 0..self.max_discs {
            if remaining == 0 {
                break;
            }
            let r = self.radius(rng);
            let (cy, cx) = (
                rng.random::<f64>() * n as f64,
                rng.random::<f64>() * n as f64,
            );
            // colour: a luminance with a natural-looking spread, chroma around it
            let base: f64 = rng.random::<f64>().powf(1.2);
            let colour: Vec<f64> = (0..channels)
                .map(|_| {
                    (base
                        + if channels == 3 {
                            0.25 * (rng.random::<f64>() - 0.5)
                        } else {
                            0.0
                        })
                    .clamp(0.0, 1.0)
                })
                .collect();
            let (gy, gx) = (
                0.1 * (rng.random::<f64>() - 0.5) / r.max(1.0),
                0.1 * (rng.random::<f64>() - 0.5) / r.max(1.0),
            );
            let freq = 0.2 + 1.3 * rng.random::<f64>();
            let theta = std::f64::consts::PI * rng.random::<f64>();
            let amp = if rng.random::<f64>() < 0.5 {
                0.04 * rng.random::<f64>()
            } else {
                0.0
            };
            let (y0, y1) = (
                ((cy - r).floor().max(0.0)) as usize,
                ((cy + r).ceil() as usize).min(n),
            );
            let (x0, x1) = (
                ((cx - r).floor().max(0.0)) as usize,
                ((cx + r).ceil() as usize).min(n),
            );
            for y in y0..y1 {
                for x in x0..x1 {
                    let (dy, dx) = (y as f64 + 0.5 - cy, x as f64 + 0.5 - cx);
                    if covered[[y, x]] || dy * dy + dx * dx > r * r {
                        continue;
                    }
                    covered[[y, x]] = true;
                    remaining -= 1;
                    let texture = gy * dy
                        + gx * dx
                        + amp * (freq * (dx * theta.cos() + dy * theta.sin())).sin();
                    for (ch, c) in colour.iter().enumerate() {
                        img[[ch, y, x]] = (c + texture).clamp(0.0, 1.0) as f32;
                    }
                }
            }
        }
        img
    }
}

impl ImageSource for DeadLeaves {
    fn crop_size(&self) -> usize {
        self.size
    }

    fn channels(&self) -> usize {
        self.color.channels()
    }

    fn sample(&self, rng: &mut dyn rand::RngCore) -> Result<Array3<f32>> {
        Ok(self.render(rng))
    }
}

/// Largest side of a procedural image ([`ImageSpec::open`]): 16384² floats are 1 GiB.
pub const MAX_PROCEDURAL_SIDE: usize = 16384;

/// Where sharp training images come from, as a user names it: `dead-leaves` or `text-pages`
/// (procedural; `text-pages:LO-HI` sets the body text's glyph height range in pixels, default
/// 10-28) or the path of a folder of PNG/JPEG/TIFF images.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageSpec {
    /// [`DeadLeaves`].
    DeadLeaves,
    /// [`TextPages`], with its glyph heights in pixels (`None`: [`TextPages::new`]'s).
    TextPages(Option<[u32; 2]>),
    /// A [`FolderSource`] on this folder.
    Folder(PathBuf),
}

impl std::str::FromStr for ImageSpec {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        if let Some(range) = s.strip_prefix("text-pages:") {
            let heights = range
                .split_once('-')
                .and_then(|(a, b)| Some([a.trim().parse::<u32>().ok()?, b.trim().parse().ok()?]))
                .filter(|[lo, hi]| (3..=1024).contains(lo) && lo <= hi && *hi <= 1024)
                .ok_or_else(|| {
                    format!(
                        "{s:?}: text-pages:LO-HI takes glyph heights in pixels with \
                         3 <= LO <= HI <= 1024, for example text-pages:5-14"
                    )
                })?;
            return Ok(ImageSpec::TextPages(Some(heights)));
        }
        Ok(match s {
            "dead-leaves" => ImageSpec::DeadLeaves,
            "text-pages" => ImageSpec::TextPages(None),
            _ => ImageSpec::Folder(PathBuf::from(s)),
        })
    }
}

impl std::fmt::Display for ImageSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImageSpec::DeadLeaves => f.write_str("dead-leaves"),
            ImageSpec::TextPages(None) => f.write_str("text-pages"),
            ImageSpec::TextPages(Some([lo, hi])) => write!(f, "text-pages:{lo}-{hi}"),
            ImageSpec::Folder(dir) => write!(f, "{}", dir.display()),
        }
    }
}

impl ImageSpec {
    /// Opens the source: `crop`² crops in `color`, a folder's crops randomly flipped and rotated
    /// when `augment`.
    ///
    /// # Errors
    /// A folder's errors ([`FolderSource::new`]); [`Error::InvalidSetting`] for a zero crop.
    pub fn open(&self, crop: usize, color: ColorMode, augment: bool) -> Result<SharedImages> {
        if !matches!(self, ImageSpec::Folder(_)) && !(1..=MAX_PROCEDURAL_SIDE).contains(&crop) {
            return Err(Error::InvalidSetting {
                setting: "crop",
                rule: format!(
                    "{crop} px: procedural images are 1 to {MAX_PROCEDURAL_SIDE} px on a side"
                ),
            });
        }
        let source: Arc<dyn ImageSource> = match self {
            ImageSpec::DeadLeaves => Arc::new(DeadLeaves::new(crop, color)),
            ImageSpec::TextPages(heights) => {
                let mut pages = TextPages::new(crop, color);
                if let Some([lo, hi]) = heights {
                    pages.glyph_height = (f64::from(*lo), f64::from(*hi));
                }
                pages.validate()?;
                Arc::new(pages)
            }
            ImageSpec::Folder(dir) => Arc::new(FolderSource::new(dir, crop, color, augment)?),
        };
        Ok(SharedImages(source))
    }
}

/// A cloneable handle on any image source (what [`ImageSpec::open`] returns).
#[derive(Clone)]
pub struct SharedImages(pub Arc<dyn ImageSource>);

impl ImageSource for SharedImages {
    fn crop_size(&self) -> usize {
        self.0.crop_size()
    }

    fn channels(&self) -> usize {
        self.0.channels()
    }

    fn sample(&self, rng: &mut dyn rand::RngCore) -> Result<Array3<f32>> {
        self.0.sample(rng)
    }
}

impl ImageSource for Box<dyn ImageSource> {
    fn crop_size(&self) -> usize {
        self.as_ref().crop_size()
    }

    fn channels(&self) -> usize {
        self.as_ref().channels()
    }

    fn sample(&self, rng: &mut dyn rand::RngCore) -> Result<Array3<f32>> {
        self.as_ref().sample(rng)
    }
}

/// Aligned sharp/blurry pairs from two parallel folder trees, as GOPRO and REDS ship them:
/// `ROOT/sharp/…/name.png` beside `ROOT/blur/…/name.png` (same relative path). Draws the same
/// random crop of both images of a random pair, with the same flips and 90° rotations when
/// `augment` is set.
#[derive(Clone, Debug)]
pub struct PairFolders {
    root: PathBuf,
    /// Relative paths present under both trees.
    files: Vec<PathBuf>,
    crop: usize,
    color: ColorMode,
    augment: bool,
}

impl PairFolders {
    /// Indexes `root/sharp` and `root/blur` and checks every pair's headers: both images must
    /// exist, be readable, have one size, and be at least `crop × crop`.
    ///
    /// # Errors
    /// [`Error::EmptyFolder`] when `root/sharp` holds no image, [`Error::InvalidSetting`] naming a
    /// sharp image without its blurry twin or a pair of two sizes, [`Error::ImageTooSmall`], or
    /// an I/O / decoding error naming the file.
    pub fn new(
        root: impl AsRef<Path>,
        crop: usize,
        color: ColorMode,
        augment: bool,
    ) -> Result<Self> {
        let root = root.as_ref();
        check_crop(crop)?;
        let (sharp_dir, blur_dir) = (root.join("sharp"), root.join("blur"));
        let sharp = sorted_images(&sharp_dir)?;
        let mut files = Vec::with_capacity(sharp.len());
        for path in &sharp {
            let relative = path.strip_prefix(&sharp_dir).unwrap_or(path).to_path_buf();
            let twin = blur_dir.join(&relative);
            if !twin.is_file() {
                return Err(Error::InvalidSetting {
                    setting: "pairs",
                    rule: format!(
                        "{} has no blurry twin {}; the trees must hold the same relative paths",
                        path.display(),
                        twin.display()
                    ),
                });
            }
            let (a, b) = (
                deblur_core::image_size(path)?,
                deblur_core::image_size(&twin)?,
            );
            if a != b {
                return Err(Error::InvalidSetting {
                    setting: "pairs",
                    rule: format!(
                        "{} is {}×{} but {} is {}×{}; a pair must be aligned images of one size",
                        path.display(),
                        a.0,
                        a.1,
                        twin.display(),
                        b.0,
                        b.1
                    ),
                });
            }
            check_fits(path, a, crop)?;
            files.push(relative);
        }
        Ok(PairFolders {
            root: root.to_path_buf(),
            files,
            crop,
            color,
            augment,
        })
    }

    /// The pairs found, as paths relative to `sharp/` and `blur/`.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Crop side.
    pub fn crop_size(&self) -> usize {
        self.crop
    }

    /// Channels of the crops.
    pub fn channels(&self) -> usize {
        self.color.channels()
    }

    /// One aligned crop (sharp, blurry) of a random pair.
    ///
    /// # Errors
    /// An error naming a file that can no longer be read.
    pub fn sample(&self, rng: &mut dyn rand::RngCore) -> Result<(Array3<f32>, Array3<f32>)> {
        let relative = &self.files[rng.random_range(0..self.files.len())];
        let read = |tree: &str| load_as(&self.root.join(tree).join(relative), self.color);
        let (sharp, blurry) = (read("sharp")?, read("blur")?);
        let (_, h, w) = sharp.dim();
        // the files may have changed since they were indexed
        let path = self.root.join("sharp").join(relative);
        check_fits(&path, (w, h), self.crop)?;
        if blurry.dim() != sharp.dim() {
            return Err(Error::InvalidSetting {
                setting: "pairs",
                rule: format!(
                    "{} and its blurry twin now differ in size; a pair must be aligned images of \
                     one size",
                    path.display()
                ),
            });
        }
        let (y, x) = (
            rng.random_range(0..=h - self.crop),
            rng.random_range(0..=w - self.crop),
        );
        let cut = |img: &Array3<f32>| {
            img.slice(s![.., y..y + self.crop, x..x + self.crop])
                .to_owned()
        };
        let (a, b) = (cut(&sharp), cut(&blurry));
        Ok(if self.augment {
            // one draw of the symmetry for both images
            let t = rng.random_range(0..8u8);
            (dihedral(a, t), dihedral(b, t))
        } else {
            (a, b)
        })
    }
}
