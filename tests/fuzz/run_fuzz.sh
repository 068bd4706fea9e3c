#!/usr/bin/env bash
# Runs a fuzzer for a bounded number of inputs, seeded with valid files so
# that mutations reach past the header:
#   model        model files (fp32, int8, ring-slot time) from dualpilot-model
#   safetensors  a small safetensors checkpoint (F32 and F16 tensors)
# usage: run_fuzz.sh FUZZER KIND RUNS [MODEL_TOOL]      Exit 77 without the fuzzer.
set -uo pipefail
usage="usage: run_fuzz.sh FUZZER model|safetensors RUNS [MODEL_TOOL]"
fuzzer=${1:?$usage}
kind=${2:?$usage}
runs=${3:?$usage}
[ -x "$fuzzer" ] || { echo "skipped: no fuzzer binary (clang with libFuzzer is needed)"; exit 77; }
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
case $kind in
model)
	model_tool=${4:?$usage}
	"$model_tool" random --out "$corpus/seed.dpm" --d-model 4 --layers 1 --heads 2 --window 3 --embed 2 --mlp 4 >/dev/null || exit 1
	"$model_tool" random --out "$corpus/seed-int8.dpm" --d-model 4 --layers 1 --heads 1 --window 2 --embed 1 --mlp 4 --int8 >/dev/null || exit 1
	"$model_tool" random --out "$corpus/seed-ring.dpm" --d-model 8 --layers 1 --heads 1 --window 3 --embed 1 --mlp 8 --ring-time >/dev/null || exit 1
	;;
safetensors)
	header='{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[2,1],"data_offsets":[8,12]}}'
	# 8-byte little-endian header length, the header, 12 data bytes.
	printf "$(printf '\\x%02x\\x00\\x00\\x00\\x00\\x00\\x00\\x00' "${#header}")%s\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x3c\x00\xc0" "$header" >"$corpus/seed.safetensors"
	;;
*) echo "$usage" >&2; exit 2 ;;
esac
"$fuzzer" -runs="$runs" -max_len=65536 -rss_limit_mb=2048 -timeout=10 "$corpus" 2>&1 | tail -5
exit "${PIPESTATUS[0]}"
