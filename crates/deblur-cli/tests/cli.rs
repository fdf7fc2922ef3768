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

/// `deblur ARGS`, which must succeed (its stderr is the failure message).
fn deblur_ok(args: &[&str]) -> Output {
    let run = deblur(args);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    run
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The shift-compensated PSNR of `estimate` against `reference`, by `deblur score --json`.
fn scored_psnr(estimate: &Path, reference: &Path) -> f64 {
    let o = deblur(&["score", s(estimate), "--reference", s(reference), "--json"]);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let start = text.find("\"psnr\":").unwrap() + 7;
    text[start..]
        .split(',')
        .next()
        .unwrap()
        .parse::<f64>()
        .unwrap()
}

/// A bank of `count` synthesised 31 px kernels, `bank.npy` in `dir`.
fn kernel_bank(dir: &Path, count: usize) -> PathBuf {
    let bank = dir.join("bank.npy");
    deblur_ok(&[
        "kernels",
        "synth",
        "--size",
        "31",
        "--count",
        &count.to_string(),
        "-o",
        s(&bank),
    ]);
    bank
}

/// `deblur deconv BLURRED --kernel KERNEL` into `dir`; the PSNR of the input and of the result
/// against `sharp`.
fn deconv_psnrs(dir: &Path, blurred: &Path, kernel: &Path, sharp: &Path) -> (f64, f64) {
    let out = dir.join("deconvolved.png");
    deblur_ok(&["deconv", s(blurred), "--kernel", s(kernel), "-o", s(&out)]);
    (scored_psnr(blurred, sharp), scored_psnr(&out, sharp))
}

/// A 48² crop (rows from `top`) of a Levin observation, saved as `name` in `dir`: small inputs
/// keep the blind-deblurring tests quick.
fn levin_crop(dir: &Path, name: &str, top: usize) -> PathBuf {
    let img = deblur_core::load_image(data("levin_im1_kernel1_img.png"))
        .unwrap()
        .pixels;
    let crop = img
        .slice(ndarray::s![.., top..top + 48, 100..148])
        .to_owned();
    let path = dir.join(name);
    deblur_core::save_image(&path, &crop, deblur_core::BitDepth::Eight).unwrap();
    path
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
    deblur_ok(&[
        "blur",
        s(&sharp),
        "--kernel",
        s(&kernel),
        "--padding",
        "reflect",
        "-o",
        s(&out),
    ]);
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
    let crop = levin_crop(dir.path(), "crop.png", 100);
    deblur_ok(&[
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
    let restored = deblur_core::load_image(&out).unwrap().pixels;
    assert_eq!(restored.dim(), (1, 48, 48));
    assert_eq!(
        deblur_core::load_image(&loss_plot).unwrap().pixels.dim(),
        (3, 480, 800)
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
    for bad in ["nan", "0", "-0.01", "0.5", "inf"] {
        let run = deblur(&[
            "blind",
            s(&data("levin_im1.png")),
            "-o",
            s(&out),
            &format!("--noise-std={bad}"),
        ]);
        assert_fails(&run, &["--noise-std", "0.01 for 1 % noise"]);
    }
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
fn vdip_methods_run_on_colour_and_refuse_conflicting_priors() {
    let dir = tempfile::tempdir().unwrap();
    let gray = deblur_core::load_image(levin_crop(dir.path(), "crop.png", 100))
        .unwrap()
        .pixels;
    // three different channels: the variational DIP deblurs them jointly with one kernel
    let rgb = ndarray::concatenate(
        ndarray::Axis(0),
        &[
            gray.view(),
            gray.mapv(|v| v * 0.8).view(),
            gray.mapv(|v| 1.0 - v).view(),
        ],
    )
    .unwrap();
    let input = dir.path().join("rgb.png");
    deblur_core::save_image(&input, &rgb, deblur_core::BitDepth::Eight).unwrap();
    let out = dir.path().join("out.png");
    let kernel = dir.path().join("k.png");
    let run = deblur_ok(&[
        "blind",
        s(&input),
        "-o",
        s(&out),
        "--method",
        "vdip-extreme",
        "--color",
        "rgb",
        "--kernel-size",
        "7",
        "--iters",
        "6",
        "--kernel-out",
        s(&kernel),
    ]);
    assert!(String::from_utf8_lossy(&run.stderr).contains("6 iterations"));
    assert_eq!(
        deblur_core::load_image(&out).unwrap().pixels.dim(),
        (3, 48, 48)
    );
    assert_eq!(deblur_core::Kernel::load(&kernel).unwrap().size(), [7, 7]);
    std::fs::remove_file(&out).unwrap();
    let run = deblur(&[
        "blind",
        s(&input),
        "-o",
        s(&out),
        "--method",
        "vdip-sparse",
        "--image-prior",
        "vdip-std",
    ]);
    assert_fails(
        &run,
        &["vdip-sparse", "--method selfdeblur --image-prior vdip-std"],
    );
    let run = deblur(&[
        "blind",
        s(&input),
        "-o",
        s(&out),
        "--method",
        "l0",
        "--image-prior",
        "vdip-sparse",
    ]);
    assert_fails(&run, &["vdip-sparse", "L0 method has no image model"]);
    assert!(!out.exists());
}

/// `--seed` reaches the networks: two seeds give two results, one seed gives one.
#[test]
fn blind_seed_changes_the_result_and_repeats_it() {
    let dir = tempfile::tempdir().unwrap();
    let crop = levin_crop(dir.path(), "crop.png", 100);
    let run = |seed: &str, name: &str| {
        let out = dir.path().join(name);
        let r = deblur(&[
            "blind",
            s(&crop),
            "-o",
            s(&out),
            "--preset",
            "quick",
            "--kernel-size",
            "7",
            "--iters",
            "3",
            "--seed",
            seed,
        ]);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        std::fs::read(out).unwrap()
    };
    let (a, b, again) = (run("1", "a.png"), run("2", "b.png"), run("1", "c.png"));
    assert!(a != b, "seeds 1 and 2 gave the same image");
    assert!(a == again, "seed 1 twice gave two images");
}

/// Every output path is checked before the work starts: a bad one fails with its name and
/// leaves the other outputs (here a good earlier result) untouched.
#[test]
fn a_bad_output_path_fails_before_any_output_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.png");
    std::fs::write(&good, b"a good earlier result").unwrap();
    let input = data("levin_im1_kernel1_img.png");
    let missing = dir.path().join("nodir").join("k.png");
    let untouched = |what: &str| {
        assert_eq!(
            std::fs::read(&good).unwrap(),
            b"a good earlier result",
            "{what} replaced good.png"
        )
    };
    let run = deblur(&[
        "blind",
        s(&input),
        "-o",
        s(&good),
        "--kernel-out",
        s(&missing),
    ]);
    assert_fails(&run, &["nodir", "does not exist"]);
    untouched("--kernel-out into a missing folder");
    let run = deblur(&["blind", s(&input), "-o", s(&good), "--kernel-out", s(&good)]);
    assert_fails(&run, &["good.png", "two outputs"]);
    untouched("--kernel-out equal to -o");
    let copy = dir.path().join("in.png");
    std::fs::copy(&input, &copy).unwrap();
    let run = deblur(&["blind", s(&copy), "-o", s(&copy)]);
    assert_fails(&run, &["in.png", "input"]);
    let run = deblur(&[
        "blind",
        s(&input),
        "-o",
        s(&good),
        "--loss-plot",
        s(&dir.path().join("l.txt")),
    ]);
    assert_fails(&run, &["l.txt", "extension"]);
    untouched("a --loss-plot with an unknown extension");
    let kernel = data("levin_kernel1.png");
    let run = deblur(&[
        "deconv",
        s(&input),
        "--kernel",
        s(&kernel),
        "-o",
        s(&kernel),
    ]);
    assert_fails(&run, &["levin_kernel1.png", "input"]);
    #[cfg(unix)]
    {
        let link = dir.path().join("link.png");
        std::os::unix::fs::symlink(&good, &link).unwrap();
        let run = deblur(&["deconv", s(&input), "--kernel", s(&kernel), "-o", s(&link)]);
        assert_fails(&run, &["link.png", "regular file"]);
        untouched("-o through a symbolic link");
    }
    let run = deblur(&[
        "kernels",
        "synth",
        "--count",
        "2",
        "-o",
        s(&dir.path().join("b.npy")),
        "--preview",
        s(&missing),
    ]);
    assert_fails(&run, &["nodir"]);
    assert!(!dir.path().join("b.npy").exists());
}

/// Numbers that cannot be right are refused by name instead of producing NaN or a panic.
#[test]
fn impossible_numbers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.png");
    let input = data("levin_im1_kernel1_img.png");
    let kernel = data("levin_kernel1.png");
    for weight in ["NaN", "inf", "-1", "0"] {
        let run = deblur(&[
            "deconv",
            s(&input),
            "--kernel",
            s(&kernel),
            "-o",
            s(&out),
            "--method",
            "wiener",
            "--weight",
            weight,
        ]);
        // clap's refusal too is one line (no usage block, no "--help" tip).
        assert_fails(&run, &["--weight", weight]);
    }
    // A missing required argument: clap's list of them joined into the one line.
    let run = deblur(&["train", "kernel-prior", "--size", "31"]);
    assert_fails(&run, &["--bank", "--out"]);
    let run = deblur(&[
        "score",
        s(&input),
        "--reference",
        s(&input),
        "--crop",
        "18446744073709551615",
    ]);
    assert_fails(&run, &["crop"]);
    assert!(!out.exists());
}

/// The example kernel shipped beside the README's example image is stored in the convention
/// `deblur deconv` expects: deconvolving with it must beat the blurred input by a wide margin
/// (measured 29.2 dB against 19.5 dB; stored the other way round it gave 16.8 dB).
#[test]
fn the_example_kernel_deconvolves_the_example_image() {
    let dir = tempfile::tempdir().unwrap();
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/data");
    let (blurred, sharp) = (
        examples.join("im1_kernel4_img.png"),
        examples.join("im1_sharp.png"),
    );
    let kernel = examples.join("im1_kernel4_kernel.png");
    let (before, after) = deconv_psnrs(dir.path(), &blurred, &kernel, &sharp);
    assert!(
        after > before + 8.0,
        "{after:.2} dB vs blurred {before:.2} dB"
    );
}

/// `deblur batch`: two shards cover a folder of 8 images once each; a run killed mid-way and
/// started again restores only what was not finished; every image has one report line
/// "done" over all runs.
#[test]
fn batch_shards_partition_a_folder_and_resume_after_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir_all(&input).unwrap();
    for i in 0..8 {
        levin_crop(&input, &format!("img{i}.png"), 10 * i);
    }
    std::fs::write(input.join("notes.txt"), "not an image").unwrap();
    let command = |shard: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_deblur"));
        c.args([
            "batch",
            s(&input),
            s(&output),
            "--shard",
            shard,
            "--preset",
            "quick",
            "--kernel-size",
            "5",
            "--iters",
            "40",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
        c
    };
    // shard 1/2, killed once its first image is written, then run again to the end
    let mut child = command("1/2").spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !output.join("img0.png").exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let killed = child.try_wait().unwrap().is_none();
    child.kill().ok();
    child.wait().unwrap();
    assert!(command("1/2").status().unwrap().success());
    assert!(command("2/2").status().unwrap().success());
    let mut outputs: Vec<String> = std::fs::read_dir(&output)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".png"))
        .collect();
    outputs.sort();
    let expected: Vec<String> = (0..8).map(|i| format!("img{i}.png")).collect();
    assert_eq!(outputs, expected);
    let report = |name: &str| std::fs::read_to_string(output.join(name)).unwrap();
    let (first, second) = (report("report-1-of-2.jsonl"), report("report-2-of-2.jsonl"));
    for i in 0..8 {
        let needle = format!("img{i}.png\",\"output\"");
        let done = |text: &str| {
            text.lines()
                .filter(|l| l.contains(&needle) && l.contains("\"done\""))
                .count()
        };
        // even images belong to shard 1, odd ones to shard 2, each restored exactly once
        let (mine, other) = if i % 2 == 0 {
            (&first, &second)
        } else {
            (&second, &first)
        };
        assert_eq!(done(mine), 1, "img{i}: {mine}");
        assert_eq!(done(other), 0, "img{i}: {other}");
    }
    if killed {
        assert!(
            first.contains("\"skipped\""),
            "the rerun redid finished images: {first}"
        );
    }
    // the output folder may not be the input folder
    let same = deblur(&["batch", s(&input), s(&input)]);
    assert_fails(&same, &["input folder"]);
}

/// Sizes that would exhaust memory are refused by name before any allocation: images by their
/// header against --max-megapixels, kernel sizes, counts and picture cells by range.
#[test]
fn oversized_jobs_are_refused_before_they_allocate() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.png");
    let input = data("levin_im1_kernel1_img.png"); // 255² = 0.065 megapixels
    let run = deblur(&[
        "blind",
        s(&input),
        "-o",
        s(&out),
        "--max-megapixels",
        "0.05",
    ]);
    assert_fails(
        &run,
        &["levin_im1_kernel1_img.png", "255x255", "--max-megapixels"],
    );
    let run = deblur(&[
        "deconv",
        s(&input),
        "--kernel",
        s(&data("levin_kernel1.png")),
        "-o",
        s(&out),
        "--max-megapixels",
        "0.05",
    ]);
    assert_fails(&run, &["megapixels"]);
    assert!(!out.exists());
    let bank = dir.path().join("b.npy");
    for (args, flag) in [
        (
            vec!["kernels", "synth", "--size", "100000", "-o", s(&bank)],
            "--size",
        ),
        (
            vec![
                "kernels",
                "synth",
                "--size",
                "255",
                "--count",
                "1000000",
                "-o",
                s(&bank),
            ],
            "GB",
        ),
        (
            vec!["kernels", "sample", "--count", "100000000", "-o", s(&out)],
            "--count",
        ),
        (
            vec![
                "kernel",
                "show",
                s(&input),
                "--cell",
                "100000",
                "-o",
                s(&out),
            ],
            "--cell",
        ),
    ] {
        let run = deblur(&args);
        assert_eq!(run.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&run.stderr).contains(flag),
            "{args:?}"
        );
    }
    assert!(!bank.exists() && !out.exists());
}

