#!/usr/bin/env bash
# Installs what halo needs on a fresh Debian/Ubuntu machine: a C++ toolchain and oneDNN (libdnnl-dev) for the
# native backend, Open MPI for distributed training, then the npm packages (whose install step builds the
# addons). Used by the README quick start and by CI. Set HALO_WITH_TORCH=1 to also install python3-torch for
# the optional PyTorch parity check, HALO_WITH_BROWSER=1 for Chromium (the browser tests).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
# libopenmpi-dev + openmpi-bin: multi-process training (`mpirun -np N halo finetune … --hq-fsdp`) and its tests.
$SUDO apt-get install -y -qq --no-install-recommends build-essential python3 libdnnl-dev libopenmpi-dev openmpi-bin >/dev/null
if [ "${HALO_WITH_TORCH:-0}" = 1 ]; then
  # Optional: without it the parity test is skipped with a printed reason, so a failed install is only a warning.
  # libopenblas0-pthread: PyTorch's FP32 matmuls go through libblas.so.3, which is otherwise Debian's unoptimised
  # reference BLAS; `halo bench compare` must compare against a real baseline.
  $SUDO apt-get install -y -qq --no-install-recommends python3-torch libopenblas0-pthread >/dev/null \
    || echo "warning: python3-torch not installed; the PyTorch parity check will be skipped"
fi
if [ "${HALO_WITH_BROWSER:-0}" = 1 ]; then
  # Optional: Debian's Chromium for the browser tests (test/browser: WebGPU conformance and the fine-tuning page,
  # on SwiftShader where there is no GPU). Without it those tests are skipped with a printed reason.
  $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null \
    || echo "warning: chromium not installed; the browser tests will be skipped"
fi
# The addons must build here: with HALO_REQUIRE_NATIVE=1 / HALO_REQUIRE_MPI=1 a failed build is an error, not a
# warning (the MPI binding is a separate addon, native/mpi/, so it can never break the main one).
HALO_REQUIRE_NATIVE=1 HALO_REQUIRE_MPI=1 npm ci --no-audit --no-fund
