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
py="${TORCH_PYTHON:-/tmp/torchenv/bin/python}"
rounds="${1:-3}"
kernel=31
if ! "$py" -c "import torch" 2>/dev/null; then
    echo "error: no PyTorch at $py; make a scratch environment: python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch, then set TORCH_PYTHON" >&2
    exit 2
fi
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
cargo bench --bench blur --no-run >/dev/null 2>&1
ours_ms() {
    # criterion's middle estimate for one size, in milliseconds
    RAYON_NUM_THREADS=2 cargo bench --bench blur -- "core/blur/$1/fft/$kernel\$" 2>/dev/null |
        awk '/time:/ { gsub(/\[|\]/, ""); for (i = 1; i <= NF; i++) if ($i == "time:") t = i;
                      v = $(t + 3); u = $(t + 4);
                      if (u == "s") v *= 1000; if (u == "µs" || u == "us") v /= 1000;
                      print v; exit }'
}
declare -A ratios
for round in $(seq 1 "$rounds"); do
    for side in 256 1024; do
        ours=$(ours_ms "$side")
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