#[test]
fn deconv_with_the_true_kernel_sharpens() {
    let dir = tempfile::tempdir().unwrap();
    let blurred = dir.path().join("b.png");
    let sharp = data("levin_im1.png");
    let kernel = data("levin_kernel1.png");
    assert!(
        deblur(&["blur", s(&sharp), "--kernel", s(&kernel), "-o", s(&blurred)])
            .status
            .success()
    );
    let (before, after) = deconv_psnrs(dir.path(), &blurred, &kernel, &sharp);
    assert!(
        after > before + 5.0,
        "deconvolution {after:.2} dB vs blurred {before:.2} dB"
    );
}

#[test]
fn train_kernel_prior_writes_log_samples_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let bank = kernel_bank(dir.path(), 40);
    let run = dir.path().join("run");
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

/// SIGKILL at spread-out moments of a training run, each time resumed: the final weights equal
/// an uninterrupted run's bit for bit (checkpoints commit atomically, the step counter never
/// runs ahead of the weights), and no partial checkpoint folder or temporary file is left.
#[test]
fn killed_training_resumes_to_the_uninterrupted_weights_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let bank = kernel_bank(dir.path(), 40);
    let command = |run: &Path, resume: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_deblur"));
        c.args([
            "train",
            "kernel-prior",
            "--bank",
            s(&bank),
            "--steps",
            "60",
            "--batch",
            "8",
            "--width",
            "4",
            "--seed",
            "3",
            "--checkpoint-every",
            "1",
            "--out",
            s(run),
        ]);
        if resume {
            c.arg("--resume");
        }
        c.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    };
    let whole = dir.path().join("whole");
    assert!(command(&whole, false).status().unwrap().success());
    let killed = dir.path().join("killed");
    let started = |run: &Path| {
        ["checkpoint", "checkpoint.partial", "checkpoint.previous"]
            .iter()
            .any(|name| run.join(name).exists())
    };
    let step = |run: &Path| -> usize {
        std::fs::read_to_string(run.join("checkpoint").join("state.json"))
            .ok()
            .and_then(|t| {
                let digits: String = t
                    .split("\"step\"")
                    .nth(1)?
                    .chars()
                    .filter(|c| c.is_ascii_digit())
                    .collect();
                digits.parse().ok()
            })
            .unwrap_or(0)
    };
    // each run is killed once it has committed a few more steps, after a further delay that
    // lands the kill at varied moments of a step (about 15 ms a step, each step committed)
    let mut kills = 0;
    for extra_ms in [0, 7, 3, 11, 5, 1, 9, 13] {
        let before = step(&killed);
        let mut child = command(&killed, started(&killed)).spawn().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while step(&killed) < before + 3
            && child.try_wait().unwrap().is_none()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        std::thread::sleep(std::time::Duration::from_millis(extra_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL on Unix
            kills += 1;
        }
        child.wait().unwrap();
    }
    let mut attempts = 0;
    while !killed.join("generator.bpk").exists() {
        attempts += 1;
        assert!(attempts < 5, "the resumed run does not finish");
        let status = command(&killed, started(&killed)).status().unwrap();
        assert!(status.success());
    }
    assert!(kills >= 6, "only {kills} of the runs were killed mid-way");
    // the .bpk files carry random parameter ids; the weights (BatchNorm running statistics
    // included) are compared through the kernels they make from one latent batch, bit for bit
    let kernels = |run: &Path| -> Vec<u32> {
        use deblur_core::burn::module::Module;
        let device = deblur_core::default_device();
        let generator = deblur_models::weights::load_generator_files(
            &run.join("generator.bpk"),
            &run.join("generator.json"),
            &device,
        )
        .unwrap()
        .valid();
        let out = generator.forward(generator.sample_latent(8, 1, &device));
        let values: Vec<f32> = out.into_data().convert::<f32>().try_to_vec().unwrap();
        values.iter().map(|v| v.to_bits()).collect()
    };
    assert!(
        kernels(&whole) == kernels(&killed),
        "weights after {kills} kills differ from the uninterrupted run's"
    );
    for leftover in ["checkpoint.partial", "checkpoint.previous"] {
        assert!(!killed.join(leftover).exists(), "{leftover} left behind");
    }
    let temporary: Vec<_> = std::fs::read_dir(killed.join("checkpoint"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(temporary.is_empty(), "{temporary:?}");
}

/// A second run into the same folder is refused while the first holds it; resuming with a
/// setting other than the run's is refused by name; settings not given are the run's.
#[test]
fn training_runs_lock_their_folder_and_resume_only_their_own_settings() {
    let dir = tempfile::tempdir().unwrap();
    let bank = kernel_bank(dir.path(), 16);
    let run = dir.path().join("run");
    let train = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "kernel-prior",
            "--bank",
            s(&bank),
            "--batch",
            "4",
            "--out",
            s(&run),
        ];
        args.extend_from_slice(extra);
        deblur(&args)
    };
    assert!(train(&["--steps", "1", "--width", "4"]).status.success());
    // the lock: held by this test, a run is refused
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(run.join(".lock"))
        .unwrap();
    lock.lock().unwrap();
    assert_fails(
        &train(&["--steps", "2", "--resume"]),
        &["another run", "run"],
    );
    lock.unlock().unwrap();
    assert_fails(
        &train(&["--steps", "2", "--width", "8", "--resume"]),
        &["--width 8", "--width 4"],
    );
    // without --width the run's 4 is kept
    assert!(train(&["--steps", "2", "--resume"]).status.success());
    let config = std::fs::read_to_string(run.join("generator.json")).unwrap();
    assert!(config.contains("\"base_channels\": 4"), "{config}");
    // zero where at least 1 is needed, and a non-finite rate, are refused by clap
    for bad in [
        ["--checkpoint-every", "0"],
        ["--sample-every", "0"],
        ["--width", "0"],
    ] {
        let out = train(&[&["--steps", "3"][..], &bad[..]].concat());
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(bad[0]));
    }
    let resume_empty = deblur(&[
        "train",
        "kernel-prior",
        "--bank",
        s(&bank),
        "--out",
        s(&dir.path().join("empty")),
        "--resume",
    ]);
    assert_fails(&resume_empty, &["no checkpoint"]);
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

