//! `deblur batch`: blind deblurring of a folder, resumable and shardable across machines.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use deblur_core::{load_image_limited, save_image};
use deblur_optim::deblur_blind;
use deblur_optim::solver::Silent;
use indicatif::{ProgressBar, ProgressStyle};

use crate::solve_cmds::BlindOptionArgs;

#[derive(Args, Debug)]
pub struct BatchArgs {
    /// Folder of blurred images (PNG, JPEG, TIFF, BMP; its sub-folders are not read).
    input: PathBuf,
    /// Folder for the restored images, under the input's file names (created if missing).
    output: PathBuf,
    /// Process shard K of N only (1-based): the images, sorted by file name, are dealt out in
    /// turn, image i to shard i mod N + 1; N processes with K = 1..N cover the folder once
    /// (e.g. Slurm: --shard $((SLURM_ARRAY_TASK_ID+1))/$SLURM_ARRAY_TASK_COUNT).
    #[arg(long, value_parser = parse_shard, default_value = "1/1")]
    shard: Shard,
    #[command(flatten)]
    blind: BlindOptionArgs,
}

/// Shard `index` (1-based) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    index: usize,
    count: usize,
}

fn parse_shard(text: &str) -> Result<Shard, String> {
    let (k, n) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?}: expected K/N, e.g. 2/4"))?;
    let parse = |s: &str| {
        s.trim()
            .parse::<usize>()
            .map_err(|_| format!("{text:?}: expected K/N with whole numbers, e.g. 2/4"))
    };
    let (index, count) = (parse(k)?, parse(n)?);
    if count == 0 || index == 0 || index > count {
        return Err(format!("{text:?}: K/N needs 1 ≤ K ≤ N"));
    }
    Ok(Shard { index, count })
}

/// The images of `dir` (by extension), sorted by file name.
pub(crate) fn list_images(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut images: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            p.extension()
                .map(|e| e.to_string_lossy().to_ascii_lowercase())
                .is_some_and(|e| {
                    matches!(e.as_str(), "png" | "jpg" | "jpeg" | "tif" | "tiff" | "bmp")
                })
        })
        .collect();
    images.sort();
    Ok(images)
}

/// The images of shard `shard` among `images` (in their order).
fn shard_of(images: Vec<PathBuf>, shard: Shard) -> Vec<PathBuf> {
    images
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % shard.count + 1 == shard.index)
        .map(|(_, p)| p)
        .collect()
}

/// A JSON string literal.
fn json_string(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

pub fn batch(args: BatchArgs) -> Result<(), Box<dyn std::error::Error>> {
    let images = list_images(&args.input)?;
    if images.is_empty() {
        return Err(format!(
            "{}: no PNG, JPEG, TIFF or BMP images in this folder",
            args.input.display()
        )
        .into());
    }
    let (options, models, request) = args.blind.prepare()?;
    let space = options.load_kernel_space()?;
    let denoiser = options.load_denoiser(&request)?;
    std::fs::create_dir_all(&args.output).map_err(|e| format!("{}: {e}", args.output.display()))?;
    let same_folder = std::fs::canonicalize(&args.input)? == std::fs::canonicalize(&args.output)?;
    if same_folder {
        return Err(format!(
            "{}: the output folder is the input folder; the results would replace the inputs",
            args.output.display()
        )
        .into());
    }
    let mine = shard_of(images, args.shard);
    let report_path = args.output.join(format!(
        "report-{}-of-{}.jsonl",
        args.shard.index, args.shard.count
    ));
    let mut report = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&report_path)
        .map_err(|e| format!("{}: {e}", report_path.display()))?;
    let bar = ProgressBar::new(mine.len() as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} images  {msg}  ETA {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    let (mut done, mut skipped, mut failed) = (0usize, 0usize, 0usize);
    for input in &mine {
        let name = input.file_name().unwrap_or_default();
        let output = args.output.join(name);
        bar.set_message(name.to_string_lossy().to_string());
        // outputs are written atomically: one that exists is finished
        let line = if output.exists() {
            skipped += 1;
            format!(
                "{{\"input\":{},\"output\":{},\"status\":\"skipped\"}}",
                json_string(&input.display().to_string()),
                json_string(&output.display().to_string())
            )
        } else {
            let start = Instant::now();
            let result = load_image_limited(input, args.blind.max_megapixels)
                .map_err(|e| e.to_string())
                .and_then(|image| {
                    let out = deblur_blind(
                        &image.pixels,
                        &request,
                        deblur_optim::Resources::glkm(models.as_ref())
                            .with_kernel_space(space.as_ref())
                            .with_denoiser(denoiser.as_ref()),
                        &options.device,
                        &mut Silent,
                    )
                    .map_err(|e| e.to_string())?;
                    save_image(&output, &out.image, image.bit_depth).map_err(|e| e.to_string())?;
                    Ok(out)
                });
            let seconds = start.elapsed().as_secs_f64();
            match result {
                Ok(out) => {
                    done += 1;
                    format!(
                        "{{\"input\":{},\"output\":{},\"status\":\"done\",\"seconds\":{seconds:.2},\
                         \"noise_std\":{:.5},\"robust_path\":{},\"fell_back\":{}}}",
                        json_string(&input.display().to_string()),
                        json_string(&output.display().to_string()),
                        out.noise_std,
                        out.robust_path,
                        out.fell_back
                    )
                }
                Err(error) => {
                    failed += 1;
                    bar.suspend(|| eprintln!("warning: {}: {error}", input.display()));
                    format!(
                        "{{\"input\":{},\"status\":\"failed\",\"seconds\":{seconds:.2},\"error\":{}}}",
                        json_string(&input.display().to_string()),
                        json_string(&error)
                    )
                }
            }
        };
        writeln!(report, "{line}").map_err(|e| format!("{}: {e}", report_path.display()))?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    eprintln!(
        "shard {}/{}: {} images: {done} restored, {skipped} already done, {failed} failed; \
         report {}",
        args.shard.index,
        args.shard.count,
        mine.len(),
        report_path.display()
    );
    if failed > 0 {
        return Err(format!(
            "{failed} of {} images failed; see {}",
            mine.len(),
            report_path.display()
        )
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_images_in_name_order() {
        let images: Vec<PathBuf> = (0..7).map(|i| PathBuf::from(format!("{i}.png"))).collect();
        let shards: Vec<Vec<PathBuf>> = (1..=3)
            .map(|k| shard_of(images.clone(), Shard { index: k, count: 3 }))
            .collect();
        assert_eq!(shards[0], ["0.png", "3.png", "6.png"].map(PathBuf::from));
        assert_eq!(shards[1], ["1.png", "4.png"].map(PathBuf::from));
        assert_eq!(shards[2], ["2.png", "5.png"].map(PathBuf::from));
        assert_eq!(parse_shard("2/4"), Ok(Shard { index: 2, count: 4 }));
        for bad in ["0/4", "5/4", "1/0", "x/2", "3"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }
}
