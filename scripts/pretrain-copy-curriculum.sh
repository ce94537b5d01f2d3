#!/usr/bin/env bash
# Stage 2 of scripts/build-halo-tiny.sh (the shipped models/halo-tiny is this script's stage E): teach a
# words-tokenizer halo-tiny to copy from its context with a curriculum, after scripts/pretrain-copy-stage1.sh
# showed that mixing copy documents into pretraining does not make induction heads appear within 7.8M tokens
# (copy-check ratio 1.006 at step 30,400).
# Copying forms within a few hundred steps when the copied words come from a small set, and then widens:
#   A. copy documents over the 64 most frequent corpus words only, 16 × 64 tokens, 600 steps;
#   B. the same over the 512 most frequent words, 500 steps;
#   C. a mixture at 8 × 256 tokens with cosine decay, so the model is a language model again: prose, the SQL
#      training split, SQL drills (scripts/sql-drills.ts, training split only), copy documents over every
#      corpus word and over the top 512;
#   D. a shorter, drill-heavier mixture (prose, the SQL split, SQL drills, copy documents over every word);
#   E. D's mixture for 1.5M tokens with drills whose values are corpus words (sql-drills.ts VALUES_CORPUS).
# All stages use β2 = 0.95. Every stage starts from the previous one's weights (--init) with a fresh optimizer.
# From stage-1 step 30,400 it gave copy-check ratios (40 SQL-vocabulary words) of 0.744 after C, 0.677 after D
# and 0.630 after E; models/halo-tiny/README.md has E's fine-tuning results and the earlier runs.
# Usage: scripts/pretrain-copy-curriculum.sh INIT_CHECKPOINT_DIR   (a checkpoint of pretrain-copy-stage1.sh)
# HALO_COPY_WORK=DIR reads the tokenizer from DIR/tokenizer and writes DIR/curriculum (default runs/halo-tiny-copy).
set -euo pipefail
cd "$(dirname "$0")/.."
init=${1:?usage: scripts/pretrain-copy-curriculum.sh INIT_CHECKPOINT_DIR}
base=${HALO_COPY_WORK:-runs/halo-tiny-copy}
work=$base/curriculum
mkdir -p "$work/data"
tok=$base/tokenizer
[ -f "$tok/tokenizer.json" ] && [ -f "$init/model.safetensors" ] \
  || { echo "error: needs $tok/tokenizer.json and $init/model.safetensors (run scripts/pretrain-copy-stage1.sh first)" >&2; exit 2; }
copy() { node --import tsx scripts/copy-corpus.ts --in corpus/moby-dick.txt,corpus/sotu.txt "$@"; }
copy --count 30000 --top 64 --spans 0 --min-words 4 --max-words 12 --seed 3 --out "$work/data/copy64.jsonl"
copy --count 30000 --top 512 --spans 0 --min-words 4 --max-words 12 --seed 4 --out "$work/data/copy512.jsonl"
copy --count 20000 --spans 0.5 --max-words 40 --seed 5 --out "$work/data/copyall.jsonl"
node --import tsx scripts/sql-drills.ts data/sql/train.jsonl:0:800 8000 "$work/data/drills.jsonl" 0
node --import tsx scripts/sql-drills.ts data/sql/train.jsonl 8000 "$work/data/cdrills.jsonl" 0 corpus/moby-dick.txt,corpus/sotu.txt
head -c 2500000 corpus/sotu.txt > "$work/data/sotu-head.txt"

# A checkpoint's model.safetensors beside the config and tokenizer is a model folder.
as_folder() { mkdir -p "$2"; cp scripts/halo-tiny/config.json "$tok"/* "$2"; cp "$1/model.safetensors" "$2"; }
stage() { # NAME INIT_DIR DATA TOKENS SEQ BATCH LR SCHEDULE WARMUP
  node bin/halo.js pretrain --init "$2" --data "$3" --tokens "$4" --max-seq-len "$5" --batch-size "$6" --lr "$7" \
    --warmup-steps "$9" --schedule "$8" --min-lr-ratio 0.1 --weight-decay 0.1 --adam-beta2 0.95 --level none \
    --format fp32 --seed 0 --save-every 100 --out "$work/$1" ${RESUME:+--resume}
}
as_folder "$init" "$work/init"
stage A "$work/init" "$work/data/copy64.jsonl" 614400 64 16 2e-3 constant 20
stage B "$work/A" "$work/data/copy512.jsonl" 512000 64 16 2e-3 constant 20
mix=corpus/moby-dick.txt,$work/data/sotu-head.txt,data/sql/train.jsonl,$work/data/drills.jsonl,$work/data/copyall.jsonl,$work/data/copy512.jsonl
stage C "$work/B" "$mix" 1500000 256 8 1.5e-3 cosine 30
stage D "$work/C" "corpus/moby-dick.txt,data/sql/train.jsonl,$work/data/drills.jsonl,$work/data/copyall.jsonl" 1000000 256 8 1e-3 cosine 20
stage E "$work/D" "corpus/moby-dick.txt,data/sql/train.jsonl,$work/data/cdrills.jsonl,$work/data/copyall.jsonl" 1500000 256 8 1e-3 cosine 20