/// `deblur bench levin` on im1_kernel1 for 4 steps on a 48² window, with `extra` arguments:
/// checks the plumbing, not the quality. Asserts success.
fn tiny_bench_levin(levin: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "bench",
        "levin",
        "--data",
        s(levin),
        "--images",
        "im1_kernel1",
        "--iters",
        "4",
        "--window-side",
        "48",
    ];
    args.extend_from_slice(extra);
    deblur_ok(&args)
}

#[test]
fn bench_levin_writes_its_table_snapshots_and_kernel_estimates() {
    let levin = deblur_testkit::shared_data("levin");
    let dir = tempfile::tempdir().unwrap();
    let kernels = dir.path().join("kernels");
    let csv = dir.path().join("levin.csv");
    let run = tiny_bench_levin(
        &levin,
        &[
            "--snapshots",
            "2",
            "--kernels-out",
            s(&kernels),
            "--csv",
            s(&csv),
        ],
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("im1_kernel1    snapshot     2 it"),
        "{stdout}"
    );
    // a four-step estimate explains nothing (far above 4 noise levels): the fast preset's restart
    // rule runs it again with seed 1
    assert!(
        stdout.contains("im1_kernel1    restarted: first start"),
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
    // the last column is the returned estimate's re-blur residual: both starts of four steps
    // leave far more than the restart limit of 4 noise levels
    assert!(table.starts_with("image,psnr,"), "{table}");
    assert_eq!(
        table.lines().next().unwrap().rsplit(',').next(),
        Some("residual")
    );
    let residual: f64 = row[9].parse().unwrap();
    assert!(residual > 4.0, "{table}");
}

#[test]
fn bench_levin_repeats_a_seed_exactly_and_reports_each_seed() {
    let levin = deblur_testkit::shared_data("levin");
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("seeds.csv");
    // four steps explain nothing, so the restart rule would run every seed twice (and seeds 0
    // and 1 would both return seed 1's estimate): off here
    let run = tiny_bench_levin(
        &levin,
        &[
            "--seeds",
            "0,1,0",
            "--restart-residual",
            "0",
            "--csv",
            s(&csv),
        ],
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("mean (seeds)"), "{stdout}");
    let table = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 3, "{table}");
    let seeds: Vec<&str> = rows.iter().map(|r| r[8]).collect();
    assert_eq!(seeds, ["0", "1", "0"]);
    // the same seed gives the same run to the last digit; another seed draws other networks
    assert_eq!(rows[0][1], rows[2][1], "{table}");
    assert_ne!(rows[0][1], rows[1][1], "{table}");
    // a noise level outside (0, 0.5) is a usage error that names the flag, before any work
    for bad in ["0.7", "0", "-0.01", "nan"] {
        let out = deblur(&["bench", "levin", "--data", s(&levin), "--noise-std", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--noise-std"), "{err}");
    }
}

fn lai_dir() -> PathBuf {
    deblur_testkit::shared_data("lai2016")
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

/// `bench lai --kernels-in` deconvolves with the kernel it reads instead of estimating one: a
/// delta kernel (no blur) leaves the 31 px blur of text_05 in place — the plug-and-play step then
/// only denoises, within 1 dB of the blurred input, where the true kernel gains more than 4 dB
/// (the test above) — and a missing kernel file or folder exits 2 naming it.
#[test]
fn bench_lai_replays_the_final_step_on_given_kernels() {
    let lai = lai_dir();
    let dir = tempfile::tempdir().unwrap();
    deblur_core::Kernel::delta([31, 31])
        .unwrap()
        .save_npy(dir.path().join("text_05_kernel1_kernel.npy"))
        .unwrap();
    let csv = dir.path().join("replay.csv");
    let replay = |images: &str| {
        deblur(&[
            "bench",
            "lai",
            "--data",
            s(&lai),
            "--images",
            images,
            "--kernels",
            "1",
            "--kernels-in",
            s(dir.path()),
            "--csv",
            s(&csv),
        ])
    };
    let run = replay("text_05");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let table = std::fs::read_to_string(&csv).unwrap();
    let row: Vec<&str> = table.lines().nth(1).unwrap().split(',').collect();
    let (psnr, blurred): (f64, f64) = (row[4].parse().unwrap(), row[7].parse().unwrap());
    assert!((psnr - blurred).abs() < 1.0, "{table}");
    assert_fails(&replay("text_04"), &["text_04_kernel1_kernel.npy"]);
    let missing = dir.path().join("nowhere");
    let out = deblur(&[
        "bench",
        "lai",
        "--data",
        s(&lai),
        "--kernels-in",
        s(&missing),
    ]);
    assert_fails(&out, &["--kernels-in", "nowhere"]);
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
    // a table that cannot be written is refused before any case runs (procfs takes no file)
    #[cfg(target_os = "linux")]
    {
        let started = std::time::Instant::now();
        let out = deblur(&[
            "bench",
            "lai",
            "--data",
            s(&folder),
            "--csv",
            "/proc/lai.csv",
        ]);
        assert_fails(&out, &["/proc/lai.csv", "cannot take a new file"]);
        assert!(
            started.elapsed().as_secs() < 20,
            "refused only after the run"
        );
    }
    // screening: a missing image folder is named with what --screen-images takes; zero tiles
    let kernel = data("levin_kernel1.png");
    let screen = |images: &str, more: &[&str]| {
        let mut args = vec![
            "bench",
            "lai",
            "--screen-kernels",
            s(&kernel),
            "--screen-images",
            images,
            "--method",
            "blurred",
        ];
        args.extend_from_slice(more);
        deblur(&args)
    };
    assert_fails(&screen(s(&missing), &[]), &["nowhere", "text-pages"]);
    assert_fails(
        &screen("text-pages", &["--screen-tiles", "0"]),
        &["tiles (got 0)"],
    );
    // numbers that once overflowed the mosaic's arithmetic (a panic, not an error): a huge tile
    // count and a huge cross-fade, on a folder of four 20² images
    let tiles = tempfile::tempdir().unwrap();
    for i in 0..4 {
        let tile = ndarray::Array3::from_elem((1, 20, 20), 0.1 * i as f32);
        deblur_core::save_image(
            tiles.path().join(format!("t{i}.png")),
            &tile,
            deblur_core::BitDepth::Eight,
        )
        .unwrap();
    }
    let folder = tiles.path().to_str().unwrap();
    assert_fails(
        &screen(
            folder,
            &["--screen-tiles", "4294967296", "--screen-count", "2"],
        ),
        &["mosaics of 4294967296x4294967296 need"],
    );
    assert_fails(
        &screen(
            folder,
            &[
                "--screen-tiles",
                "2",
                "--screen-count",
                "1",
                "--screen-blend",
                "9223372036854775808",
            ],
        ),
        &["cross-fade needs tiles of at least twice that"],
    );
}

/// `deblur kernels field` writes a field, its sidecar and its picture; `deblur blur
/// --kernel-field` with a field of one kernel everywhere gives the image `--kernel` gives (the
/// identity of the overlap-add model); with a camera field the regions differ.
#[test]
fn kernel_fields_are_written_and_blur_as_their_kernels() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sharp = data("levin_im1.png");
    let kernel = data("levin_kernel1.png");
    let field = d.join("camera.npy");
    let preview = d.join("camera.png");
    deblur_ok(&[
        "kernels",
        "field",
        "--size",
        "15",
        "--grid",
        "2x3",
        "--image-size",
        "255x255",
        "--max-rotation",
        "2",
        "--seed",
        "4",
        "-o",
        s(&field),
        "--preview",
        s(&preview),
    ]);
    let loaded = deblur_core::KernelField::load(&field).unwrap();
    assert_eq!(loaded.grid(), [2, 3]);
    assert_eq!(loaded.kernel_size(), [15, 15]);
    assert_ne!(
        loaded.kernels()[0],
        loaded.kernels()[5],
        "rotation varies the kernels"
    );
    let picture = deblur_core::load_image(&preview).unwrap().pixels;
    assert!(picture.dim().2 > picture.dim().1, "3 columns of 2 rows");
    let sidecar = std::fs::read_to_string(d.join("camera.json")).unwrap();
    assert!(sidecar.contains("\"generator\": \"camera\"") && sidecar.contains("\"seed\": 4"));

    // One kernel everywhere: the field's blur is the uniform blur, to the 8-bit level.
    let uniform = d.join("uniform.npy");
    let k = deblur_core::Kernel::load(&kernel).unwrap();
    deblur_core::KernelField::uniform([3, 3], deblur_core::WindowShape::BartlettHann, &k)
        .unwrap()
        .save(&uniform, &[])
        .unwrap();
    let (by_field, by_kernel) = (d.join("by_field.png"), d.join("by_kernel.png"));
    deblur_ok(&[
        "blur",
        s(&sharp),
        "--kernel-field",
        s(&uniform),
        "-o",
        s(&by_field),
    ]);
    deblur_ok(&[
        "blur",
        s(&sharp),
        "--kernel",
        s(&kernel),
        "-o",
        s(&by_kernel),
    ]);
    let a = deblur_core::load_image(&by_field).unwrap().pixels;
    let b = deblur_core::load_image(&by_kernel).unwrap().pixels;
    let worst = (&a - &b).mapv(f32::abs).fold(0.0f32, |m, v| m.max(*v));
    assert!(worst <= 1.0 / 255.0 + 1e-6, "{worst}");
    // The camera field blurs differently from its centre kernel alone.
    let by_camera = d.join("by_camera.png");
    deblur_ok(&[
        "blur",
        s(&sharp),
        "--kernel-field",
        s(&field),
        "-o",
        s(&by_camera),
    ]);
    assert_eq!(
        deblur_core::load_image(&by_camera).unwrap().pixels.dim(),
        a.dim()
    );
}

/// A field file whose sidecar disagrees with it, or with NaN or negative taps, exits 2 with one
/// line naming the file; so do --kernel with --kernel-field, and a bad grid.
#[test]
fn bad_kernel_fields_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sharp = data("levin_im1.png");
    let out = d.join("out.png");
    std::fs::write(&out, b"good").unwrap();
    let field = d.join("f.npy");
    let k = deblur_core::Kernel::load(data("levin_kernel1.png")).unwrap();
    deblur_core::KernelField::uniform([2, 2], deblur_core::WindowShape::Tent, &k)
        .unwrap()
        .save(&field, &[])
        .unwrap();
    let blur = |f: &Path| deblur(&["blur", s(&sharp), "--kernel-field", s(f), "-o", s(&out)]);
    std::fs::write(d.join("f.json"), "{\"grid\": [3, 2]}").unwrap();
    assert_fails(&blur(&field), &["f.npy", "sidecar says 3x2"]);
    std::fs::write(d.join("f.json"), "{\"grid\": [2, 2]}").unwrap();
    // Damage one tap of region 3 in the .npy: its data start after the 128-byte header.
    let mut bytes = std::fs::read(&field).unwrap();
    let (kh, kw) = (k.size()[0], k.size()[1]);
    let tap = 128 + 4 * (3 * kh * kw + 2);
    bytes[tap..tap + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&field, &bytes).unwrap();
    assert_fails(&blur(&field), &["f.npy", "region 3"]);
    bytes[tap..tap + 4].copy_from_slice(&(-0.25f32).to_le_bytes());
    std::fs::write(&field, &bytes).unwrap();
    assert_fails(&blur(&field), &["f.npy", "negative"]);
    assert_fails(
        &deblur(&[
            "blur",
            s(&sharp),
            "--kernel",
            s(&data("levin_kernel1.png")),
            "--kernel-field",
            s(&field),
            "-o",
            s(&out),
        ]),
        &["--kernel-field"],
    );
    assert_fails(
        &deblur(&["kernels", "field", "--grid", "3", "-o", s(&d.join("g.npy"))]),
        &["--grid"],
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"good");
}

/// `deblur blind --nonuniform` writes the image and the estimated field (.npy with its sidecar,
/// loadable by `deconv --kernel-field`); its options need --nonuniform.
#[test]
fn nonuniform_blind_writes_a_field_that_deconv_reads() {
    let _lock = deblur_testkit::rng_lock();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = levin_crop(d, "crop.png", 100);
    let (out, field) = (d.join("out.png"), d.join("field.npy"));
    let run = deblur_ok(&[
        "blind",
        s(&input),
        "-o",
        s(&out),
        "--kernel-size",
        "9",
        "--iters",
        "2",
        "--nonuniform",
        "--grid",
        "2x2",
        "--field-iters",
        "2",
        "--kernel-out",
        s(&field),
    ]);
    // the default field: one camera motion (three rounds, the last with free regions)
    assert!(String::from_utf8_lossy(&run.stderr).contains("2x2 field of camera kernels"));
    let loaded = deblur_core::KernelField::load(&field).unwrap();
    assert_eq!((loaded.grid(), loaded.kernel_size()), ([2, 2], [9, 9]));
    assert_eq!(
        deblur_core::load_image(&out).unwrap().pixels.dim(),
        deblur_core::load_image(&input).unwrap().pixels.dim()
    );
    let again = d.join("again.png");
    deblur_ok(&[
        "deconv",
        s(&input),
        "--kernel-field",
        s(&field),
        "-o",
        s(&again),
    ]);
    assert!(again.exists());
    assert_fails(
        &deblur(&["blind", s(&input), "-o", s(&out), "--grid", "2x2"]),
        &["--nonuniform"],
    );
    // a refused run leaves the earlier output as it was
    let refused = |extra: &[&str], words: &[&str]| {
        let before = std::fs::read(&out).unwrap();
        let mut args = vec!["blind", s(&input), "-o", s(&out)];
        args.extend_from_slice(extra);
        assert_fails(&deblur(&args), words);
        assert_eq!(std::fs::read(&out).unwrap(), before);
    };
    // regions narrower than the kernel are refused before any work (100 px / 12 = 8 px < 9 px)
    refused(
        &["--kernel-size", "9", "--nonuniform", "--grid", "12x12"],
        &["grid", "coarser"],
    );
    // Free region kernels on request, in two rounds; the camera field's settings are checked.
    let camera = d.join("camera.png");
    let run = deblur_ok(&[
        "blind",
        s(&input),
        "-o",
        s(&camera),
        "--kernel-size",
        "9",
        "--iters",
        "2",
        "--nonuniform",
        "--grid",
        "2x2",
        "--field-kernels",
        "mlp",
        "--field-rounds",
        "2",
        "--field-iters",
        "2",
    ]);
    assert!(String::from_utf8_lossy(&run.stderr).contains("2x2 field of mlp kernels"));
    assert!(camera.exists());
    for (flag, value) in [
        ("--camera-angle-grid", "0"),
        ("--camera-angle-lr", "-1"),
        ("--camera-angle-lr", "1e300"),
        ("--camera-base-lr", "11"),
    ] {
        let bad = deblur(&[
            "blind",
            s(&input),
            "-o",
            s(&d.join("never.png")),
            "--nonuniform",
            flag,
            value,
        ]);
        assert_fails(&bad, &[flag]);
        assert!(!d.join("never.png").exists());
    }
    // The field's sidecar is an output too: a folder in its place fails before any work.
    std::fs::create_dir(d.join("taken.json")).unwrap();
    let taken = d.join("taken.npy");
    refused(
        &["--nonuniform", "--kernel-out", s(&taken)],
        &["taken.json", "folder"],
    );
    // A field too large to hold is refused by its size.
    assert_fails(
        &deblur(&[
            "kernels",
            "field",
            "--grid",
            "64x64",
            "--size",
            "255",
            "-o",
            s(&d.join("big.npy")),
        ]),
        &["taps"],
    );
}

/// A tiny untrained blur-kernel space saved as `deblur train kernel-space` writes it.
fn tiny_kernel_space(dir: &Path) -> PathBuf {
    use deblur_core::burn::module::Module;
    let config = deblur_models::KernelSpaceConfig::compact()
        .with_width(4)
        .with_front_blocks(1)
        .with_back_blocks(1)
        .with_extractor_blocks(1)
        .with_code_channels(8);
    let model = config.init(&deblur_core::default_device()).unwrap();
    let path = dir.join("ks.bpk");
    model.into_record().save(&path).unwrap();
    std::fs::write(dir.join("ks.json"), serde_json::to_string(&config).unwrap()).unwrap();
    path
}

#[test]
fn transfer_writes_the_targets_and_refuses_bad_input_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = tiny_kernel_space(d);
    let (sharp, blurry, target) = (
        data("levin_im1.png"),
        data("levin_im1_kernel1_img.png"),
        data("levin_im2.png"),
    );
    let out = d.join("out.png");
    // `deblur transfer --model MODEL --sharp SHARP --blurry BLURRY TARGET -o OUT`
    let transfer = |model: &Path, sharp: &Path, blurry: &Path, target: &Path| {
        deblur(&[
            "transfer",
            "--model",
            s(model),
            "--sharp",
            s(sharp),
            "--blurry",
            s(blurry),
            s(target),
            "-o",
            s(&out),
        ])
    };
    let run = transfer(&model, &sharp, &blurry, &target);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let written = deblur_core::load_image(&out).unwrap().pixels;
    let expected = deblur_core::load_image(&target).unwrap().pixels;
    assert_eq!(written.dim(), expected.dim());
    // failures leave a good output alone
    let before = std::fs::read(&out).unwrap();
    assert_fails(
        &transfer(&model, &sharp, &blurry, &d.join("missing.png")),
        &["missing.png"],
    );
    let other_size = levin_crop(d, "small.png", 40);
    assert_fails(
        &transfer(&model, &sharp, &other_size, &target),
        &["small.png", "one size"],
    );
    let text = d.join("notes.png");
    std::fs::write(&text, "not an image").unwrap();
    assert_fails(&transfer(&model, &sharp, &blurry, &text), &["notes.png"]);
    assert_fails(
        &transfer(&d.join("none.bpk"), &sharp, &blurry, &target),
        &["none.bpk", "deblur train kernel-space"],
    );
    // the output must not be an input
    assert_fails(&transfer(&model, &sharp, &blurry, &out), &["out.png"]);
    assert_eq!(std::fs::read(&out).unwrap(), before);
    // folder mode: every image of the folder, same names
    let folder = d.join("targets");
    std::fs::create_dir(&folder).unwrap();
    std::fs::copy(&target, folder.join("a.png")).unwrap();
    std::fs::copy(&sharp, folder.join("b.png")).unwrap();
    let outdir = d.join("blurred");
    deblur_ok(&[
        "transfer",
        "--model",
        s(&model),
        "--sharp",
        s(&sharp),
        "--blurry",
        s(&blurry),
        "--targets",
        s(&folder),
        "--out",
        s(&outdir),
    ]);
    assert!(outdir.join("a.png").exists() && outdir.join("b.png").exists());
}

