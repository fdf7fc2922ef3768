#!/usr/bin/env bash
# Backend-parity tests on wgpu, run on the CPU through Mesa's software Vulkan driver (lavapipe).
# Installs the driver when it is missing (Debian/Ubuntu, as root), then runs
# crates/deblur-optim/tests/backend_parity.rs with DEBLUR_TEST_DEVICE=wgpu.
# cubecl does not pick a CPU adapter by itself: CUBECL_WGPU_DEFAULT_DEVICE=Cpu selects it.
# The first build compiles wgpu and its ~500 dependencies (tens of minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ls /usr/share/vulkan/icd.d/lvp_icd.*.json >/dev/null 2>&1 || ! ldconfig -p | grep -q libvulkan.so.1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers libvulkan1
fi

CUBECL_WGPU_DEFAULT_DEVICE=Cpu DEBLUR_TEST_DEVICE=wgpu \
    cargo test --release -p deblur-optim --features wgpu --test backend_parity "$@"
