#!/bin/sh
# Regenerates the committed keyword-spotting fixtures (tests/fixtures/kws)
# from nothing: synthesizes the large preset with seed 1, extracts the node's
# int8 MFCCs with kws_features, trains and exports DS-CNN-S, and writes the
# fixture subsets (test split, a calibration subset of train, the users
# split) next to the model and its metrics.
# Usage: tools/train/make_kws_fixtures.sh BUILD_DIR [WORK_DIR]
#   BUILD_DIR  a host build with tools/kws/kws_features built
#   WORK_DIR   where the WAV files and the full feature file go (default: a
#              new temporary directory, kept afterwards)
set -eu
build=${1:?usage: make_kws_fixtures.sh BUILD_DIR [WORK_DIR]}
work=${2:-$(mktemp -d)}
src=$(cd "$(dirname "$0")/../.." && pwd)
py=/usr/bin/python3
features=$build/tools/kws/kws_features
fixtures=$src/tests/fixtures/kws
seed=1

mkdir -p "$work" "$fixtures"
echo "make_kws_fixtures: working in $work"
if [ ! -f "$work/data/manifest.csv" ]; then
  "$py" "$src/tools/kws/kws_synth.py" --out "$work/data" --preset large \
    --seed "$seed"
fi
"$features" --data "$work/data" --out "$work/kws_all.tnfs" --stats
"$features" --data "$work/data" --out "$fixtures/kws_test.tnfs" --splits test
"$features" --data "$work/data" --out "$fixtures/kws_calib.tnfs" \
  --splits train --max-per-class 25
"$features" --data "$work/data" --out "$fixtures/kws_users.tnfs" --splits users
"$py" "$src/tools/train/train_kws.py" --features "$work/kws_all.tnfs" \
  --out "$fixtures" --seed "$seed" --report "$fixtures/kws_test.tnfs" \
  "$fixtures/kws_calib.tnfs" "$fixtures/kws_users.tnfs"
cp "$work/data/stats.json" "$fixtures/dataset.stats.json"
