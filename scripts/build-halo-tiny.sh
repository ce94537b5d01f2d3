#!/usr/bin/env bash
# Rebuilds models/halo-tiny from scratch: corpus → words BPE tokenizer → stage 1 (scripts/pretrain-copy-stage1.sh,
# 7.78M tokens of prose, SQL and copy documents) → curriculum stages A–E (scripts/pretrain-copy-curriculum.sh,
# 4.6M tokens that teach copying from the context) → HF folder. About 4.5 hours on 2 cores; every step is
# seeded, and the model card (models/halo-tiny/README.md) records what this produced and what was checked.
# Usage: scripts/build-halo-tiny.sh            RESUME=1 continues an interrupted build where it stopped.
#        HALO_COPY_WORK=DIR builds under DIR (default runs/halo-tiny-build) and still installs into models/halo-tiny.
set -euo pipefail
cd "$(dirname "$0")/.."
export HALO_COPY_WORK=${HALO_COPY_WORK:-runs/halo-tiny-build}
work=$HALO_COPY_WORK
# Stage 1's learning rate is constant, so stopping at step 30,400 (7,782,400 tokens at 4 × 64) is the same run
# that the shipped model started from, not a shorter schedule.
scripts/pretrain-copy-stage1.sh 7782400
scripts/pretrain-copy-curriculum.sh "$work/stage1/checkpoints/step-0030400"
mkdir -p models/halo-tiny
cp "$work"/curriculum/E/{config.json,model.safetensors,tokenizer.json,tokenizer_config.json,special_tokens_map.json,pretrain_summary.json} models/halo-tiny/
