#!/usr/bin/env bash
# The policy path on real traffic: dualpilot-router with DualPI2 at 20 Mbit/s
# on the netns test bed (perf/bed/testbed.sh), two Cubic flows, the
# ECT(1) UDP stream and the pings for 8 s, with a learned policy beside it:
#   shadow:  the router reports how often the policy agrees with DualPI2, and
#            DualPI2's figures hold (Classic ping within base + 25 ms);
#   enforce: the policy's overrides act (within the guard rails); traffic
#            still flows and the queue stays bounded.
# The model is the trained one the project ships (configs/models/
# paper-student.dpm, made by scripts/train-policy from DualPI2's decisions in
# the simulator); where it is missing, a seeded random one from
# dualpilot-model, which exercises the path without being a policy.
# usage: policy_bed.sh PATH/TO/dualpilot-router PATH/TO/dualpilot-model [MODEL]
# Exits 77 (skipped) with the reason where the bed cannot be built.
set -uo pipefail
bed_router_exe=${1:?usage: policy_bed.sh ROUTER MODEL_TOOL [MODEL]}
model_tool=${2:?usage: policy_bed.sh ROUTER MODEL_TOOL [MODEL]}
trained=${3:-}
. "$(dirname "$0")/../../perf/bed/testbed.sh"
. "$(dirname "$0")/checks.sh"
bed_init || { rc=$?; [ $rc -eq 77 ] && echo "skipped: see the reason above"; exit $rc; }
out=$(mktemp -d)
trap 'bed_cleanup; rm -rf "$out"' EXIT
if [ -n "$trained" ] && [ -f "$trained" ]; then
	cp "$trained" "$out/model.dpm"
	echo "model: $trained (trained)"
else
	echo "model: seeded random (no trained model at '${trained:-}')"
	"$model_tool" random --out "$out/model.dpm" --d-model 16 --layers 1 --heads 2 --window 10 --embed 4 --mlp 32 \
		--bias-drop -6 --bias-mark -6 || exit 1
fi


for mode in shadow enforce; do
	dir=$out/$mode
	bed_router dualpi2 af_packet 20mbit "" "[policy]
mode = \"$mode\"
model = \"$out/model.dpm\"
inference_interval = 10
pool_out = \"$out/$mode-pool.dpp\"" || exit 1
	bed_traffic 8 "$dir"
	bed_stop_router "$dir"
	grep -E "^policy" "$dir/router.log"
	base=$(rtts "$dir/base.txt" | median)
	loaded=$(rtts "$dir/ping.txt" | median)
	goodput=$(python3 -c "import json; print(json.load(open('$dir/iperf.json'))['end']['sum_received']['bits_per_second'] / 1e6)" 2>/dev/null || echo 0)
	c_p99=$(sed -n 's/^b Classic queue sojourn: .* p99 \([0-9.]*\) ms.*/\1/p' "$dir/router.log")
	echo "$mode: base $base ms, Classic ping $loaded ms, TCP goodput $goodput Mbit/s, Classic p99 ${c_p99:-none} ms"
	decisions=$(sed -n 's/.* \([0-9]*\) decisions in .*/\1/p' "$dir/router.log")
	check "$mode: the policy made decisions (${decisions:-0})" "${decisions:-0} > 0"
	check "$mode: the router wrote an experience pool" "$(stat -c %s "$out/$mode-pool.dpp" 2>/dev/null || echo 0) > 1000"
	if [ "$mode" = shadow ]; then
		agreement=$(sed -n 's/.*agreement \([0-9.]*\) %.*/\1/p' "$dir/router.log")
		check "shadow: an agreement rate is reported (${agreement:-none} %)" "${agreement:-'-1'} >= 0"
		check "shadow: DualPI2 still acts alone (Classic ping $loaded ms <= base + 25 ms)" "$loaded <= $base + 25"
		check "shadow: no override published" "' 0 overrides published' in open('$dir/router.log').read()"
	else
		published=$(sed -n 's/.* \([0-9]*\) overrides published.*/\1/p' "$dir/router.log")
		check "enforce: overrides were published (${published:-0})" "${published:-0} > 0"
		check "enforce: traffic still flows (TCP goodput $goodput Mbit/s >= 1)" "$goodput >= 1"
		check "enforce: the Classic queue stays bounded (p99 ${c_p99:-none} ms <= 200 ms)" "${c_p99:-1e9} <= 200"
	fi
done
[ "$bed_failures" -eq 0 ] || exit 1
