//! Charts a reader can read: line charts (loss curves, linear or log₁₀ y) with axes, tick
//! values, axis labels, a legend and marked phase changes; scatter charts of labelled points
//! (PSNR versus seconds); grouped bar charts (per-category benchmark means).
//!
//! Everything is drawn on a white `[3, h, w]` RGB canvas in `[0, 1]` with a built-in 5×7 pixel
//! font (printable ASCII; other characters are drawn as `?`, `−` as `-`), scaled 2×, so that
//! charts need no font files and no plotting dependency.

use ndarray::Array3;

/// An RGB colour in `[0, 1]`.
pub type Rgb = [f32; 3];

/// The colours of successive series (a colour-blind-safe palette: blue, orange, green, purple,
/// vermilion, sky blue).
pub const PALETTE: [Rgb; 6] = [
    [0.0, 0.45, 0.70],
    [0.90, 0.62, 0.0],
    [0.0, 0.62, 0.45],
    [0.80, 0.47, 0.65],
    [0.84, 0.37, 0.0],
    [0.34, 0.71, 0.91],
];

const BLACK: Rgb = [0.0, 0.0, 0.0];
const GRID: Rgb = [0.88, 0.88, 0.88];
const MARK: Rgb = [0.45, 0.45, 0.45];
const SCALE: usize = 2;
const GLYPH_W: usize = 6 * SCALE;
const LINE_H: usize = 9 * SCALE;

/// How the y axis maps values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// Evenly spaced values.
    Linear,
    /// Evenly spaced powers of ten; values ≤ 0 are not drawn.
    Log10,
}

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Points joined by lines.
    Lines,
    /// Separate points, each with its label (the series label) beside it.
    Points,
}

/// One named series of `(x, y)` points.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Name in the legend (or beside the point, for [`Style::Points`]).
    pub label: String,
    /// The points; non-finite ones are skipped.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series `label` of `values` at x = `first_x`, `first_x + 1`, …
    pub fn from_values(label: impl Into<String>, values: &[f32], first_x: f64) -> Self {
        Series {
            label: label.into(),
            points: values
                .iter()
                .enumerate()
                .map(|(i, &v)| (first_x + i as f64, f64::from(v)))
                .collect(),
        }
    }
}

/// A vertical line at `x` with a label: a phase change such as "1 − SSIM from here".
#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    /// Where it is.
    pub x: f64,
    /// What happens there.
    pub label: String,
}

/// A line or scatter chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    /// Title above the plot.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis (written above it).
    pub y_label: String,
    /// Mapping of the y axis.
    pub y_scale: Scale,
    /// Lines or points.
    pub style: Style,
    /// The data.
    pub series: Vec<Series>,
    /// Vertical marks.
    pub markers: Vec<Marker>,
    /// Picture width in pixels (at least 320).
    pub width: usize,
    /// Picture height in pixels (at least 240).
    pub height: usize,
}

