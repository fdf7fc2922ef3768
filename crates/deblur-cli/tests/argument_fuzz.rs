//! Seeded fuzzing of the command line: random subcommands with random options and hostile
//! values (huge, negative, NaN, empty, non-ASCII, paths to nothing, to folders and to devices).
//! Whatever the arguments, `deblur` must end with status 0 or 2, never a panic (101) or an abort
//! (a signal), and a failure must leave the good file in the folder untouched. Runs that are
//! still computing after a few seconds are legitimate work and are stopped.
//!
//! `DEBLUR_FUZZ_CASES` sets the number of runs (default 150: about a minute); `DEBLUR_FUZZ_FIRST`
//! the first case, to replay one.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

/// Valid command lines (on the files the test puts in its folder), each then mutated.
const TEMPLATES: [&str; 11] = [
    "blind img.png -o out.png --iters 3 --kernel-size 9 --window-side 64",
    "deconv img.png --kernel k.png -o out.png",
    "blur good.png --kernel k.png -o out.png --noise-std 0.01 --seed 1",
    "score img.png --reference good.png",
    "kernel synth --size 9 --count 3 -o b.npy --preview p.png",
    "kernel show k.png -o show.png --cell 32",
    "kernel stats k.png",
    "train kernel-prior --bank bank.npy --size 31 --steps 1 --width 4 --batch 2 --out run",
    "batch folder outdir --iters 2 --kernel-size 9",
    "deconv img.png --kernel k.png -o out.png --method wiener --weight 0.01",
    "blind img.png -o out.png --iters 2 --kernel-out kout.png --loss-plot loss.png",
];

const OPTIONS: [&str; 40] = [
    "-o",
    "--output",
    "--kernel",
    "--kernel-size",
    "--iters",
    "--seed",
    "--preset",
    "--method",
    "--window-side",
    "--window",
    "--kernel-out",
    "--before-after",
    "--loss-plot",
    "--weight",
    "--noise-std",
    "--padding",
    "--crop",
    "--reference",
    "--size",
    "--count",
    "--generator",
    "--cell",
    "--columns",
    "--steps",
    "--batch",
    "--width",
    "--lr",
    "--checkpoint-every",
    "--sample-every",
    "--bank",
    "--images",
    "--out",
    "--shard",
    "--max-megapixels",
    "--tile",
    "--device",
    "--kernels",
    "--resume",
    "--json",
    "--quick",
];

const VALUES: [&str; 30] = [
    "0",
    "1",
    "3",
    "-1",
    "31",
    "1e308",
    "NaN",
    "inf",
    "-inf",
    "18446744073709551616",
    "4294967297",
    "",
    " ",
    "é",
    "🙂",
    "1,2,3",
    "0,0,0,0",
    "2/1",
    "1/0",
    "/",
    "/dev/null",
    "/dev/full",
    "missing.png",
    "folder",
    "good.png",
    "img.png",
    "k.png",
    "bank.npy",
    "x.npy",
    "-",
];

fn run(dir: &Path, args: &[String]) -> Option<std::process::ExitStatus> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_deblur"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start deblur");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for deblur") {
            return Some(status);
        }
        if start.elapsed() > Duration::from_secs(4) {
            // still working: valid arguments, a real computation
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn random_command_lines_end_in_0_or_2_and_keep_the_good_file() {
    let cases: u64 = std::env::var("DEBLUR_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150);
    let first: u64 = std::env::var("DEBLUR_FUZZ_FIRST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data");
    std::fs::copy(data.join("im1_kernel4_img.png"), dir.path().join("img.png")).unwrap();
    std::fs::copy(
        data.join("im1_kernel4_kernel.png"),
        dir.path().join("k.png"),
    )
    .unwrap();
    std::fs::copy(data.join("im1_sharp.png"), dir.path().join("good.png")).unwrap();
    std::fs::create_dir(dir.path().join("folder")).unwrap();
    std::fs::copy(
        data.join("im1_kernel4_img.png"),
        dir.path().join("folder/a.png"),
    )
    .unwrap();
    let bank = Command::new(env!("CARGO_BIN_EXE_deblur"))
        .args([
            "kernel", "synth", "--size", "31", "--count", "4", "-o", "bank.npy",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(bank.status.success());
    let good = std::fs::read(dir.path().join("good.png")).unwrap();
    let mut failures = Vec::new();
    let (mut ok, mut refused, mut stopped) = (0, 0, 0);
    for case in first..first + cases {
        let mut rng = StdRng::seed_from_u64(case);
        let mut args: Vec<String> = TEMPLATES
            .choose(&mut rng)
            .unwrap()
            .split(' ')
            .map(str::to_string)
            .collect();
        for _ in 0..rng.random_range(1..4) {
            match rng.random_range(0..3) {
                // a value (or a file name) replaced by a hostile one
                0 => {
                    let at = rng.random_range(1..args.len());
                    args[at] = VALUES.choose(&mut rng).unwrap().to_string();
                }
                // an option added, with a hostile value
                1 => {
                    args.push(OPTIONS.choose(&mut rng).unwrap().to_string());
                    args.push(VALUES.choose(&mut rng).unwrap().to_string());
                }
                // a token dropped
                _ => {
                    if args.len() > 2 {
                        let at = rng.random_range(1..args.len());
                        args.remove(at);
                    }
                }
            }
        }
        let Some(status) = run(dir.path(), &args) else {
            stopped += 1;
            continue;
        };
        let code = status.code();
        match code {
            Some(0) => ok += 1,
            Some(2) => refused += 1,
            _ => {}
        }
        if !matches!(code, Some(0) | Some(2)) {
            failures.push(format!(
                "case {case}: {args:?} ended with {:?} (signal {:?})",
                code,
                status.signal()
            ));
        }
        if std::fs::read(dir.path().join("good.png")).ok().as_ref() != Some(&good) {
            if code != Some(0) {
                failures.push(format!("case {case}: {args:?} failed but changed good.png"));
            }
            // a successful run may write over it; the next case starts from the good file
            std::fs::write(dir.path().join("good.png"), &good).unwrap();
        }
    }
    eprintln!("{cases} command lines: {ok} succeeded, {refused} refused, {stopped} still working");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
