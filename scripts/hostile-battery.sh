#!/usr/bin/env bash
# The hostile battery of issue 21, rebuilt from the issue's list: every case a user error or a
# hostile input, each checked for its exit status (2 with one line of error, never a panic or a
# signal), for the good files it must leave untouched, and for its peak memory.
#
#   cargo build --release -p deblur-cli && scripts/hostile-battery.sh [path/to/deblur]
#
# Prints one line per case and a summary; exits 1 if any case misbehaved. Needs only the repo
# (examples/data, weights/); about 30 s on 2 cores. `cargo test --release -p deblur-cli --test
# hostile_battery` runs it with the test's binary and the large PNG it makes.
set -u
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin="$(realpath "${1:-$repo/target/release/deblur}")"
[ -x "$bin" ] || { echo "no binary at $bin: cargo build --release -p deblur-cli" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

img="$repo/examples/data/im1_kernel4_img.png"
ker="$repo/examples/data/im1_kernel4_kernel.png"
sharp="$repo/examples/data/im1_sharp.png"
cp "$img" img.png
cp "$ker" k.png
printf 'good output\n' > good.png
cp good.png good.ref
mkdir -p adir
"$bin" kernel synth --size 31 --count 8 --seed 1 -o bank.npy > /dev/null 2>&1

pass=0
fail=0
# Peak memory by GNU time when the machine has it (Debian's `time` package); without it the
# memory checks are skipped and said so once.
if [ -x /usr/bin/time ]; then
    measure=(/usr/bin/time -f '%M' -o rss.txt)
else
    measure=()
    echo "skip  peak-memory checks (/usr/bin/time not installed)"
fi
# check NAME EXPECTED_STATUS MAX_RSS_MB -- COMMAND...: runs it (60 s limit), then checks the
# status, that stderr is one "error:" line when the status is 2, that good.png is untouched, and
# the peak resident memory.
check() {
    local name="$1" want="$2" max_mb="$3"
    shift 4
    rm -f rss.txt
    "${measure[@]}" timeout 60 "$@" > out.txt 2> err.txt
    local got=$? rss_kb why=""
    rss_kb="$(tail -1 rss.txt 2>/dev/null | tr -dc 0-9)"
    [ "$got" = "$want" ] || why="status $got (want $want)"
    if [ "$want" = 2 ]; then
        local lines
        lines="$(grep -cv '^$' err.txt)"
        { [ "$lines" = 1 ] && grep -q '^error: ' err.txt; } || why="$why; stderr not one error line"
    fi
    cmp -s good.png good.ref || { why="$why; good.png changed"; cp good.ref good.png; }
    if [ ${#measure[@]} -gt 0 ]; then
        [ -n "$rss_kb" ] && [ $((rss_kb / 1024)) -le "$max_mb" ] || why="$why; peak ${rss_kb:-?} kB"
    fi
    if [ -z "$why" ]; then
        pass=$((pass + 1))
        printf 'ok    %-58s %s  %s\n' "$name" "$got" "$(head -c 110 err.txt | head -1)"
    else
        fail=$((fail + 1))
        printf 'FAIL  %-58s %s\n      %s\n' "$name" "$why" "$(head -c 300 err.txt)"
    fi
}
# unchanged FILE REF: a second check after a case that targets a file other than good.png.
unchanged() {
    if cmp -s "$1" "$2"; then pass=$((pass + 1)); printf 'ok    %-58s\n' "$1 untouched"
    else fail=$((fail + 1)); printf 'FAIL  %-58s\n' "$1 changed"; fi
}

echo "== panics on numbers"
# A huge iteration count is legitimate work: it must run in bounded memory (no reservation up
# front), so it is still running when stopped after 5 s (status 124), good.png untouched.
check "blind --method selfdeblur --iters 68719476736" 124 500 -- timeout 5 "$bin" blind img.png \
    -o good.png --method selfdeblur --kernel-size 9 --iters 68719476736
check "score --crop u64::MAX" 2 500 -- "$bin" score img.png -r "$sharp" --crop 18446744073709551615
check "score --crop wrapping the image" 2 500 -- "$bin" score img.png -r "$sharp" --crop 4000000000
for opt in --checkpoint-every --sample-every --width --steps --batch; do
    check "train kernel-prior $opt 0" 2 500 -- "$bin" train kernel-prior --bank bank.npy --size 31 \
        --steps 1 --width 4 --batch 2 "$opt" 0 --out run0
done
for opt in --checkpoint-every --width --inner-steps --crop; do
    check "train initializer $opt 0" 2 500 -- "$bin" train initializer --bank bank.npy \
        --images adir --steps 1 "$opt" 0 --out run1
done
for lr in NaN inf -1 0; do
    check "train initializer --lr $lr" 2 500 -- "$bin" train initializer --bank bank.npy \
        --images adir --steps 1 --lr "$lr" --out run2
done
for w in NaN inf -1; do
    check "deconv wiener --weight $w" 2 500 -- "$bin" deconv img.png -k k.png -o good.png \
        --method wiener --weight "$w"
done
check "blur --noise-std NaN" 2 500 -- "$bin" blur "$sharp" -k k.png -o good.png --noise-std NaN
check "blind --kernel-size 0" 2 500 -- "$bin" blind img.png -o good.png --kernel-size 0
check "blind --window-side 0" 2 500 -- "$bin" blind img.png -o good.png --window-side 0

echo "== weights that disagree with their config"
mkdir -p wbad
cp "$repo"/weights/* wbad/
sed -i 's/"base_channels": 64/"base_channels": 32/' wbad/kernel_generator_shake_k31_v1.json
check "kernel sample with a config that does not fit the .bpk" 2 1000 -- "$bin" kernel sample \
    --weights wbad --count 2 -o good.png
check "blind --method glkm with that folder" 2 1000 -- "$bin" blind img.png -o good.png \
    --method glkm --weights wbad --iters 2

echo "== outputs: a failed run never clobbers a good file"
check "blind --kernel-out into a missing folder" 2 500 -- "$bin" blind img.png -o good.png \
    --kernel-out nodir/k.png
check "blind --before-after into a missing folder" 2 500 -- "$bin" blind img.png -o good.png \
    --before-after nodir/ba.png
check "blind --loss-plot into a missing folder" 2 500 -- "$bin" blind img.png -o good.png \
    --loss-plot nodir/loss.png
check "kernel synth --preview into a missing folder" 2 500 -- "$bin" kernel synth --size 9 \
    --count 2 -o good.png --preview nodir/p.png
check "kernel sample --npy into a missing folder" 2 500 -- "$bin" kernel sample --count 2 \
    -o good.png --npy nodir/k.npy
check "blind --kernel-out equal to -o" 2 500 -- "$bin" blind img.png -o good.png \
    --kernel-out good.png
cp img.png img.ref
check "blind --kernel-out equal to the input" 2 500 -- "$bin" blind img.png -o out.png \
    --kernel-out img.png
unchanged img.png img.ref
check "blind -o equal to the input" 2 500 -- "$bin" blind img.png -o img.png
unchanged img.png img.ref
check "deconv -o equal to the kernel" 2 500 -- "$bin" deconv img.png -k k.png -o k.png
start=$(date +%s)
check "paper preset with a typo in --kernel-out (fails at once)" 2 500 -- "$bin" blind img.png \
    -o good.png --preset paper --kernel-out nodir/k.png
[ $(($(date +%s) - start)) -le 5 ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL  typo found late"; }
ln -s good.png link.png
check "-o a symbolic link" 2 500 -- "$bin" deconv img.png -k k.png -o link.png
mkfifo pipe.png
check "-o a named pipe" 2 500 -- "$bin" deconv img.png -k k.png -o pipe.png
mknod fulldev.png c 1 7 2> /dev/null && {
    check "-o a device node (/dev/full's numbers)" 2 500 -- "$bin" deconv img.png -k k.png \
        -o fulldev.png
    [ -c fulldev.png ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL  device replaced"; }
}
check "-o a folder" 2 500 -- "$bin" deconv img.png -k k.png -o adir
check "-o with an unknown extension" 2 500 -- "$bin" deconv img.png -k k.png -o out.xyz
ls ./*.tmp .*.tmp 2> /dev/null && { fail=$((fail + 1)); echo "FAIL  temporary files left"; }

echo "== size policy"
# A 12000x12000 PNG (small on disk, 144 megapixels decoded), made by the cargo test that runs
# this script (crates/deblur-cli/tests/hostile_battery.rs) and passed in HOSTILE_HUGE_PNG.
if [ -n "${HOSTILE_HUGE_PNG:-}" ]; then
    cp "$HOSTILE_HUGE_PNG" huge.png
else
    echo "skip  the 12000x12000 cases (HOSTILE_HUGE_PNG not set; the cargo test sets it)"
fi
if [ -f huge.png ]; then
    check "deconv of a 12000x12000 PNG" 2 500 -- "$bin" deconv huge.png -k k.png -o good.png
    check "blind of a 12000x12000 PNG" 2 500 -- "$bin" blind huge.png -o good.png
fi
check "kernel synth --size 100000" 2 500 -- "$bin" kernel synth --size 100000 --count 1 -o b2.npy
check "kernel sample --count 1e8" 2 500 -- "$bin" kernel sample --count 100000000 -o s.png
check "kernel show --cell 100000" 2 500 -- "$bin" kernel show k.png -o good.png --cell 100000

echo "== messages"
check "train --resume without a checkpoint" 2 500 -- "$bin" train kernel-prior --bank bank.npy \
    --size 31 --steps 1 --width 4 --batch 2 --out norun --resume
grep -q 'Os {' err.txt && { fail=$((fail + 1)); echo "FAIL  raw OS error text"; }
check "train kernel-prior: a run" 0 2000 -- "$bin" train kernel-prior --bank bank.npy --size 31 \
    --steps 2 --width 4 --batch 2 --checkpoint-every 1 --sample-every 1 --out run3
check "resume with a changed --width" 2 500 -- "$bin" train kernel-prior --bank bank.npy --size 31 \
    --steps 4 --width 8 --batch 2 --out run3 --resume
check "resume with a changed --seed" 2 500 -- "$bin" train kernel-prior --bank bank.npy --size 31 \
    --steps 4 --width 4 --batch 2 --seed 5 --out run3 --resume
ls run3/checkpoint/*.tmp 2> /dev/null && { fail=$((fail + 1)); echo "FAIL  stale .tmp files"; }
cp -r run3 run4
for f in run4/checkpoint/*.bpk; do head -c 100 "$f" > "$f.cut" && mv "$f.cut" "$f"; done
check "resume from a corrupt checkpoint names the file" 2 500 -- "$bin" train kernel-prior \
    --bank bank.npy --size 31 --steps 4 --width 4 --batch 2 --out run4 --resume
grep -q 'run4/checkpoint' err.txt && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL  file not named"; }

echo "== --seed reaches the run"
"$bin" blind img.png -o s1.png --iters 3 --window-side 64 --kernel-size 9 --seed 1 > /dev/null 2>&1
"$bin" blind img.png -o s2.png --iters 3 --window-side 64 --kernel-size 9 --seed 2 > /dev/null 2>&1
"$bin" blind img.png -o s3.png --iters 3 --window-side 64 --kernel-size 9 --seed 1 > /dev/null 2>&1
if ! cmp -s s1.png s2.png && cmp -s s1.png s3.png; then pass=$((pass + 1)); echo "ok    blind: seeds 1, 2 differ; seed 1 twice is equal"
else fail=$((fail + 1)); echo "FAIL  blind --seed"; fi
for s in 1 2; do
    "$bin" train kernel-prior --bank bank.npy --size 31 --steps 2 --width 4 --batch 2 --seed $s \
        --out seed$s > /dev/null 2>&1
done
if ! cmp -s seed1/generator.bpk seed2/generator.bpk 2> /dev/null && [ -f seed1/generator.bpk ]; then
    pass=$((pass + 1)); echo "ok    train kernel-prior: seeds 1, 2 give different weights"
else fail=$((fail + 1)); echo "FAIL  train kernel-prior --seed ($(ls seed1 2>&1 | tr '\n' ' '))"; fi

echo "== the README's example kernel"
"$bin" deconv img.png -k k.png -o dec.png > /dev/null 2>&1
before="$("$bin" score img.png -r "$sharp" --json | grep -o '"psnr": *[0-9.]*' | grep -o '[0-9.]*$')"
after="$("$bin" score dec.png -r "$sharp" --json | grep -o '"psnr": *[0-9.]*' | grep -o '[0-9.]*$')"
if awk -v a="$after" -v b="$before" 'BEGIN { exit !(a > b + 3) }'; then
    pass=$((pass + 1)); echo "ok    deconv of the example: $before -> $after dB"
else fail=$((fail + 1)); echo "FAIL  deconv of the example: $before -> $after dB"; fi

echo "== $pass passed, $fail failed"
[ "$fail" = 0 ]