impl Chart {
    /// An empty 800×480 line chart with a linear y axis.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        Chart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            y_scale: Scale::Linear,
            style: Style::Lines,
            series: Vec::new(),
            markers: Vec::new(),
            width: 800,
            height: 480,
        }
    }

    /// Sets [`Chart::y_scale`].
    pub fn with_y_scale(mut self, scale: Scale) -> Self {
        self.y_scale = scale;
        self
    }

    /// Sets [`Chart::style`].
    pub fn with_style(mut self, style: Style) -> Self {
        self.style = style;
        self
    }

    /// Adds a series.
    pub fn with_series(mut self, series: Series) -> Self {
        self.series.push(series);
        self
    }

    /// Adds a marker.
    pub fn with_marker(mut self, x: f64, label: impl Into<String>) -> Self {
        self.markers.push(Marker {
            x,
            label: label.into(),
        });
        self
    }

    /// Draws the chart as a `[3, height, width]` RGB picture. A chart with no drawable point
    /// still gets its frame, title and labels.
    pub fn render(&self) -> Array3<f32> {
        let (width, height) = (self.width.max(320), self.height.max(240));
        let mut canvas = Canvas::new(width, height);
        let log = self.y_scale == Scale::Log10;
        let keep = |&(x, y): &(f64, f64)| x.is_finite() && y.is_finite() && (!log || y > 0.0);
        let points: Vec<(f64, f64)> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().copied().filter(keep))
            .collect();
        let xs = range(
            points
                .iter()
                .map(|p| p.0)
                .chain(self.markers.iter().map(|m| m.x)),
        );
        // separate points keep clear of the frame
        let xs = match self.style {
            Style::Points => (xs.0 - 0.05 * (xs.1 - xs.0), xs.1 + 0.05 * (xs.1 - xs.0)),
            Style::Lines => xs,
        };
        let ys = range(points.iter().map(|p| if log { p.1.log10() } else { p.1 }));
        let y_ticks = if log { log_ticks(ys) } else { linear_ticks(ys) };
        let x_ticks = linear_ticks(xs);
        let y_lo = y_ticks.first().map_or(0.0, |t| t.0).min(ys.0);
        let y_hi = y_ticks.last().map_or(1.0, |t| t.0).max(ys.1);
        let (x_lo, x_hi) = (
            x_ticks.first().map_or(xs.0, |t| t.0).min(xs.0),
            x_ticks.last().map_or(xs.1, |t| t.0).max(xs.1),
        );
        let label_w = y_ticks.iter().map(|t| text_width(&t.1)).max().unwrap_or(0);
        let area = Area {
            left: label_w + 16,
            right: width - 16,
            top: 2 * LINE_H + 12,
            bottom: height - 2 * LINE_H - 14,
            x: (x_lo, if x_hi > x_lo { x_hi } else { x_lo + 1.0 }),
            y: (y_lo, if y_hi > y_lo { y_hi } else { y_lo + 1.0 }),
        };
        canvas.headings(&area, &self.title, &self.y_label, &y_ticks);
        for (value, label) in &x_ticks {
            let x = area.px(*value);
            canvas.vline(x, area.top, area.bottom, GRID);
            canvas.vline(x, area.bottom, area.bottom + 5, BLACK);
            let w = text_width(label);
            canvas.text(x.saturating_sub(w / 2), area.bottom + 8, label, BLACK);
        }
        canvas.frame(area.left, area.top, area.right, area.bottom, BLACK);
        let xw = text_width(&self.x_label);
        canvas.text(
            (area.left + area.right).saturating_sub(xw) / 2,
            height - LINE_H - 4,
            &self.x_label,
            MARK,
        );
        for marker in &self.markers {
            let x = area.px(marker.x);
            canvas.dashed_vline(x, area.top, area.bottom, MARK);
            let w = text_width(&marker.label);
            let tx = if x + 6 + w < area.right {
                x + 6
            } else {
                x.saturating_sub(w + 6)
            };
            // at the foot of the line: the legend sits at the top right
            canvas.text(tx, area.bottom - LINE_H - 4, &marker.label, MARK);
        }
        // point labels drawn so far: (x, y, width), so that later ones can avoid them
        let mut placed: Vec<(usize, usize, usize)> = Vec::new();
        for (i, series) in self.series.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let mut previous: Option<(usize, usize)> = None;
            for &(x, y) in &series.points {
                if !keep(&(x, y)) {
                    previous = None;
                    continue;
                }
                let p = (area.px(x), area.py(if log { y.log10() } else { y }));
                match self.style {
                    Style::Lines => {
                        let from = previous.unwrap_or(p);
                        canvas.line(from, p, colour);
                    }
                    Style::Points => {
                        canvas.dot(p, colour);
                        let at = label_place(p, text_width(&series.label), &area, &placed);
                        placed.push((at.0, at.1, text_width(&series.label)));
                        canvas.text(at.0, at.1, &series.label, BLACK);
                    }
                }
                previous = Some(p);
            }
        }
        if self.style == Style::Lines {
            let labels: Vec<&str> = self.series.iter().map(|s| s.label.as_str()).collect();
            canvas.legend(area.right, area.top, &labels);
        }
        canvas.img
    }
}

/// Grouped bars: for each group (e.g. a benchmark category) one bar per series (e.g. method).
#[derive(Clone, Debug, PartialEq)]
pub struct BarChart {
    /// Title above the plot.
    pub title: String,
    /// Label of the y axis (written above it).
    pub y_label: String,
    /// Group names along the x axis.
    pub groups: Vec<String>,
    /// `(series label, one value per group)`; missing or non-finite values leave a gap.
    pub series: Vec<(String, Vec<f64>)>,
    /// Picture width in pixels (at least 320).
    pub width: usize,
    /// Picture height in pixels (at least 240).
    pub height: usize,
}

