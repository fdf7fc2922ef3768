//! The `deblur` binary: every error case exits with status 2, prints one line naming the file and
//! the problem, and writes no output file; the happy paths produce their outputs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data")
        .join(name)
}

fn deblur(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deblur"))
        .args(args)
        .output()
        .expect("run deblur")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn assert_fails(out: &Output, needles: &[&str]) {
    assert_eq!(
        out.status.code(),
        Some(2),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "{err:?} should mention {n:?}");
    }
}

#[test]
fn blur_then_score_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("blurred.png");
    let sharp = data("levin_im1.png");
    let kernel = data("levin_kernel1.png");
    let run = deblur(&[
        "blur",
        s(&sharp),
        "--kernel",
        s(&kernel),
        "--padding",
        "reflect",
        "-o",
        s(&out),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let score = deblur(&["score", s(&sharp), "--reference", s(&sharp), "--json"]);
    assert!(score.status.success());
    let text = String::from_utf8_lossy(&score.stdout);
    for key in ["\"psnr\"", "\"ssim\"", "\"shift_x\"", "\"shift_y\""] {
        assert!(text.contains(key), "{text}");
    }
    assert!(text.contains("\"shift_x\":0.0"), "{text}");
    let grid = dir.path().join("grid.png");
    let show = deblur(&[
        "kernel",
        "show",
        s(&kernel),
        s(&data("levin_kernel4.png")),
        "-o",
        s(&grid),
    ]);
    assert!(show.status.success() && grid.exists());
}

#[test]
fn missing_file_exits_2_without_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.png");
    let missing = dir.path().join("nothere.png");
    let run = deblur(&[
        "blur",
        s(&missing),
        "--kernel",
        s(&data("levin_kernel1.png")),
        "-o",
        s(&out),
    ]);
    assert_fails(&run, &["nothere.png"]);
    assert!(!out.exists());
}

#[test]
fn not_an_image_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake.png");
    std::fs::write(&fake, "hello").unwrap();
    let out = dir.path().join("o.png");
    let run = deblur(&[
        "blur",
        s(&fake),
        "--kernel",
        s(&data("levin_kernel1.png")),
        "-o",
        s(&out),
    ]);
    assert_fails(&run, &["fake.png", "not a readable image"]);
    assert!(!out.exists());
}

#[test]
fn kernel_larger_than_image_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.png");
    // a 27×27 kernel image used as the "sharp" image, a 255×255 image as the kernel
    let run = deblur(&[
        "blur",
        s(&data("levin_kernel4.png")),
        "--kernel",
        s(&data("levin_im1.png")),
        "-o",
        s(&out),
    ]);
    assert_fails(&run, &["levin_kernel4.png", "larger than image"]);
    assert!(!out.exists());
}

#[test]
fn nan_in_kernel_exits_2_and_keeps_existing_output() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = dir.path().join("k.csv");
    std::fs::write(&kernel, "0,1,0\n1,nan,1\n0,1,0\n").unwrap();
    let out = dir.path().join("o.png");
    std::fs::write(&out, "keep me").unwrap();
    let run = deblur(&[
        "blur",
        s(&data("levin_im1.png")),
        "--kernel",
        s(&kernel),
        "-o",
        s(&out),
    ]);
    assert_fails(&run, &["k.csv", "non-finite"]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
}

#[test]
fn mismatched_sizes_exit_2() {
    let run = deblur(&[
        "score",
        s(&data("levin_kernel4.png")),
        "--reference",
        s(&data("levin_im1.png")),
    ]);
    assert_fails(&run, &["levin_kernel4.png", "shape mismatch"]);
}

