#!/usr/bin/env bash
# Rebuilds models/halo-tiny from scratch: corpus → BPE tokenizer → pretraining → HF folder.
# Every step is seeded; the model card (models/halo-tiny/README.md) records what this produced.
# Usage: scripts/build-halo-tiny.sh [TOKENS]   (default 1500000; the shipped model used the value in its card)
set -euo pipefail
cd "$(dirname "$0")/.."
tokens=${1:-1500000}
work=runs/halo-tiny-build
scripts/build-corpus.sh
data=corpus/moby-dick.txt,corpus/sotu.txt,data/sql/train.jsonl
node bin/halo.js tokenizer train --data "$data" --vocab-size 8192 --out "$work/tokenizer"
node bin/halo.js pretrain --config scripts/halo-tiny/config.json --tokenizer "$work/tokenizer" --data "$data" \
  --tokens "$tokens" --seq-len 256 --batch-size 8 --lr 2e-3 --warmup-steps 30 --schedule cosine --min-lr-ratio 0.1 \
  --weight-decay 0.1 --level none --format fp32 --seed 0 --save-every 100 --out "$work/pretrain" ${RESUME:+--resume}
mkdir -p models/halo-tiny
cp "$work"/pretrain/{config.json,model.safetensors,tokenizer.json,tokenizer_config.json,special_tokens_map.json,pretrain_summary.json} models/halo-tiny/