impl BarChart {
    /// Draws the chart as a `[3, height, width]` RGB picture. The y axis starts at a round
    /// value below the smallest bar (not at 0), each bar's value is written above it.
    pub fn render(&self) -> Array3<f32> {
        let (width, height) = (self.width.max(320), self.height.max(240));
        let mut canvas = Canvas::new(width, height);
        let values = self
            .series
            .iter()
            .flat_map(|s| s.1.iter().copied())
            .filter(|v| v.is_finite());
        let (lo, hi) = range(values);
        let pad = ((hi - lo) * 0.15).max(1e-9);
        let ticks = linear_ticks((lo - pad, hi + pad));
        let y_lo = ticks.first().map_or(lo, |t| t.0);
        let y_hi = ticks.last().map_or(hi, |t| t.0).max(hi + pad);
        let label_w = ticks.iter().map(|t| text_width(&t.1)).max().unwrap_or(0);
        let area = Area {
            left: label_w + 16,
            right: width - 16,
            top: 2 * LINE_H + 12,
            bottom: height - LINE_H - 14,
            x: (0.0, self.groups.len().max(1) as f64),
            y: (y_lo, if y_hi > y_lo { y_hi } else { y_lo + 1.0 }),
        };
        canvas.headings(&area, &self.title, &self.y_label, &ticks);
        let n = self.series.len().max(1);
        let group_w = (area.right - area.left) / self.groups.len().max(1);
        let bar_w = (group_w * 3 / 4) / n;
        for (g, name) in self.groups.iter().enumerate() {
            let x0 = area.left + g * group_w + group_w / 8;
            for (i, (_, values)) in self.series.iter().enumerate() {
                let Some(&v) = values.get(g).filter(|v| v.is_finite()) else {
                    continue;
                };
                let top = area.py(v.min(area.y.1));
                let left = x0 + i * bar_w;
                canvas.fill(
                    left + 1,
                    top,
                    left + bar_w.saturating_sub(1),
                    area.bottom,
                    PALETTE[i % PALETTE.len()],
                );
                let label = format!("{v:.1}");
                let w = label.chars().count() * GLYPH_W / SCALE;
                if w <= bar_w + 4 {
                    canvas.text_scaled(
                        (left + bar_w / 2).saturating_sub(w / 2),
                        top.saturating_sub(10),
                        &label,
                        BLACK,
                        1,
                    );
                }
            }
            let w = text_width(name);
            canvas.text(
                (area.left + g * group_w + group_w / 2).saturating_sub(w / 2),
                area.bottom + 8,
                name,
                BLACK,
            );
        }
        canvas.frame(area.left, area.top, area.right, area.bottom, BLACK);
        let labels: Vec<&str> = self.series.iter().map(|s| s.0.as_str()).collect();
        canvas.legend(area.right, area.top, &labels);
        canvas.img
    }
}

/// Where the label of a point at `p` goes: right of it, else left of it, else above or below
/// it, whichever first stays inside `area` and clear of the labels `placed`.
fn label_place(
    p: (usize, usize),
    width: usize,
    area: &Area,
    placed: &[(usize, usize, usize)],
) -> (usize, usize) {
    let height = 7 * SCALE;
    let y = p.1.saturating_sub(3 * SCALE);
    let candidates = [
        (p.0 + 8, y),
        (p.0.saturating_sub(8 + width), y),
        (
            p.0.saturating_sub(width / 2),
            p.1.saturating_sub(height + 8),
        ),
        (p.0.saturating_sub(width / 2), p.1 + 8),
    ];
    let fits = |&(x, y): &(usize, usize)| {
        x > area.left
            && x + width < area.right
            && y > area.top
            && y + height < area.bottom
            && placed.iter().all(|&(px, py, pw)| {
                x + width + 4 <= px
                    || px + pw + 4 <= x
                    || y + height + 2 <= py
                    || py + height + 2 <= y
            })
    };
    candidates
        .iter()
        .copied()
        .find(fits)
        .unwrap_or(candidates[0])
}

/// The plot area in pixels and the data range it shows.
struct Area {
    left: usize,
    right: usize,
    top: usize,
    bottom: usize,
    x: (f64, f64),
    y: (f64, f64),
}

impl Area {
    fn px(&self, x: f64) -> usize {
        let f = ((x - self.x.0) / (self.x.1 - self.x.0)).clamp(0.0, 1.0);
        self.left + (f * (self.right - self.left) as f64).round() as usize
    }

    fn py(&self, y: f64) -> usize {
        let f = ((y - self.y.0) / (self.y.1 - self.y.0)).clamp(0.0, 1.0);
        self.bottom - (f * (self.bottom - self.top) as f64).round() as usize
    }
}

