#!/usr/bin/env bash
# Runs the model-file fuzzer for a bounded number of inputs, seeded with valid
# model files (fp32 and int8) so that mutations reach past the header.
# usage: run_fuzz.sh FUZZER MODEL_TOOL [RUNS]      Exit 77 without the fuzzer.
set -uo pipefail
fuzzer=${1:?usage: run_fuzz.sh FUZZER MODEL_TOOL [RUNS]}
model_tool=${2:?}
runs=${3:-20000}
[ -x "$fuzzer" ] || { echo "skipped: no fuzzer binary (clang with libFuzzer is needed)"; exit 77; }
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
"$model_tool" random --out "$corpus/seed.dpm" --d-model 4 --layers 1 --heads 2 --window 3 --embed 2 --mlp 4 >/dev/null || exit 1
"$model_tool" random --out "$corpus/seed-int8.dpm" --d-model 4 --layers 1 --heads 1 --window 2 --embed 1 --mlp 4 --int8 >/dev/null || exit 1
"$fuzzer" -runs="$runs" -max_len=65536 -rss_limit_mb=2048 -timeout=10 "$corpus" 2>&1 | tail -5
exit "${PIPESTATUS[0]}"
