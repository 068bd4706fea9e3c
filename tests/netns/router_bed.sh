#!/usr/bin/env bash
# The real-traffic test bed: two network namespaces joined through
# dualpilot-router on net_af_packet ports over veth pairs, the egress shaped
# to 20 Mbit/s. Two Cubic iperf3 flows run for 12 s beside a Not-ECT ping,
# an ECT(1) ping (ping -Q 1) and a 2 Mbit/s ECT(1) UDP stream (iperf3 -u
# -S 1), the last two L4S traffic, first through a deep FIFO, then through
# DualPI2. It checks that
#   fifo:    the Classic ping under load is large (bufferbloat, median > 100 ms);
#   dualpi2: the Classic ping median stays within base + 25 ms, the ECT(1)
#            ping within base + 2 ms, the router's own L4S-queue sojourn p99
#            within 2 ms, the UDP stream loses under 1 %, and TCP goodput is
#            at least 90 % of what the UDP stream leaves of 20 Mbit/s.
# usage: router_bed.sh PATH/TO/dualpilot-router      Exit 77 where it cannot run.
set -uo pipefail
router=${1:?usage: router_bed.sh PATH/TO/dualpilot-router}
skip() { echo "skipped: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root to create network namespaces"
for tool in ip iperf3 ping ethtool python3; do
	command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/bootstrap installs it)"
done

tag=dp$$
ns_a=${tag}a ns_b=${tag}b if_a=${tag}ra if_b=${tag}rb
work=$(mktemp -d)
router_pid=
cleanup() {
	[ -n "$router_pid" ] && kill -INT "$router_pid" 2>/dev/null && wait "$router_pid" 2>/dev/null
	ip netns pids "$ns_a" 2>/dev/null | xargs -r kill 2>/dev/null
	ip netns pids "$ns_b" 2>/dev/null | xargs -r kill 2>/dev/null
	ip link del "$if_a" 2>/dev/null
	ip link del "$if_b" 2>/dev/null
	ip netns del "$ns_a" 2>/dev/null
	ip netns del "$ns_b" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$ns_a" 2>/dev/null || skip "cannot create network namespaces here"
ip netns add "$ns_b" || skip "cannot create network namespaces here"
ip link add "$if_a" type veth peer name va netns "$ns_a" || skip "cannot create veth pairs here"
ip link add "$if_b" type veth peer name vb netns "$ns_b" || skip "cannot create veth pairs here"
for l in "$if_a" "$if_b"; do
	ip link set "$l" up
	# The router sees frames as the wire would: no checksum offload, no GRO.
	ethtool -K "$l" tx off rx off gro off >/dev/null 2>&1
done
ip -n "$ns_a" link set va up && ip -n "$ns_b" link set vb up
ip -n "$ns_a" link set lo up && ip -n "$ns_b" link set lo up
ip -n "$ns_a" addr add 10.199.0.1/24 dev va
ip -n "$ns_b" addr add 10.199.0.2/24 dev vb
ip netns exec "$ns_a" ethtool -K va tx off rx off gro off >/dev/null 2>&1
ip netns exec "$ns_b" ethtool -K vb tx off rx off gro off >/dev/null 2>&1

median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.stdin.read().split()]; print(statistics.median(v) if v else 1e9)'; }
rtts() { grep -o 'time=[0-9.]*' "$1" | cut -d= -f2; }

