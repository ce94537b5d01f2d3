#!/usr/bin/env bash
# Stage 1 of scripts/build-halo-tiny.sh: pretrain a halo-tiny-shaped model from scratch, aiming for one that
# copies from its context (the first halo-tiny could not, so fine-tuning it never reached exact match on
# text-to-SQL). Three changes against that first build:
#   - the tokenizer uses `--split words`, so a copied word has the same token ids in the prompt and the answer;
#   - documents that repeat a span or a list of random words (scripts/copy-corpus.ts) are 7.5 MB of the
#     19.7 MB of text (38%), and more of the 5.16M tokens, since random words tokenize worse than prose;
#   - small batches of short sequences (4 × 64 tokens), because induction heads form after a number of tokens
#     that grows with √(batch × context) (Aoyama et al. 2025, arXiv 2511.16893: N ≈ 10^5.7 · √(B·C), about
#     8M tokens here, ~2.5 h at the ~850–1000 tokens/s measured on 2 cores).
# Constant LR, checkpoints every 200 steps; rerun with RESUME=1 to continue. A checkpoint's model.safetensors
# beside the config and tokenizer is a model folder, so progress is checked with (12 words: twice fits in 64)
#   d=$(mktemp -d); cp scripts/halo-tiny/config.json runs/halo-tiny-copy/tokenizer/* "$d"
#   cp runs/halo-tiny-copy/stage1/checkpoints/step-NNNNNNN/model.safetensors "$d"
#   node --import tsx scripts/copy-check.ts "$d" 40 12
# Usage: scripts/pretrain-copy-stage1.sh [TOKENS]   (default 12000000; models/halo-tiny used 7782400 = step 30,400)
# HALO_COPY_WORK=DIR writes everything under DIR instead of runs/halo-tiny-copy (a second, side-by-side rebuild).
set -euo pipefail
cd "$(dirname "$0")/.."
tokens=${1:-12000000}
work=${HALO_COPY_WORK:-runs/halo-tiny-copy}
mkdir -p "$work"
[ -f corpus/sotu.txt ] || scripts/build-corpus.sh
text=corpus/moby-dick.txt,corpus/sotu.txt,data/sql/train.jsonl
node --import tsx scripts/copy-corpus.ts --in corpus/moby-dick.txt,corpus/sotu.txt --count 40000 --max-words 20 --seed 0 --out "$work/copy.jsonl"
node bin/halo.js tokenizer train --data "$text" --vocab-size 8192 --split words --out "$work/tokenizer"
node bin/halo.js pretrain --config scripts/halo-tiny/config.json --tokenizer "$work/tokenizer" --data "$text,$work/copy.jsonl" \
  --tokens "$tokens" --max-seq-len 64 --batch-size 4 --lr 2e-3 --warmup-steps 100 --schedule constant \
  --weight-decay 0.1 --level none --format fp32 --seed 0 --save-every 200 --out "$work/stage1" ${RESUME:+--resume}
