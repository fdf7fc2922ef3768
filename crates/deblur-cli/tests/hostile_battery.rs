//! The hostile battery of issue 21 (`scripts/hostile-battery.sh`) against this build's binary:
//! exit status 2 with one line for every user error, no panic or signal, no good file clobbered,
//! bounded memory, `--seed` honoured, the example kernel improving the example image. The script
//! prints one line per case; this test fails when any case misbehaved.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_hostile_battery_behaves() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    // 12000 × 12000 zeros: a few hundred kB of PNG, 144 megapixels once decoded.
    let huge = dir.path().join("huge.png");
    image::GrayImage::new(12_000, 12_000).save(&huge).unwrap();
    let out = Command::new("bash")
        .arg(repo.join("scripts/hostile-battery.sh"))
        .arg(env!("CARGO_BIN_EXE_deblur"))
        .env("HOSTILE_HUGE_PNG", &huge)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stdout);
    println!("{log}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "cases failed:\n{log}");
    assert!(log.contains(" 0 failed"), "{log}");
    // The size cases ran (the PNG reached the script).
    assert!(log.contains("deconv of a 12000x12000 PNG"), "{log}");
}
