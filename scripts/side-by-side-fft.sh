#!/usr/bin/env bash
# Side by side on this machine: one uniform blur through the FFT, forward + backward with image
# and kernel gradients (31 px kernel, reflect, same size), at 256² and 1024², in deblur-rs
# (`cargo bench --bench blur -- fft/31`, criterion, flex, 2 threads) and in PyTorch
# (scripts/pytorch_fft_blur.py, torch.fft, 2 threads), alternately, ROUNDS times; prints each
# round and the median ratio ours / PyTorch per size.
#
#   scripts/side-by-side-fft.sh [ROUNDS]        (default 3)
#
# PyTorch comes from a scratch virtual environment, never from the project:
#   python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch
#   TORCH_PYTHON=/tmp/torchenv/bin/python scripts/side-by-side-fft.sh
# Run it on an otherwise idle machine: both sides use 2 threads.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
kernel=31
. scripts/side-by-side-common.sh
cargo bench --bench blur --no-run >/dev/null 2>&1
declare -A ratios
for round in $(seq 1 "$rounds"); do
    for side in 256 1024; do
        ours=$(criterion_ms blur "core/blur/$side/fft/$kernel\$")
        line=$("$py" scripts/pytorch_fft_blur.py --threads 2 --sides "$side" --kernel "$kernel" --iters 20)
        theirs=$(echo "$line" | sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p')
        ratio=$(awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "%.3f", a / b }')
        ratios[$side]="${ratios[$side]:-} $ratio"
        echo "round $round, ${side}²: deblur-rs ${ours} ms, PyTorch ${theirs} ms, ratio ${ratio}"
    done
done
for side in 256 1024; do
    median=$(printf '%s\n' ${ratios[$side]} | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
    echo "median ratio deblur-rs / PyTorch at ${side}² over $rounds rounds: $median"
done
