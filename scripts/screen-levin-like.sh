#!/usr/bin/env bash
# Screening for the DIP fast preset without the Levin set: a folder in the Levin layout built
# from our own data, then `deblur bench levin --data` on it with the options given.
#
#   scripts/screen-levin-like.sh NAME [bench levin options ...]
#
# The folder (built once, deterministically, under target/screen-levin-like; SCREEN_DIR to move
# it): four held-out train400 crops (test_312, test_337, test_364, test_391; 180², grey) as
# gt/im1..im4.png, eight synthetic shake kernels at the sizes the SelfDeblur Levin script gives
# kernels 1..8 (17, 15, 13, 27, 11, 19, 21, 21 px; `deblur kernels synth --count 1 --seed 900+J`)
# as gt/kernel1..8.npy, and the 32 observations imI_kernelJ_img.png (`deblur blur --padding
# symmetric`, 8 bits, no noise). The bench's own kernel sizes per kernel number apply, as on Levin.
# The table goes to docs/data/screening/levin_like_NAME.csv.
#
# REAL=1 builds and uses a second folder (target/screen-levin-real) whose blur is one
# convolution only approximately, as in photographed sets such as Levin's: each kernel J is the
# centre of a camera-motion field (`deblur kernels field --generator camera --grid 3x3
# --max-rotation 1 --seed 900+J`, SVOLA blur, symmetric extension) with 0.2 % Gaussian noise
# (seed 10*I+J) before the 8-bit rounding; gt/kernelJ.npy is the field's centre kernel (the same
# seed's field without rotation, 1x1). CSVs then go to levin_real_NAME.csv.
#
# FULL=1 builds and uses a third folder (target/screen-levin-full) whose kernels fill most of
# their canvas, as the kernels of Levin's set do at the sizes the SelfDeblur script gives them
# (the default folder's shake paths curl into 4-8 px of a 13-27 px canvas): `deblur kernels
# synth --path-length 2K --extent 0.7..0.95`, otherwise as the default folder. CSVs then go to
# levin_full_NAME.csv.
#
# The bench gets `--noise-std 0.003` (NOISE_STD to change it): the crops' estimated noise (about
# 0.004) would otherwise switch the fast preset to the coarse-to-fine L0 path, which Levin's
# images (0.0029) do not take. Examples:
#   scripts/screen-levin-like.sh default --seeds 0,1
#   scripts/screen-levin-like.sh iters700 --seeds 0,1 --iters 700
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ]; then
    echo "usage: scripts/screen-levin-like.sh NAME [bench levin options ...]" >&2
    exit 2
fi
name=$1
shift
# the name becomes part of a file name under docs/data/screening
case "$name" in
    '' | .* | *[!A-Za-z0-9_.-]*)
        echo "NAME $name: use letters, digits, '_', '.' and '-' (it names docs/data/screening/levin_like_NAME.csv)" >&2
        exit 2
        ;;
esac
data=../shared/data/train400
real=${REAL:-0}
full=${FULL:-0}
if [ "$real" = 1 ] && [ "$full" = 1 ]; then
    echo "REAL=1 and FULL=1 build different folders: set one" >&2
    exit 2
fi
if [ "$full" = 1 ]; then
    dir=${SCREEN_DIR:-target/screen-levin-full}
    csv=docs/data/screening/levin_full_$name.csv
elif [ "$real" = 1 ]; then
    dir=${SCREEN_DIR:-target/screen-levin-real}
    csv=docs/data/screening/levin_real_$name.csv
else
    dir=${SCREEN_DIR:-target/screen-levin-like}
    csv=docs/data/screening/levin_like_$name.csv
fi
cargo build --release -p deblur-cli >/dev/null
deblur=target/release/deblur
if [ ! -f "$dir/complete" ]; then
    [ -d "$data" ] || { echo "$data: not found (the shared data sits beside the checkout)" >&2; exit 2; }
    mkdir -p "$dir/gt"
    images=(test_312 test_337 test_364 test_391)
    sizes=(17 15 13 27 11 19 21 21)
    for i in 1 2 3 4; do
        cp "$data/${images[i - 1]}.png" "$dir/gt/im$i.png"
    done
    for j in 1 2 3 4 5 6 7 8; do
        if [ "$real" = 1 ]; then
            field=(--size "${sizes[j - 1]}" --image-size 180x180 --seed $((900 + j)))
            "$deblur" kernels field "${field[@]}" --grid 3x3 --max-rotation 1 \
                -o "$dir/field$j.npy" >/dev/null
            "$deblur" kernels field "${field[@]}" --grid 1x1 --max-rotation 0 \
                -o "$dir/gt/kernel$j.npy" >/dev/null
            blur=(--kernel-field "$dir/field$j.npy" --noise-std 0.002)
        else
            shape=()
            if [ "$full" = 1 ]; then
                shape=(--path-length $((2 * sizes[j - 1])) --extent 0.7..0.95)
            fi
            "$deblur" kernels synth --size "${sizes[j - 1]}" --count 1 --seed $((900 + j)) \
                "${shape[@]}" -o "$dir/gt/kernel$j.npy" >/dev/null
            blur=(--kernel "$dir/gt/kernel$j.npy")
        fi
        for i in 1 2 3 4; do
            "$deblur" blur "$dir/gt/im$i.png" "${blur[@]}" --seed $((10 * i + j)) \
                --padding symmetric --bit-depth 8 -o "$dir/im${i}_kernel${j}_img.png" >/dev/null
        done
    done
    touch "$dir/complete"
fi
mkdir -p docs/data/screening
"$deblur" bench levin --data "$dir" --noise-std "${NOISE_STD:-0.003}" "$@" \
    --csv "$csv"