#[test]
fn blind_through_the_kernel_space_runs_and_refuses_missing_weights_and_tiny_images() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = levin_crop(d, "crop.png", 100);
    let out = d.join("out.png");
    let kernel = d.join("k.png");
    deblur_ok(&[
        "blind",
        s(&input),
        "--method",
        "kernel-space",
        "--iters",
        "3",
        "-o",
        s(&out),
        "--kernel-out",
        s(&kernel),
    ]);
    assert!(out.is_file() && kernel.is_file());
    // no weights: one line naming what is missing, nothing written
    let empty = d.join("empty");
    std::fs::create_dir(&empty).unwrap();
    let missing = d.join("missing.png");
    let run = deblur(&[
        "blind",
        s(&input),
        "--method",
        "kernel-space",
        "--weights",
        s(&empty),
        "-o",
        s(&missing),
    ]);
    assert_fails(&run, &["manifest"]);
    assert!(!missing.exists());
    // an image below F's 16 px
    let tiny = d.join("tiny.png");
    deblur_core::save_image(
        &tiny,
        &ndarray::Array3::<f32>::from_elem((1, 12, 40), 0.5),
        deblur_core::BitDepth::Eight,
    )
    .unwrap();
    let run = deblur(&[
        "blind",
        s(&tiny),
        "--method",
        "kernel-space",
        "--kernel-size",
        "3",
        "-o",
        s(&missing),
    ]);
    assert_fails(&run, &["40x12", "at least 16"]);
    assert!(!missing.exists());
}