run() { # aqm
	local aqm=$1
	cat >"$work/router.toml" <<EOT
[eal]
args = ["-l", "0", "--no-huge", "-m", "1024", "--no-pci", "--file-prefix=$tag", "--log-level=lib.eal:error"]
[[ports]]
name = "a"
device = "net_af_packet0,iface=$if_a"
peer = "b"
rate = "20mbit"
aqm = "$aqm"
[[ports]]
name = "b"
device = "net_af_packet1,iface=$if_b"
peer = "a"
rate = "20mbit"
aqm = "$aqm"
EOT
	"$router" --config "$work/router.toml" >"$work/router-$aqm.log" 2>&1 &
	router_pid=$!
	# Wait until frames pass (ARP goes through the router as non-IP).
	for _ in $(seq 1 50); do
		ip netns exec "$ns_a" ping -c 1 -W 1 10.199.0.2 >/dev/null 2>&1 && break
		kill -0 "$router_pid" 2>/dev/null || { cat "$work/router-$aqm.log"; echo "FAIL: router exited"; exit 1; }
	done
	ip netns exec "$ns_a" ping -c 10 -i 0.1 10.199.0.2 >"$work/base-$aqm.txt" 2>&1
	ip netns exec "$ns_b" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
	ip netns exec "$ns_b" iperf3 -s -1 -p 5202 >/dev/null 2>&1 &
	sleep 0.5
	# An ECT(1) UDP stream (TOS 1) of 2 Mbit/s: L4S traffic for the L queue.
	ip netns exec "$ns_a" iperf3 -c 10.199.0.2 -p 5202 -u -b 2M -S 1 -t 12 -J >"$work/udp-$aqm.json" 2>&1 &
	local udp_pid=$!
	ip netns exec "$ns_a" ping -c 40 -i 0.25 10.199.0.2 >"$work/ping-$aqm.txt" 2>&1 &
	local ping_pid=$!
	ip netns exec "$ns_a" ping -Q 1 -c 40 -i 0.25 10.199.0.2 >"$work/ping-l-$aqm.txt" 2>&1 &
	local ping_l_pid=$!
	timeout 30 ip netns exec "$ns_a" iperf3 -c 10.199.0.2 -p 5201 -t 12 -P 2 -C cubic -J >"$work/iperf-$aqm.json" 2>&1
	wait "$ping_pid" "$ping_l_pid" "$udp_pid"
	kill -INT "$router_pid"
	wait "$router_pid"
	router_pid=
	base=$(rtts "$work/base-$aqm.txt" | median)
	loaded=$(rtts "$work/ping-$aqm.txt" | median)
	loaded_l=$(rtts "$work/ping-l-$aqm.txt" | median)
	goodput=$(python3 -c "import json; print(json.load(open('$work/iperf-$aqm.json'))['end']['sum_received']['bits_per_second'] / 1e6)" 2>/dev/null || echo 0)
	udp_loss=$(python3 -c "import json; print(json.load(open('$work/udp-$aqm.json'))['end']['sum']['lost_percent'])" 2>/dev/null || echo 100)
	printf '%-8s base %.2f ms  Classic ping %.2f ms  ECT(1) ping %.2f ms  goodput %.2f Mbit/s  ECT(1) UDP loss %.2f %%\n' \
		"$aqm" "$base" "$loaded" "$loaded_l" "$goodput" "$udp_loss"
	sed -n '/^port/,$p' "$work/router-$aqm.log" | head -4
	grep "queue sojourn" "$work/router-$aqm.log" || true
}

failures=0
check() { # description, python boolean expression
	if python3 -c "import sys; sys.exit(0 if ($2) else 1)"; then
		echo "ok: $1"
	else
		echo "FAIL: $1"
		failures=$((failures + 1))
	fi
}

run fifo
check "fifo: Classic ping under load is bufferbloated (median $loaded ms > 100 ms)" "$loaded > 100"
run dualpi2
check "dualpi2: Classic ping median $loaded ms <= base $base + 25 ms" "$loaded <= $base + 25"
check "dualpi2: ECT(1) ping median $loaded_l ms <= base $base + 2 ms (L queue)" "$loaded_l <= $base + 2"
check "dualpi2: TCP goodput $goodput Mbit/s >= 16 (90 % of the 18 Mbit/s the 2 Mbit/s UDP leaves)" "$goodput >= 16.2"
check "dualpi2: the ECT(1) UDP stream loses under 1 % ($udp_loss %)" "$udp_loss < 1"
l_p99=$(sed -n 's/^b L4S queue sojourn: .* p99 \([0-9.]*\) ms.*/\1/p' "$work/router-dualpi2.log")
check "dualpi2: L4S queue sojourn p99 ${l_p99:-none} ms <= 2 ms (router's own figure)" "${l_p99:-1e9} <= 2"
grep -q "pkts_in_l [1-9]" "$work/router-dualpi2.log" && echo "ok: ECT(1) packets went to the L queue" ||
	{ echo "FAIL: no packet in the L queue"; failures=$((failures + 1)); }
[ "$failures" -eq 0 ] || exit 1