/// Smallest and largest finite value, `(0, 1)` for none.
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if lo > hi {
        (0.0, 1.0)
    } else if lo == hi {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    }
}

/// Round tick values covering `(lo, hi)`: steps of 1, 2 or 5 × 10^k, 4 to 10 ticks.
fn linear_ticks((lo, hi): (f64, f64)) -> Vec<(f64, String)> {
    let raw = (hi - lo) / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| (hi - lo) / s <= 8.0)
        .unwrap_or(10.0 * magnitude);
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let first = (lo / step).floor() as i64;
    let last = (hi / step).ceil() as i64;
    (first..=last)
        .map(|i| {
            let v = i as f64 * step;
            (v, format!("{v:.decimals$}"))
        })
        .collect()
}

/// Ticks of a log₁₀ axis over exponents `(lo, hi)`: every decade (every second or fifth one
/// over a wide range), plus 2 and 5 within the decade when the range spans less than two.
fn log_ticks((lo, hi): (f64, f64)) -> Vec<(f64, String)> {
    let (first, last) = (lo.floor() as i32, hi.ceil() as i32);
    let stride = match last - first {
        0..=8 => 1,
        9..=20 => 2,
        _ => 5,
    };
    let mut ticks = Vec::new();
    for e in (first..=last).step_by(stride as usize) {
        ticks.push((f64::from(e), power_label(1.0, e)));
        if last - first < 2 && e < last {
            for m in [2.0f64, 5.0] {
                ticks.push((f64::from(e) + m.log10(), power_label(m, e)));
            }
        }
    }
    ticks
}

/// `m × 10^e` written plainly for moderate exponents, else as `me-5`.
fn power_label(m: f64, e: i32) -> String {
    if (-3..=4).contains(&e) {
        let v = m * 10f64.powi(e);
        let decimals = (-e).max(0) as usize;
        format!("{v:.decimals$}")
    } else {
        format!("{m}e{e}")
    }
}

fn text_width(text: &str) -> usize {
    text.chars().count() * GLYPH_W
}

/// A white RGB picture with drawing primitives.
struct Canvas {
    img: Array3<f32>,
    width: usize,
    height: usize,
}

impl Canvas {
    fn new(width: usize, height: usize) -> Self {
        Canvas {
            img: Array3::from_elem((3, height, width), 1.0),
            width,
            height,
        }
    }

    fn set(&mut self, x: usize, y: usize, colour: Rgb) {
        if x < self.width && y < self.height {
            for (c, v) in colour.iter().enumerate() {
                self.img[[c, y, x]] = *v;
            }
        }
    }

    fn fill(&mut self, x0: usize, y0: usize, x1: usize, y1: usize, colour: Rgb) {
        for y in y0..y1 {
            for x in x0..x1 {
                self.set(x, y, colour);
            }
        }
    }

    fn hline(&mut self, x0: usize, x1: usize, y: usize, colour: Rgb) {
        self.fill(x0, y, x1 + 1, y + 1, colour);
    }

    fn vline(&mut self, x: usize, y0: usize, y1: usize, colour: Rgb) {
        self.fill(x, y0, x + 1, y1 + 1, colour);
    }

    fn dashed_vline(&mut self, x: usize, y0: usize, y1: usize, colour: Rgb) {
        for y in (y0..=y1).filter(|y| (y / 4) % 2 == 0) {
            self.set(x, y, colour);
        }
    }

    /// The title and the y label above `area`, and the y ticks: grid lines with their values.
    fn headings(&mut self, area: &Area, title: &str, y_label: &str, ticks: &[(f64, String)]) {
        self.text(area.left, 6, title, BLACK);
        self.text(area.left, 6 + LINE_H, y_label, MARK);
        for (value, label) in ticks {
            let y = area.py(*value);
            self.hline(area.left, area.right, y, GRID);
            self.text(
                area.left - 8 - text_width(label),
                y.saturating_sub(3 * SCALE),
                label,
                BLACK,
            );
        }
    }

    fn frame(&mut self, x0: usize, y0: usize, x1: usize, y1: usize, colour: Rgb) {
        self.hline(x0, x1, y0, colour);
        self.hline(x0, x1, y1, colour);
        self.vline(x0, y0, y1, colour);
        self.vline(x1, y0, y1, colour);
    }

