#!/usr/bin/env bash
# Side by side on this machine: one SelfDeblur iteration (reference DIP at 281², kernel MLP 27²,
# valid blur, MSE, backward, Adam) in deblur-rs (`cargo bench --bench dip_iteration -- paper-fused`,
# criterion, flex, 2 threads) and in PyTorch (scripts/pytorch_dip_iteration.py, 2 threads),
# alternately, ROUNDS times; prints each round and the median ratio ours / PyTorch.
#
#   scripts/side-by-side-dip.sh [ROUNDS]        (default 3)
#
# PyTorch comes from a scratch virtual environment, never from the project:
#   python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch
#   TORCH_PYTHON=/tmp/torchenv/bin/python scripts/side-by-side-dip.sh
# Run it on an otherwise idle machine: both sides use 2 threads.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
. scripts/side-by-side-common.sh
cargo bench --bench dip_iteration --no-run >/dev/null 2>&1
ours_s() {
    # criterion's middle estimate of the iteration time, in seconds
    awk -v ms="$(criterion_ms dip_iteration paper-fused)" 'BEGIN { print ms / 1000 }'
}
ratios=()
for round in $(seq 1 "$rounds"); do
    ours=$(ours_s)
    line=$("$py" scripts/pytorch_dip_iteration.py --threads 2 --iters 10 --warmup 2)
    theirs=$(echo "$line" | sed -n 's/.*median_s=\([0-9.]*\).*/\1/p')
    ratio=$(awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "%.3f", a / b }')
    ratios+=("$ratio")
    echo "round $round: deblur-rs ${ours} s, PyTorch ${theirs} s, ratio ${ratio}  (${line})"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
echo "median ratio deblur-rs / PyTorch over $rounds rounds: $median"