/// A known noise level is used as given and said so; the same input estimated says `≈`.
#[test]
fn a_given_noise_level_is_reported_as_given() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.png");
    let image = data("levin_im1.png");
    // 0.02 is above the fast preset's switch (0.004): the coarse-to-fine path, no DIP steps
    let run = deblur_ok(&[
        "blind",
        s(&image),
        "-o",
        s(&out),
        "--kernel-size",
        "15",
        "--noise-std",
        "0.02",
    ]);
    let said = String::from_utf8_lossy(&run.stderr);
    assert!(said.contains("noise σ = 0.0200 (given)"), "{said}");
    assert!(said.contains("coarse-to-fine"), "{said}");
    assert!(out.exists());
}

/// `deblur train denoiser`: a tiny run writes its log, samples, weights and config, resumes to
/// more steps with one log row per step, and the result loads for `deconv --method pnp` (four
/// steps make no denoiser: the quality is tested with the shipped weights).
#[test]
fn train_denoiser_resumes_and_its_weights_drive_pnp_deconv() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("den");
    let args = |steps: &str, resume: bool| {
        let mut a = vec![
            "train",
            "denoiser",
            "--images",
            "dead-leaves",
            "--width",
            "4",
            "--depth",
            "3",
            "--crop",
            "16",
            "--batch",
            "2",
            "--out",
            s(&run),
            "--sample-every",
            "2",
            "--checkpoint-every",
            "2",
            "--steps",
        ];
        a.push(steps);
        if resume {
            a.push("--resume");
        }
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run_args = |a: Vec<String>| deblur(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let first = run_args(args("2", false));
    let said = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{said}");
    // stderr is a pipe here, not a terminal: plain progress lines (the first step and the last)
    // instead of the invisible bar
    assert!(
        said.contains("step 1/2 ") && said.contains("step 2/2 ") && said.contains("s/step"),
        "{said}"
    );
    assert_fails(&run_args(args("4", false)), &["--resume"]);
    // a network or batch too large to build is refused before any work, not by the allocator
    let fresh = dir.path().join("huge");
    for (option, value, word) in [
        ("--depth", "100000000", "depth"),
        ("--width", "100000000", "width"),
        ("--batch", "100000000", "batch"),
    ] {
        assert_fails(
            &deblur(&[
                "train",
                "denoiser",
                "--images",
                "dead-leaves",
                "--steps",
                "1",
                "--out",
                s(&fresh),
                option,
                value,
            ]),
            &[word, "need"],
        );
    }
    let resumed = run_args(args("4", true));
    let said = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{said}");
    assert!(
        said.contains("step 3/4 ") && said.contains("step 4/4 ") && !said.contains("step 1/4"),
        "{said}"
    );
    let log = std::fs::read_to_string(run.join("losses.csv")).unwrap();
    assert_eq!(log.lines().count(), 5, "{log}");
    let model = run.join("denoiser.bpk");
    assert!(run.join("samples_000004.png").exists() && model.exists());
    assert!(run.join("denoiser.json").exists());
    // the weights drive the plug-and-play step
    let (sharp, kernel) = (data("levin_im1.png"), data("levin_kernel1.png"));
    let blurred = dir.path().join("b.png");
    deblur_ok(&[
        "blur",
        s(&sharp),
        "--kernel",
        s(&kernel),
        "--noise-std",
        "0.01",
        "-o",
        s(&blurred),
    ]);
    let out = dir.path().join("pnp.png");
    let o = deblur_ok(&[
        "deconv",
        s(&blurred),
        "--kernel",
        s(&kernel),
        "--method",
        "pnp",
        "--denoiser",
        s(&model),
        "-o",
        s(&out),
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("plug-and-play at noise σ 0.0"));
    assert!(out.exists());
    // a missing model or a bad noise level: one line, no output
    let missing = dir.path().join("none.bpk");
    let out2 = dir.path().join("pnp2.png");
    let bad = deblur(&[
        "deconv",
        s(&blurred),
        "--kernel",
        s(&kernel),
        "--method",
        "pnp",
        "--denoiser",
        s(&missing),
        "-o",
        s(&out2),
    ]);
    assert_fails(&bad, &["none.bpk", "deblur train denoiser"]);
    let bad = deblur(&[
        "deconv",
        s(&blurred),
        "--kernel",
        s(&kernel),
        "--method",
        "pnp",
        "--denoiser",
        s(&model),
        "--noise-std=-0.5",
        "-o",
        s(&out2),
    ]);
    assert_fails(&bad, &["-0.5"]);
    assert!(!out2.exists());
    // fine-tuning: a new run started from those weights takes their layout (width 4, depth 3)
    let tuned = dir.path().join("tuned");
    let tune = |extra: &[&str]| {
        let mut a = vec![
            "train",
            "denoiser",
            "--images",
            "dead-leaves",
            "--crop",
            "16",
            "--batch",
            "2",
            "--steps",
            "1",
            "--out",
            s(&tuned),
            "--init",
            s(&model),
        ];
        a.extend_from_slice(extra);
        deblur(&a)
    };
    assert_fails(&tune(&["--width", "5"]), &["width 4", "width 5"]);
    // refused before the run folder is made
    assert!(!tuned.exists());
    assert_fails(&tune(&["--resume"]), &["--resume"]);
    let o = tune(&[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let config = std::fs::read_to_string(tuned.join("denoiser.json")).unwrap();
    assert!(
        config.contains("\"width\": 4") && config.contains("\"depth\": 3"),
        "{config}"
    );
}
