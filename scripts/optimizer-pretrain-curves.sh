#!/usr/bin/env bash
# adamw vs adamw8bit in one 2,000-step pretraining run each (HALO-2 INT8 matmuls): a 2-block, hidden-128 Llama with
# halo-tiny's tokenizer, on the shipped GSM8K training text, 4 × 128 tokens a step, β2 0.95; then both loss curves
# in one SVG (docs/optimizer-curves.svg) and each run's final losses (docs/results.md §5). About 3 min a run on
# 2 cores. WORK (default runs/optimizer-curves) holds the runs.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-runs/optimizer-curves}
mkdir -p "$WORK"
node -e '
const c = JSON.parse(require("fs").readFileSync("models/halo-tiny/config.json", "utf8"));
Object.assign(c, { num_hidden_layers: 2, hidden_size: 128, intermediate_size: 384, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 64 });
require("fs").writeFileSync(process.argv[1], JSON.stringify(c, null, 2));' "$WORK/config.json"
for opt in adamw adamw8bit; do
  node bin/halo.js pretrain --config "$WORK/config.json" --tokenizer models/halo-tiny --data data/gsm8k/train.jsonl \
    --tokens 1024000 --max-seq-len 128 --batch-size 4 --adam-beta2 0.95 --optimizer "$opt" --save-every 1000 \
    --overwrite --out "$WORK/$opt"
done
node --import tsx scripts/loss-curves.ts --out docs/optimizer-curves.svg \
  --title "pretraining, 2 blocks × hidden 128, GSM8K text: AdamW vs 8-bit AdamW (HALO-2 INT8)" \
  adamw="$WORK/adamw" adamw8bit="$WORK/adamw8bit"