    /// A two-pixel-wide straight line.
    fn line(&mut self, (x0, y0): (usize, usize), (x1, y1): (usize, usize), colour: Rgb) {
        let (dx, dy) = (x1 as f64 - x0 as f64, y1 as f64 - y0 as f64);
        let steps = dx.abs().max(dy.abs()).ceil().max(1.0) as usize;
        for t in 0..=steps {
            let f = t as f64 / steps as f64;
            let (x, y) = (
                (x0 as f64 + dx * f).round() as usize,
                (y0 as f64 + dy * f).round() as usize,
            );
            self.fill(x, y, x + 2, y + 2, colour);
        }
    }

    fn dot(&mut self, (x, y): (usize, usize), colour: Rgb) {
        self.fill(
            x.saturating_sub(3),
            y.saturating_sub(3),
            x + 4,
            y + 4,
            colour,
        );
    }

    fn text(&mut self, x: usize, y: usize, text: &str, colour: Rgb) {
        self.text_scaled(x, y, text, colour, SCALE);
    }

    /// Text with each font pixel drawn as a `scale`² square.
    fn text_scaled(&mut self, x: usize, y: usize, text: &str, colour: Rgb, scale: usize) {
        for (i, ch) in text.chars().enumerate() {
            let glyph = glyph(ch);
            let left = x + i * 6 * scale;
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0b10000 >> col) != 0 {
                        let (px, py) = (left + col * scale, y + row * scale);
                        self.fill(px, py, px + scale, py + scale, colour);
                    }
                }
            }
        }
    }

    /// A boxed legend whose top-right corner is 8 px inside `(right, top)`.
    fn legend(&mut self, right: usize, top: usize, labels: &[&str]) {
        if labels.is_empty() {
            return;
        }
        let w = labels.iter().map(|l| text_width(l)).max().unwrap_or(0) + 36;
        let h = labels.len() * LINE_H + 8;
        let (x0, y0) = (right.saturating_sub(w + 8), top + 8);
        self.fill(x0, y0, x0 + w, y0 + h, [1.0, 1.0, 1.0]);
        self.frame(x0, y0, x0 + w, y0 + h, MARK);
        for (i, label) in labels.iter().enumerate() {
            let y = y0 + 5 + i * LINE_H;
            self.fill(x0 + 6, y + 3, x0 + 22, y + 10, PALETTE[i % PALETTE.len()]);
            self.text(x0 + 28, y, label, BLACK);
        }
    }
}

/// The 5×7 pattern of a character (bit 4 = leftmost column).
fn glyph(ch: char) -> [u8; 7] {
    let ch = match ch {
        '−' | '–' => '-',
        c if (' '..='~').contains(&c) => c,
        _ => '?',
    };
    FONT[ch as usize - 32]
}

