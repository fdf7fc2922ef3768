#!/usr/bin/env bash
# One sitting of GLKM kernel-prior training on a borrowed GPU, inside a fixed wall-clock budget:
# kernel banks, the generators for K = 31, 55 and 75 (in parallel, 20 epochs or the time limit,
# whichever comes first), then the K = 31 initializer on natural crops with noise, paired with the
# new K = 31 generator. Every run folder can be continued with the same commands plus --resume.
# Before the training it times the wgpu build on one Levin image (paper and fast presets).
#
# usage: scripts/gpu-priors.sh BIN IMAGES OUT GEN_MINUTES TOTAL_MINUTES
#   BIN            the deblur binary built with `--features wgpu`
#   IMAGES         folder of sharp training images (../shared/data/train400)
#   OUT            output folder (created)
#   GEN_MINUTES    time limit of the K = 31 generator (K = 55 and 75 run until TOTAL_MINUTES)
#   TOTAL_MINUTES  the whole sitting, timings included
# Environment: DEV (default wgpu; falls back to cpu when wgpu does not start), COUNT (kernels per
# bank, default 50000), STEPS (generator steps, default 7813 = 20 epochs of 50 000 at batch 128),
# TIMING (0 skips the timings), TIMING_ITERS (default "20 220"), INIT_* (initializer settings,
# below).
set -uo pipefail
BIN=$1 IMAGES=$2 OUT=$3 GEN_MIN=$4 TOTAL_MIN=$5
DEV=${DEV:-wgpu}
COUNT=${COUNT:-50000}
STEPS=${STEPS:-7813}
TIMING=${TIMING:-1}
INIT_BATCH=${INIT_BATCH:-64} INIT_INNER=${INIT_INNER:-50} INIT_WIDTH=${INIT_WIDTH:-32}
INIT_CROP=${INIT_CROP:-128} INIT_NOISE=${INIT_NOISE:-0.02} INIT_LR=${INIT_LR:-1e-4}
start=$(date +%s)
mkdir -p "$OUT"
log() { echo "[$(date +%T) +$(( $(date +%s) - start ))s] $*" | tee -a "$OUT/log.txt"; }
minutes_left() { awk -v t="$TOTAL_MIN" -v e="$(( $(date +%s) - start ))" 'BEGIN { printf "%.2f", t - e / 60 }'; }
IMG=examples/data/im1_kernel4_img.png

log "device $DEV; $(nproc) cores; $(nvidia-smi -L 2>/dev/null | head -1)"
if [ "$TIMING" = 1 ]; then
    # the DIP iteration from the slope between two runs (start-up and shader compilation cancel)
    for it in ${TIMING_ITERS:-20 220}; do
        t0=$(date +%s%N)
        timeout 90 "$BIN" blind "$IMG" --kernel-size 27 --preset paper --iters $it --device "$DEV" \
            -o "$OUT/paper_$it.png" >> "$OUT/timing.log" 2>&1
        rc=$?
        if [ $rc = 124 ]; then
            log "timing: paper preset, $it iterations: over 90 s, stopped"
            TIMING_FAST=0
            break
        elif [ $rc != 0 ]; then
            log "wgpu did not run (exit $rc, see timing.log); falling back to the CPU"
            DEV=cpu
            break
        fi
        log "timing: paper preset, $it iterations: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
    done
    if [ "$DEV" != cpu ] && [ "${TIMING_FAST:-1}" = 1 ]; then
        t0=$(date +%s%N)
        timeout 90 "$BIN" blind "$IMG" --kernel-size 27 --device "$DEV" -o "$OUT/fast.png" \
            >> "$OUT/timing.log" 2>&1
        log "timing: fast preset (defaults): $(( ($(date +%s%N) - t0) / 1000000 )) ms"
    fi
fi

for k in 31 55 75; do
    "$BIN" kernels synth --generator shake --size $k --count "$COUNT" --seed 1 -o "$OUT/bank$k.npy" \
        > "$OUT/synth$k.log" 2>&1 &
done
wait
log "banks written"

gen() { # K MINUTES
    "$BIN" train kernel-prior --bank "$OUT/bank$1.npy" --size "$1" --steps "$STEPS" --seed 0 \
        --out "$OUT/g$1" --device "$DEV" --max-minutes "$2" --checkpoint-every 250 \
        --sample-every 1000 > "$OUT/g$1.log" 2>&1
    log "generator K=$1 stopped (exit $?): $(tail -c 300 "$OUT/g$1.log" | tr '\r' '\n' | tail -1)"
}
# the K = 55 and 75 runs stop a minute before the end, leaving time to pack
late=$(awk -v m="$(minutes_left)" 'BEGIN { printf "%.2f", m - 1 }')
gen 55 "$late" &
gen 75 "$late" &
gen 31 "$GEN_MIN"

init_min=$(awk -v m="$(minutes_left)" 'BEGIN { m -= 1; printf "%.2f", (m < 0.2 ? 0.2 : m) }')
log "initializer for $init_min minutes"
"$BIN" train initializer --bank "$OUT/bank31.npy" --generator "$OUT/g31/generator.bpk" \
    --images "$IMAGES" --crop "$INIT_CROP" --batch "$INIT_BATCH" --inner-steps "$INIT_INNER" \
    --width "$INIT_WIDTH" --lr "$INIT_LR" --noise "$INIT_NOISE" --steps 1000000 --seed 0 \
    --out "$OUT/e31" --device "$DEV" --max-minutes "$init_min" --checkpoint-every 100 \
    > "$OUT/e31.log" 2>&1
log "initializer stopped (exit $?): $(tail -c 300 "$OUT/e31.log" | tr '\r' '\n' | tail -1)"
wait
log "done"
