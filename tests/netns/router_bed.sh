#!/usr/bin/env bash
# The real-traffic test: dualpilot-router between two network namespaces
# (perf/bed/testbed.sh) on PMD ports (af_packet or af_xdp) over veth
# pairs, the egress shaped to 20 Mbit/s. Two Cubic iperf3 flows run for 12 s
# beside a Not-ECT ping, an ECT(1) ping and a 2 Mbit/s ECT(1) UDP stream,
# first through a deep FIFO, then through DualPI2. It checks that
#   fifo:    the Classic ping under load is large (bufferbloat, median > 100 ms);
#   dualpi2: the Classic ping median stays within base + 25 ms, the ECT(1)
#            ping within base + 2 ms, the router's own L4S-queue sojourn p99
#            within 2 ms, the UDP stream loses under 1 %, and TCP goodput is
#            at least 90 % of what the UDP stream leaves of 20 Mbit/s.
# usage: router_bed.sh PATH/TO/dualpilot-router [af_packet|af_xdp]
# Exits 77 (skipped) with the reason where the bed cannot be built.
set -uo pipefail
bed_router_exe=${1:?usage: router_bed.sh PATH/TO/dualpilot-router [af_packet|af_xdp]}
pmd=${2:-af_packet}
. "$(dirname "$0")/../../perf/bed/testbed.sh"
. "$(dirname "$0")/checks.sh"
bed_init || { rc=$?; [ $rc -eq 77 ] && echo "skipped: see the reason above"; exit $rc; }
out=$(mktemp -d)
trap 'bed_cleanup; rm -rf "$out"' EXIT


run() { # aqm
	local aqm=$1 dir=$out/$1
	bed_router "$aqm" "$pmd" 20mbit || exit 1
	bed_traffic 12 "$dir"
	bed_stop_router "$dir"
	base=$(rtts "$dir/base.txt" | median)
	loaded=$(rtts "$dir/ping.txt" | median)
	loaded_l=$(rtts "$dir/ping-l.txt" | median)
	goodput=$(python3 -c "import json; print(json.load(open('$dir/iperf.json'))['end']['sum_received']['bits_per_second'] / 1e6)" 2>/dev/null || echo 0)
	udp_loss=$(python3 -c "import json; print(json.load(open('$dir/udp.json'))['end']['sum']['lost_percent'])" 2>/dev/null || echo 100)
	printf '%s %-8s base %.2f ms  Classic ping %.2f ms  ECT(1) ping %.2f ms  goodput %.2f Mbit/s  ECT(1) UDP loss %.2f %%\n' \
		"$pmd" "$aqm" "$base" "$loaded" "$loaded_l" "$goodput" "$udp_loss"
	sed -n '/^port/,$p' "$dir/router.log" | head -4
	grep "queue sojourn" "$dir/router.log" || true
}


run fifo
check "fifo: Classic ping under load is bufferbloated (median $loaded ms > 100 ms)" "$loaded > 100"
run dualpi2
check "dualpi2: Classic ping median $loaded ms <= base $base + 25 ms" "$loaded <= $base + 25"
check "dualpi2: ECT(1) ping median $loaded_l ms <= base $base + 2 ms (L queue)" "$loaded_l <= $base + 2"
check "dualpi2: TCP goodput $goodput Mbit/s >= 16 (90 % of the 18 Mbit/s the 2 Mbit/s UDP leaves)" "$goodput >= 16.2"
check "dualpi2: the ECT(1) UDP stream loses under 1 % ($udp_loss %)" "$udp_loss < 1"
l_p99=$(sed -n 's/^b L4S queue sojourn: .* p99 \([0-9.]*\) ms.*/\1/p' "$out/dualpi2/router.log")
check "dualpi2: L4S queue sojourn p99 ${l_p99:-none} ms <= 2 ms (router's own figure)" "${l_p99:-1e9} <= 2"
c_p50=$(sed -n 's/^b Classic queue sojourn: p50 \([0-9.]*\) ms.*/\1/p' "$out/dualpi2/router.log")
check "dualpi2: the Cubic flows hold the Classic queue near the 15 ms target (p50 ${c_p50:-none} ms in 10-20 ms)" \
	"10 <= ${c_p50:-0} <= 20"
grep -q "pkts_in_l [1-9]" "$out/dualpi2/router.log" && echo "ok: ECT(1) packets went to the L queue" ||
	{ echo "FAIL: no packet in the L queue"; bed_failures=$((bed_failures + 1)); }
[ "$bed_failures" -eq 0 ] || exit 1
