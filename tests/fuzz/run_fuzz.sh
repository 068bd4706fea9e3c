#!/usr/bin/env bash
# Runs a fuzzer for a bounded number of inputs, seeded with valid files so
# that mutations reach past the header:
#   model        model files (fp32, int8, ring-slot time) from dualpilot-model
#   safetensors  a small safetensors checkpoint (F32 and F16 tensors)
#   pickle       the paper's pickled pools in protocols 0, 2, 4 and 5 (written by
#                python3 with numpy where it is; a hand-made protocol 2 one always)
# usage: run_fuzz.sh FUZZER KIND RUNS [MODEL_TOOL]      Exit 77 without the fuzzer.
set -uo pipefail
usage="usage: run_fuzz.sh FUZZER model|safetensors|pickle RUNS [MODEL_TOOL]"
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
pickle)
	# {'states': [[1.0]*7], 'actions': [2], 'rewards': [0.5], 'dones': [1]}, protocol 2, by hand.
	printf '\x80\x02}q\x00(X\x06\x00\x00\x00states]](G?\xf0\x00\x00\x00\x00\x00\x00G?\xf0\x00\x00\x00\x00\x00\x00G?\xf0\x00\x00\x00\x00\x00\x00G?\xf0\x00\x00\x00\x00\x00\x00G?\xf0\x00\x00\x00\x00\x00\x00G?\xf0\x00\x00\x00\x00\x00\x00G?\xf0\x00\x00\x00\x00\x00\x00ea]X\x07\x00\x00\x00actions]K\x02aX\x07\x00\x00\x00rewards]G?\xe0\x00\x00\x00\x00\x00\x00aX\x05\x00\x00\x00dones]K\x01au.' >"$corpus/seed-hand.pkl"
	for py in "$(dirname "$0")/../../scripts/python3"; do
		"$py" - "$corpus" <<'PY' 2>/dev/null && break
import pickle, sys, numpy as np
class ExperiencePool: pass
p = ExperiencePool()
p.states = [np.array([0, 15000, 2e7, 2000, 4e7, 3000, 1500], np.float32), np.arange(7, dtype=np.float64)]
p.actions = [np.int64(0), 2]
p.rewards = [np.float32(0.5), 0.25]
p.dones = [False, True]
for proto in (0, 2, 4, 5):
    pickle.dump(p, open(f"{sys.argv[1]}/seed-{proto}.pkl", "wb"), protocol=proto)
pickle.dump({"states": np.ones((3, 7), np.float32), "actions": np.zeros(3, np.int8), "rewards": np.ones(3),
             "dones": np.array([0, 0, 1], bool)}, open(f"{sys.argv[1]}/seed-matrix.pkl", "wb"), protocol=4)
PY
	done
	;;
*) echo "$usage" >&2; exit 2 ;;
esac
"$fuzzer" -runs="$runs" -max_len=65536 -rss_limit_mb=2048 -timeout=10 "$corpus" 2>&1 | tail -5
exit "${PIPESTATUS[0]}"
