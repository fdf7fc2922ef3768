//! Draws the benchmark charts of `docs/benchmarks.md` from the CSV files in `docs/data`:
//! the Lai per-category means (blurred input, the default `deblur blind`, the true-kernel bound)
//! and PSNR gain against seconds for the coarse-to-fine estimator's alternation settings.
//!
//! ```text
//! cargo run --release --example benchmark_charts            # writes docs/img/*.png
//! ```

use std::collections::BTreeMap;
use std::error::Error;
use std::path::Path;

use deblur::core::plot::{BarChart, Chart, Series, Style};
use deblur::core::{BitDepth, save_image};

/// Rows of a CSV file with a header, as maps from column name to text (no quoted commas except
/// in a quoted first column).
fn read_csv(path: &Path) -> Result<Vec<BTreeMap<String, String>>, Box<dyn Error>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .ok_or_else(|| format!("{}: empty", path.display()))?
        .split(',')
        .map(str::to_string)
        .collect();
    let mut rows = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let fields: Vec<String> = match line.strip_prefix('"') {
            Some(rest) => {
                let (first, tail) = rest
                    .split_once("\",")
                    .ok_or_else(|| format!("{}: unclosed quote", path.display()))?;
                std::iter::once(first.to_string())
                    .chain(tail.split(',').map(str::to_string))
                    .collect()
            }
            None => line.split(',').map(str::to_string).collect(),
        };
        rows.push(header.iter().cloned().zip(fields).collect());
    }
    Ok(rows)
}

fn number(row: &BTreeMap<String, String>, column: &str) -> Result<f64, Box<dyn Error>> {
    Ok(row
        .get(column)
        .ok_or_else(|| format!("no column {column}"))?
        .parse::<f64>()?)
}

/// Mean of `column` per category, in the order `categories`.
fn category_means(
    rows: &[BTreeMap<String, String>],
    categories: &[&str],
    column: &str,
) -> Result<Vec<f64>, Box<dyn Error>> {
    let mut means = Vec::new();
    for category in categories {
        let values: Vec<f64> = rows
            .iter()
            .filter(|r| r.get("category").map(String::as_str) == Some(*category))
            .map(|r| number(r, column))
            .collect::<Result<_, _>>()?;
        means.push(values.iter().sum::<f64>() / values.len().max(1) as f64);
    }
    Ok(means)
}

fn main() -> Result<(), Box<dyn Error>> {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let default = read_csv(&docs.join("data/lai_default.csv"))?;
    let bound = read_csv(&docs.join("data/lai_nonblind.csv"))?;
    let categories = ["manmade", "natural", "people", "saturated", "text"];
    let bars = BarChart {
        title: "Lai et al. 2016 uniform set, 52 cases: mean PSNR per category".into(),
        y_label: "PSNR (dB)".into(),
        groups: categories.iter().map(|c| c.to_string()).collect(),
        series: vec![
            (
                "blurred input".into(),
                category_means(&default, &categories, "blurred_psnr")?,
            ),
            (
                "deblur blind (default)".into(),
                category_means(&default, &categories, "psnr")?,
            ),
            (
                "true kernel, same final step".into(),
                category_means(&bound, &categories, "psnr")?,
            ),
        ],
        width: 900,
        height: 460,
    };
    let path = docs.join("img/lai_categories.png");
    save_image(&path, &bars.render(), BitDepth::Eight)?;
    println!("wrote {}", path.display());

    let sweep = read_csv(&docs.join("data/l0_alternations.csv"))?;
    let mut chart = Chart::new(
        "L0 estimator: alternations per level x lambda decay (6 cases)",
        "seconds per case (2 cores)",
        "mean PSNR gain over the blurred input (dB)",
    )
    .with_style(Style::Points);
    for row in &sweep {
        chart = chart.with_series(Series {
            label: row["setting"].clone(),
            points: vec![(
                number(row, "seconds_per_case")?,
                number(row, "mean_gain_db")?,
            )],
        });
    }
    chart.width = 900;
    let path = docs.join("img/l0_alternations.png");
    save_image(&path, &chart.render(), BitDepth::Eight)?;
    println!("wrote {}", path.display());
    Ok(())
}
