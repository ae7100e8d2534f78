#!/bin/sh
# Runs one libFuzzer binary for a short, seeded session starting from its
# checked-in seed corpus (copied, so the tree is never written). Fails on any
# crash, leak, sanitizer report or timeout the fuzzer finds.
# Usage: run-fuzzer.sh fuzzer_binary seed_corpus_dir seconds
set -eu
bin=$1
seeds=$2
seconds=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
if [ -d "$seeds" ]; then cp -r "$seeds"/. "$work/corpus/"; fi
cd "$work"
exec "$bin" -seed=1 -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 "$work/corpus"
