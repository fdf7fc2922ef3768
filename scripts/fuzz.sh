#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer through the libfuzzer-sys crate, no cargo-fuzz needed) of
# the image, kernel and weights loaders and the argument validation (`fuzz/fuzz_targets/`).
#
#   scripts/fuzz.sh build                 # instrumented release build of the four targets
#   scripts/fuzz.sh run TARGET SECONDS    # fuzz one target, growing fuzz/corpus/TARGET
#   scripts/fuzz.sh ci [SECONDS]          # every target for SECONDS (default 20) each
#
# A crash leaves its input in fuzz/artifacts/TARGET/; replay it with
# `fuzz/target/x86_64-unknown-linux-gnu/release/TARGET fuzz/artifacts/TARGET/crash-…`.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
targets=(image kernel weights options)
triple="$(rustc -vV | sed -n 's/^host: //p')"
bin_dir="target/$triple/release"

build() {
    # The flags cargo-fuzz passes: sanitizer coverage with inline 8-bit counters, comparison
    # tracing, the fuzzing cfg, debug assertions and overflow checks. `--target` keeps build
    # scripts and proc macros uninstrumented.
    RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks" \
        cargo build --release --target "$triple" --bins
}

run() {
    local target="$1" seconds="$2"
    mkdir -p "corpus/$target" "artifacts/$target"
    # One worker: the loaders allocate up to the formats' limits, so 2 GB of RSS is the ceiling.
    "$bin_dir/$target" "corpus/$target" "seeds/$target" -max_total_time="$seconds" \
        -rss_limit_mb=2048 -max_len=65536 -artifact_prefix="artifacts/$target/" -print_final_stats=1
}

case "${1:-}" in
    build) build ;;
    run) run "$2" "$3" ;;
    ci)
        build
        for t in "${targets[@]}"; do run "$t" "${2:-20}"; done
        ;;
    *) sed -n 2,11p "$0"; exit 1 ;;
esac