/// Printable ASCII, `' '` to `'~'`, 7 rows of 5 bits each (drawn for this crate).
const FONT: [[u8; 7]; 95] = [
    [
        0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000,
    ], // ' '
    [
        0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00000, 0b00100,
    ], // '!'
    [
        0b01010, 0b01010, 0b01010, 0b00000, 0b00000, 0b00000, 0b00000,
    ], // '"'
    [
        0b01010, 0b01010, 0b11111, 0b01010, 0b11111, 0b01010, 0b01010,
    ], // '#'
    [
        0b00100, 0b01111, 0b10100, 0b01110, 0b00101, 0b11110, 0b00100,
    ], // '$'
    [
        0b11000, 0b11001, 0b00010, 0b00100, 0b01000, 0b10011, 0b00011,
    ], // '%'
    [
        0b01100, 0b10010, 0b10100, 0b01000, 0b10101, 0b10010, 0b01101,
    ], // '&'
    [
        0b00100, 0b00100, 0b01000, 0b00000, 0b00000, 0b00000, 0b00000,
    ], // "'"
    [
        0b00010, 0b00100, 0b01000, 0b01000, 0b01000, 0b00100, 0b00010,
    ], // '('
    [
        0b01000, 0b00100, 0b00010, 0b00010, 0b00010, 0b00100, 0b01000,
    ], // ')'
    [
        0b00000, 0b00100, 0b10101, 0b01110, 0b10101, 0b00100, 0b00000,
    ], // '*'
    [
        0b00000, 0b00100, 0b00100, 0b11111, 0b00100, 0b00100, 0b00000,
    ], // '+'
    [
        0b00000, 0b00000, 0b00000, 0b00000, 0b01100, 0b00100, 0b01000,
    ], // ','
    [
        0b00000, 0b00000, 0b00000, 0b11111, 0b00000, 0b00000, 0b00000,
    ], // '-'
    [
        0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b01100, 0b01100,
    ], // '.'
    [
        0b00000, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b00000,
    ], // '/'
    [
        0b01110, 0b10001, 0b10011, 0b10101, 0b11001, 0b10001, 0b01110,
    ], // '0'
    [
        0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110,
    ], // '1'
    [
        0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b01000, 0b11111,
    ], // '2'
    [
        0b11111, 0b00010, 0b00100, 0b00010, 0b00001, 0b10001, 0b01110,
    ], // '3'
    [
        0b00010, 0b00110, 0b01010, 0b10010, 0b11111, 0b00010, 0b00010,
    ], // '4'
    [
        0b11111, 0b10000, 0b11110, 0b00001, 0b00001, 0b10001, 0b01110,
    ], // '5'
    [
        0b00110, 0b01000, 0b10000, 0b11110, 0b10001, 0b10001, 0b01110,
    ], // '6'
    [
        0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b01000, 0b01000,
    ], // '7'
    [
        0b01110, 0b10001, 0b10001, 0b01110, 0b10001, 0b10001, 0b01110,
    ], // '8'
    [
        0b01110, 0b10001, 0b10001, 0b01111, 0b00001, 0b00010, 0b01100,
    ], // '9'
    [
        0b00000, 0b01100, 0b01100, 0b00000, 0b01100, 0b01100, 0b00000,
    ], // ':'
    [
        0b00000, 0b01100, 0b01100, 0b00000, 0b01100, 0b00100, 0b01000,
    ], // ';'
    [
        0b00010, 0b00100, 0b01000, 0b10000, 0b01000, 0b00100, 0b00010,
    ], // '<'
    [
        0b00000, 0b00000, 0b11111, 0b00000, 0b11111, 0b00000, 0b00000,
    ], // '='
    [
        0b01000, 0b00100, 0b00010, 0b00001, 0b00010, 0b00100, 0b01000,
    ], // '>'
    [
        0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b00000, 0b00100,
    ], // '?'
    [
        0b01110, 0b10001, 0b00001, 0b01101, 0b10101, 0b10101, 0b01110,
    ], // '@'
    [
        0b01110, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001,
    ], // 'A'
    [
        0b11110, 0b10001, 0b10001, 0b11110, 0b10001, 0b10001, 0b11110,
    ], // 'B'
    [
        0b01110, 0b10001, 0b10000, 0b10000, 0b10000, 0b10001, 0b01110,
    ], // 'C'
    [
        0b11100, 0b10010, 0b10001, 0b10001, 0b10001, 0b10010, 0b11100,
    ], // 'D'
    [
        0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b11111,
    ], // 'E'
    [
        0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b10000,
    ], // 'F'
    [
        0b01110, 0b10001, 0b10000, 0b10111, 0b10001, 0b10001, 0b01111,
    ], // 'G'
    [
        0b10001, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001,
    ], // 'H'
    [
        0b01110, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110,
    ], // 'I'
    [
        0b00111, 0b00010, 0b00010, 0b00010, 0b00010, 0b10010, 0b01100,
    ], // 'J'
    [
        0b10001, 0b10010, 0b10100, 0b11000, 0b10100, 0b10010, 0b10001,
    ], // 'K'
    [
        0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b11111,
    ], // 'L'
    [
        0b10001, 0b11011, 0b10101, 0b10101, 0b10001, 0b10001, 0b10001,
    ], // 'M'
    [
        0b10001, 0b10001, 0b11001, 0b10101, 0b10011, 0b10001, 0b10001,
    ], // 'N'
    [
        0b01110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110,
    ], // 'O'
    [
        0b11110, 0b10001, 0b10001, 0b11110, 0b10000, 0b10000, 0b10000,
    ], // 'P'
    [
        0b01110, 0b10001, 0b10001, 0b10001, 0b10101, 0b10010, 0b01101,
    ], // 'Q'
    [
        0b11110, 0b10001, 0b10001, 0b11110, 0b10100, 0b10010, 0b10001,
    ], // 'R'
    [
        0b01111, 0b10000, 0b10000, 0b01110, 0b00001, 0b00001, 0b11110,
    ], // 'S'
    [
        0b11111, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100,
    ], // 'T'
    [
        0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110,
    ], // 'U'
    [
        0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01010, 0b00100,
    ], // 'V'
    [
        0b10001, 0b10001, 0b10001, 0b10101, 0b10101, 0b10101, 0b01010,
    ], // 'W'
    [
        0b10001, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001, 0b10001,
    ], // 'X'
    [
        0b10001, 0b10001, 0b10001, 0b01010, 0b00100, 0b00100, 0b00100,
    ], // 'Y'
    [
        0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b11111,
    ], // 'Z'
    [
        0b01110, 0b01000, 0b01000, 0b01000, 0b01000, 0b01000, 0b01110,
    ], // '['
    [
        0b00000, 0b10000, 0b01000, 0b00100, 0b00010, 0b00001, 0b00000,
    ], // '\\'
    [
        0b01110, 0b00010, 0b00010, 0b00010, 0b00010, 0b00010, 0b01110,
    ], // ']'
    [
        0b00100, 0b01010, 0b10001, 0b00000, 0b00000, 0b00000, 0b00000,
    ], // '^'
    [
        0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b11111,
    ], // '_'
    [
        0b01000, 0b00100, 0b00010, 0b00000, 0b00000, 0b00000, 0b00000,
    ], // '`'
    [
        0b00000, 0b00000, 0b01110, 0b00001, 0b01111, 0b10001, 0b01111,
    ], // 'a'
    [
        0b10000, 0b10000, 0b10110, 0b11001, 0b10001, 0b10001, 0b11110,
    ], // 'b'
    [
        0b00000, 0b00000, 0b01110, 0b10000, 0b10000, 0b10001, 0b01110,
    ], // 'c'
    [
        0b00001, 0b00001, 0b01101, 0b10011, 0b10001, 0b10001, 0b01111,
    ], // 'd'
    [
        0b00000, 0b00000, 0b01110, 0b10001, 0b11111, 0b10000, 0b01110,
    ], // 'e'
    [
        0b00110, 0b01001, 0b01000, 0b11100, 0b01000, 0b01000, 0b01000,
    ], // 'f'
    [
        0b00000, 0b01111, 0b10001, 0b10001, 0b01111, 0b00001, 0b01110,
    ], // 'g'
    [
        0b10000, 0b10000, 0b10110, 0b11001, 0b10001, 0b10001, 0b10001,
    ], // 'h'
    [
        0b00100, 0b00000, 0b01100, 0b00100, 0b00100, 0b00100, 0b01110,
    ], // 'i'
    [
        0b00010, 0b00000, 0b00110, 0b00010, 0b00010, 0b10010, 0b01100,
    ], // 'j'
    [
        0b10000, 0b10000, 0b10010, 0b10100, 0b11000, 0b10100, 0b10010,
    ], // 'k'
    [
        0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110,
    ], // 'l'
    [
        0b00000, 0b00000, 0b11010, 0b10101, 0b10101, 0b10001, 0b10001,
    ], // 'm'
    [
        0b00000, 0b00000, 0b10110, 0b11001, 0b10001, 0b10001, 0b10001,
    ], // 'n'
    [
        0b00000, 0b00000, 0b01110, 0b10001, 0b10001, 0b10001, 0b01110,
    ], // 'o'
    [
        0b00000, 0b00000, 0b11110, 0b10001, 0b11110, 0b10000, 0b10000,
    ], // 'p'
    [
        0b00000, 0b00000, 0b01101, 0b10011, 0b01111, 0b00001, 0b00001,
    ], // 'q'
    [
        0b00000, 0b00000, 0b10110, 0b11001, 0b10000, 0b10000, 0b10000,
    ], // 'r'
    [
        0b00000, 0b00000, 0b01110, 0b10000, 0b01110, 0b00001, 0b11110,
    ], // 's'
    [
        0b01000, 0b01000, 0b11100, 0b01000, 0b01000, 0b01001, 0b00110,
    ], // 't'
    [
        0b00000, 0b00000, 0b10001, 0b10001, 0b10001, 0b10011, 0b01101,
    ], // 'u'
    [
        0b00000, 0b00000, 0b10001, 0b10001, 0b10001, 0b01010, 0b00100,
    ], // 'v'
    [
        0b00000, 0b00000, 0b10001, 0b10001, 0b10101, 0b10101, 0b01010,
    ], // 'w'
    [
        0b00000, 0b00000, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001,
    ], // 'x'
    [
        0b00000, 0b00000, 0b10001, 0b10001, 0b01111, 0b00001, 0b01110,
    ], // 'y'
    [
        0b00000, 0b00000, 0b11111, 0b00010, 0b00100, 0b01000, 0b11111,
    ], // 'z'
    [
        0b00010, 0b00100, 0b00100, 0b01000, 0b00100, 0b00100, 0b00010,
    ], // '{'
    [
        0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100,
    ], // '|'
    [
        0b01000, 0b00100, 0b00100, 0b00010, 0b00100, 0b00100, 0b01000,
    ], // '}'
    [
        0b00000, 0b00000, 0b01000, 0b10101, 0b00010, 0b00000, 0b00000,
    ], // '~'
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_are_round_and_cover_the_range() {
        let ticks = linear_ticks((0.3, 9.2));
        let values: Vec<f64> = ticks.iter().map(|t| t.0).collect();
        assert_eq!(values, vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let labels: Vec<String> = linear_ticks((16.2, 18.9))
            .into_iter()
            .map(|t| t.1)
            .collect();
        assert_eq!(
            labels,
            vec!["16.0", "16.5", "17.0", "17.5", "18.0", "18.5", "19.0"]
        );
    }

    #[test]
    fn log_ticks_name_the_decades() {
        let labels: Vec<String> = log_ticks((-4.2, -0.1)).into_iter().map(|t| t.1).collect();
        assert_eq!(labels, vec!["1e-5", "1e-4", "0.001", "0.01", "0.1", "1"]);
        // a narrow range gets 2 and 5 within the decade
        let labels: Vec<String> = log_ticks((-2.9, -2.1)).into_iter().map(|t| t.1).collect();
        assert_eq!(labels, vec!["0.001", "0.002", "0.005", "0.01"]);
    }

    #[test]
    fn glyphs_draw_digits_and_map_unknown_characters() {
        // '1': a vertical stroke in the middle column on every row
        assert!(glyph('1').iter().all(|row| row & 0b00100 != 0));
        assert_eq!(glyph('−'), glyph('-'));
        assert_eq!(glyph('λ'), glyph('?'));
        assert_eq!(glyph(' '), [0; 7]);
    }

    #[test]
    fn a_chart_draws_its_curve_in_the_series_colour_and_text_in_black() {
        let chart = Chart::new("loss", "step", "loss (log scale)")
            .with_y_scale(Scale::Log10)
            .with_series(Series::from_values("MSE", &[1.0, 0.1, 0.01, 0.001], 0.0))
            .with_marker(2.0, "1 - SSIM from here");
        let img = chart.render();
        assert_eq!(img.dim(), (3, 480, 800));
        let count = |colour: Rgb| {
            (0..480)
                .flat_map(|y| (0..800).map(move |x| (y, x)))
                .filter(|&(y, x)| (0..3).all(|c| img[[c, y, x]] == colour[c]))
                .count()
        };
        assert!(count(PALETTE[0]) > 400, "the curve spans the plot");
        assert!(count(BLACK) > 1000, "frame, ticks and labels");
        assert!(count(MARK) > 100, "the marker and axis labels");
    }

    #[test]
    fn a_point_label_moves_aside_for_an_earlier_one() {
        let area = Area {
            left: 10,
            right: 790,
            top: 10,
            bottom: 470,
            x: (0.0, 1.0),
            y: (0.0, 1.0),
        };
        let first = label_place((300, 200), 120, &area, &[]);
        assert_eq!(
            first,
            (308, 200 - 3 * SCALE),
            "right of the point by default"
        );
        // a second point just left of the first label: its own right side is taken
        let second = label_place((290, 202), 120, &area, &[(first.0, first.1, 120)]);
        assert_eq!(second, (162, 202 - 3 * SCALE), "left of the point instead");
    }

    #[test]
    fn bars_rise_with_their_values() {
        let chart = BarChart {
            title: "PSNR by category".into(),
            y_label: "dB".into(),
            groups: vec!["a".into(), "b".into()],
            series: vec![("blurred".into(), vec![15.0, 20.0])],
            width: 400,
            height: 300,
        };
        let img = chart.render();
        let height_of = |x: usize| {
            (0..300)
                .filter(|&y| (0..3).all(|c| img[[c, y, x]] == PALETTE[0][c]))
                .count()
        };
        // the plot spans x from the labels' width + 16 to 384; each group is half of it
        let columns: Vec<usize> = (0..400).filter(|&x| height_of(x) > 0).collect();
        let (first, last) = (columns[0], columns[columns.len() - 1]);
        assert!(
            height_of(last) > 2 * height_of(first),
            "{} vs {}",
            height_of(last),
            height_of(first)
        );
    }
}
