#!/usr/bin/env bash
# Experiment (not the shipped model): teach a words-tokenizer halo-tiny to copy from its context with a
# curriculum, after scripts/pretrain-copy-stage1.sh showed that mixing copy documents into pretraining does
# not make induction heads appear within 7.8M tokens (copy-check ratio 1.006 at step 30,400).
# Copying forms within a few hundred steps when the copied words come from a small set, and then widens:
#   A. copy documents over the 64 most frequent corpus words only, 16 × 64 tokens, 600 steps;
#   B. the same over the 512 most frequent words, 500 steps;
#   C. a mixture at 8 × 256 tokens with cosine decay, so the model is a language model again: prose, the SQL
#      training split, SQL drills (scripts/sql-drills.ts, training split only), copy documents over every
#      corpus word and over the top 512;
#   D. a shorter, drill-heavier mixture (prose, the SQL split, SQL drills, copy documents over every word);
#   E. D's mixture for 1.5M tokens with drills whose values are corpus words (sql-drills.ts VALUES_CORPUS).
# All stages use β2 = 0.95. Every stage starts from the previous one's weights (--init) with a fresh optimizer.
# What it gave on 2026-12-05 (stage A started from a stage-1 checkpoint between steps 28,400 and 28,800; the
# exact one was not recorded): copy-check ratio, 40 SQL-vocabulary words, 0.761 after C and 0.681 after D
# (1.006 before A). Exact match on the first 40 eval questions after `halo finetune --level none --format fp32
# --lr 1e-3 --batch-size 8 --warmup-steps 10 --seed 42` on data/sql/train.jsonl: C + 4 epochs 1/40, D + 3
# epochs 1/40; both pretrained 0/40. The fine-tuned models copy the table and select column; they miss values.
# A later run from step-0030400 added E: copy-check 0.744 after C, 0.677 after D, 0.630 after E; `halo demo`
# on E 1/40 in FP32 and HALO-2 (0/40 pretrained); E fine-tuned on the training split plus 8000 corpus-value
# drills 3/40 (models/halo-tiny/README.md has the commands).
# Usage: scripts/pretrain-copy-curriculum.sh INIT_CHECKPOINT_DIR   (a checkpoint of pretrain-copy-stage1.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
init=${1:?usage: scripts/pretrain-copy-curriculum.sh INIT_CHECKPOINT_DIR}
work=runs/halo-tiny-copy/curriculum
mkdir -p "$work/data"
tok=runs/halo-tiny-copy/tokenizer
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
  node bin/halo.js pretrain --init "$2" --data "$3" --tokens "$4" --seq-len "$5" --batch-size "$6" --lr "$7" \
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