#[test]
fn blind_runs_and_writes_image_and_kernel() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("restored.png");
    let kernel = dir.path().join("kernel.png");
    let snapshots = dir.path().join("snaps");
    let loss_plot = dir.path().join("loss.png");
    // a 48×48 crop of a Levin observation keeps this quick
    let crop = dir.path().join("crop.png");
    let img = deblur_core::load_image(data("levin_im1_kernel1_img.png"))
        .unwrap()
        .pixels;
    let small = img.slice(ndarray::s![.., 100..148, 100..148]).to_owned();
    deblur_core::save_image(&crop, &small, deblur_core::BitDepth::Eight).unwrap();
    let run = deblur(&[
        "blind",
        s(&crop),
        "-o",
        s(&out),
        "--method",
        "selfdeblur",
        "--preset",
        "quick",
        "--kernel-size",
        "7",
        "--iters",
        "4",
        "--kernel-out",
        s(&kernel),
        "--loss-plot",
        s(&loss_plot),
        "--before-after",
        s(&dir.path().join("ba.png")),
        "--save-every",
        "2",
        s(&snapshots),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let restored = deblur_core::load_image(&out).unwrap().pixels;
    assert_eq!(restored.dim(), (1, 48, 48));
    assert_eq!(
        deblur_core::load_image(&loss_plot).unwrap().pixels.dim(),
        (3, 360, 640)
    );
    assert_eq!(deblur_core::Kernel::load(&kernel).unwrap().size(), [7, 7]);
    assert!(
        snapshots.join("image_00002.png").exists() && snapshots.join("kernel_00004.png").exists()
    );
}

#[test]
fn blind_with_the_defaults_deblurs_the_included_image() {
    // the README's main job, shortened: no --method, no --preset
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("restored.png");
    let input =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/im1_kernel4_img.png");
    let run = deblur(&[
        "blind",
        s(&input),
        "-o",
        s(&out),
        "--kernel-size",
        "27",
        "--iters",
        "10",
    ]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{err}");
    assert!(err.contains("10 iterations"), "{err}");
    let restored = deblur_core::load_image(&out).unwrap().pixels;
    assert_eq!(restored.dim(), (1, 255, 255));
    // without --kernel-size the bound is 31 px, beyond the DIP's tuned range: coarse-to-fine L0
    let run = deblur(&["blind", s(&input), "-o", s(&out)]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{err}");
    assert!(err.contains("coarse-to-fine L0"), "{err}");
}

#[test]
fn blind_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.png");
    let kernel4 = data("levin_kernel4.png");
    let run = deblur(&[
        "blind",
        s(&kernel4),
        "-o",
        s(&out),
        "--method",
        "selfdeblur",
        "--kernel-size",
        "31",
        "--iters",
        "1",
    ]);
    assert_fails(&run, &["levin_kernel4.png", "larger than image"]);
    // GLKM's kernels are the generator's size: 31 px, larger than this 27 px image
    let run = deblur(&["blind", s(&kernel4), "-o", s(&out), "--method", "glkm"]);
    assert_fails(&run, &["levin_kernel4.png", "31x31"]);
    let run = deblur(&[
        "blind",
        s(&data("levin_im1.png")),
        "-o",
        s(&out),
        "--method",
        "glkm",
        "--kernel-size",
        "41",
    ]);
    assert_fails(&run, &["--kernel-size 41", "selfdeblur"]);
    let run = deblur(&["blind", s(&dir.path().join("missing.png")), "-o", s(&out)]);
    assert_fails(&run, &["missing.png"]);
    let run = deblur(&[
        "blind",
        s(&data("levin_im1.png")),
        "-o",
        s(&out),
        "--method",
        "nosuch",
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("nosuch"));
    assert!(!out.exists());
}

#[test]
fn deconv_with_the_true_kernel_sharpens() {
    let dir = tempfile::tempdir().unwrap();
    let blurred = dir.path().join("b.png");
    let out = dir.path().join("d.png");
    let sharp = data("levin_im1.png");
    let kernel = data("levin_kernel1.png");
    assert!(
        deblur(&["blur", s(&sharp), "--kernel", s(&kernel), "-o", s(&blurred)])
            .status
            .success()
    );
    let run = deblur(&["deconv", s(&blurred), "--kernel", s(&kernel), "-o", s(&out)]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let score = |p: &Path| {
        let o = deblur(&["score", s(p), "--reference", s(&sharp), "--json"]);
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        let start = text.find("\"psnr\":").unwrap() + 7;
        text[start..]
            .split(',')
            .next()
            .unwrap()
            .parse::<f64>()
            .unwrap()
    };
    let (before, after) = (score(&blurred), score(&out));
    assert!(
        after > before + 5.0,
        "deconvolution {after:.2} dB vs blurred {before:.2} dB"
    );
}

#[test]
fn train_kernel_prior_writes_log_samples_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let bank = dir.path().join("bank.npy");
    let run = dir.path().join("run");
    assert!(
        deblur(&[
            "kernels",
            "synth",
            "--size",
            "31",
            "--count",
            "40",
            "-o",
            s(&bank)
        ])
        .status
        .success()
    );
    let args = |steps: &str| -> Vec<String> {
        [
            "train",
            "kernel-prior",
            "--bank",
            s(&bank),
            "--steps",
            steps,
            "--batch",
            "8",
            "--width",
            "4",
            "--out",
            s(&run),
            "--sample-every",
            "2",
            "--checkpoint-every",
            "2",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    };
    let first = deblur(&args("2").iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    // a second start without --resume refuses to overwrite the run
    let again = deblur(&args("4").iter().map(String::as_str).collect::<Vec<_>>());
    assert_fails(&again, &["--resume"]);
    let mut resume = args("4");
    resume.push("--resume".into());
    assert!(
        deblur(&resume.iter().map(String::as_str).collect::<Vec<_>>())
            .status
            .success()
    );
    let log = std::fs::read_to_string(run.join("losses.csv")).unwrap();
    assert_eq!(log.lines().count(), 5, "{log}");
    assert!(
        run.join("samples_000004.png").exists()
            && run.join("generator.bpk").exists()
            && run.join("generator.json").exists()
    );
    // a bank of another kernel size is refused with a message
    let wrong = deblur(&[
        "train",
        "kernel-prior",
        "--bank",
        s(&bank),
        "--size",
        "55",
        "--out",
        s(&dir.path().join("r2")),
    ]);
    assert_fails(&wrong, &["55"]);
}

#[test]
fn sampling_without_weights_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.png");
    let run = deblur(&[
        "kernels",
        "sample",
        "--weights",
        s(dir.path()),
        "-o",
        s(&out),
    ]);
    assert_fails(&run, &["manifest.json"]);
    assert!(!out.exists());
}

#[test]
fn bench_levin_writes_its_table_snapshots_and_kernel_estimates() {
    let levin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/levin");
    assert!(
        levin.exists(),
        "Levin data not found at {}; the tests need ../shared/data beside the checkout",
        levin.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let kernels = dir.path().join("kernels");
    let csv = dir.path().join("levin.csv");
    // a few steps on a 48² window: this checks the plumbing, not the quality
    let run = deblur(&[
        "bench",
        "levin",
        "--data",
        s(&levin),
        "--images",
        "im1_kernel1",
        "--iters",
        "4",
        "--window-side",
        "48",
        "--snapshots",
        "2",
        "--kernels-out",
        s(&kernels),
        "--csv",
        s(&csv),
    ]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains("im1_kernel1    snapshot     2 it"),
        "{stdout}"
    );
    // SelfDeblur's Levin script estimates kernel 1 at 17 × 17
    let kernel = deblur_core::Kernel::load(kernels.join("im1_kernel1_kernel.npy")).unwrap();
    assert_eq!(kernel.size(), [17, 17]);
    assert!(kernels.join("im1_kernel1_kernel.png").exists());
    let table = std::fs::read_to_string(&csv).unwrap();
    let row: Vec<&str> = table.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(row[0], "im1_kernel1");
    let (blurred, true_kernel): (f64, f64) = (row[5].parse().unwrap(), row[6].parse().unwrap());
    // the true-kernel bound must sharpen the observation (33.7 vs 24.1 dB on this image)
    assert!(true_kernel > blurred + 5.0, "{table}");
}

fn lai_dir() -> PathBuf {
    let lai = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/lai2016");
    assert!(
        lai.exists(),
        "Lai data not found at {}; the tests need ../shared/data beside the checkout",
        lai.display()
    );
    lai
}

#[test]
fn bench_lai_scores_the_true_kernel_bound_and_the_floor() {
    let lai = lai_dir();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("lai.csv");
    let run = deblur(&[
        "bench",
        "lai",
        "--data",
        s(&lai),
        "--method",
        "nonblind",
        "--images",
        "text_05",
        "--kernels",
        "1",
        "--csv",
        s(&csv),
    ]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("text_05_kernel1"), "{stdout}");
    assert!(
        stdout.contains("cases below their blurred input: 0 of 1"),
        "{stdout}"
    );
    let table = std::fs::read_to_string(&csv).unwrap();
    let row: Vec<&str> = table.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(&row[..4], &["text_05_kernel1", "text", "1", "31"]);
    let (psnr, blurred): (f64, f64) = (row[4].parse().unwrap(), row[7].parse().unwrap());
    // the true kernel must sharpen a 31 px blur of a text page by several dB
    assert!(psnr > blurred + 4.0, "{table}");
}

#[test]
fn bench_lai_bad_input_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let out = deblur(&["bench", "lai", "--data", s(&missing), "--method", "blurred"]);
    assert_fails(&out, &["nowhere"]);
    // a folder whose kernel file is not a PNG image
    let folder = dir.path().join("lai");
    std::fs::create_dir_all(folder.join("images")).unwrap();
    std::fs::create_dir_all(folder.join("kernels")).unwrap();
    std::fs::copy(data("levin_im1.png"), folder.join("images/natural_01.png")).unwrap();
    std::fs::write(folder.join("kernels/kernel_01.png"), b"not a png").unwrap();
    let out = deblur(&["bench", "lai", "--data", s(&folder), "--method", "blurred"]);
    assert_fails(&out, &["kernel_01.png"]);
    // an unknown image name
    std::fs::copy(
        data("levin_kernel1.png"),
        folder.join("kernels/kernel_01.png"),
    )
    .unwrap();
    let out = deblur(&[
        "bench",
        "lai",
        "--data",
        s(&folder),
        "--method",
        "blurred",
        "--images",
        "people_09",
    ]);
    assert_fails(&out, &["people_09"]);
}
