# The real-traffic test bed, sourced by the netns tests (tests/netns/*_bed.sh),
# scripts/demo and perf/eval: two network namespaces, A (10.199.0.1) and B
# (10.199.0.2), each joined by a veth pair to a port of dualpilot-router, so
# every frame between them crosses the router, whose egress shapers are the
# bottleneck. Checksum offload and GRO are off on the veths, so the router
# sees and forwards frames as a wire would carry them.
#
#   bed_init                 namespaces and veths (returns 77 where it cannot)
#   bed_router AQM PMD RATE  starts the router (af_packet or af_xdp ports), waits for frames to pass
#   bed_traffic SECONDS DIR  base ping, then two Cubic iperf3 flows, a Not-ECT ping, an ECT(1)
#                            ping (ping -Q 1) and a 2 Mbit/s ECT(1) UDP stream (iperf3 -u -S 1)
#   bed_stop_router DIR      SIGINT, waits for the summary in DIR/router.log
#   bed_cleanup              everything above undone (installed as an EXIT trap by bed_init)
# Results in DIR: base.txt ping.txt ping-l.txt (ping -D), iperf.json udp.json, router.log.
# The tests' checks on those results are tests/netns/checks.sh's.

bed_tag=dp$$
bed_ns_a=${bed_tag}a bed_ns_b=${bed_tag}b bed_if_a=${bed_tag}ra bed_if_b=${bed_tag}rb
bed_work=
bed_router_pid=
bed_router_exe=${bed_router_exe:-}

bed_say() { echo "testbed: $*" >&2; }

bed_cleanup() {
	if [ -n "$bed_router_pid" ]; then
		kill -INT "$bed_router_pid" 2>/dev/null && wait "$bed_router_pid" 2>/dev/null
	fi
	ip netns pids "$bed_ns_a" 2>/dev/null | xargs -r kill 2>/dev/null
	ip netns pids "$bed_ns_b" 2>/dev/null | xargs -r kill 2>/dev/null
	ip link del "$bed_if_a" 2>/dev/null
	ip link del "$bed_if_b" 2>/dev/null
	ip netns del "$bed_ns_a" 2>/dev/null
	ip netns del "$bed_ns_b" 2>/dev/null
	[ -n "$bed_work" ] && rm -rf "$bed_work"
	# The routers' EAL runtime directory (--file-prefix=$bed_tag): nothing left behind.
	rm -rf "/var/run/dpdk/$bed_tag"
	return 0
}

# Returns 77 with the reason on stderr where the bed cannot be built here.
bed_init() {
	[ "$(id -u)" -eq 0 ] || { bed_say "needs root to create network namespaces"; return 77; }
	local tool
	for tool in ip iperf3 ping ethtool python3; do
		command -v "$tool" >/dev/null || { bed_say "$tool is not installed (scripts/bootstrap installs it)"; return 77; }
	done
	[ -x "$bed_router_exe" ] || { bed_say "no router binary at '$bed_router_exe'"; return 77; }
	bed_work=$(mktemp -d)
	trap bed_cleanup EXIT
	ip netns add "$bed_ns_a" 2>/dev/null && ip netns add "$bed_ns_b" 2>/dev/null ||
		{ bed_say "cannot create network namespaces here"; return 77; }
	ip link add "$bed_if_a" type veth peer name va netns "$bed_ns_a" 2>/dev/null &&
		ip link add "$bed_if_b" type veth peer name vb netns "$bed_ns_b" 2>/dev/null ||
		{ bed_say "cannot create veth pairs here"; return 77; }
	local l
	for l in "$bed_if_a" "$bed_if_b"; do
		ip link set "$l" up
		ethtool -K "$l" tx off rx off gro off >/dev/null 2>&1
	done
	ip -n "$bed_ns_a" link set va up && ip -n "$bed_ns_b" link set vb up
	ip -n "$bed_ns_a" link set lo up && ip -n "$bed_ns_b" link set lo up
	ip -n "$bed_ns_a" addr add 10.199.0.1/24 dev va
	ip -n "$bed_ns_b" addr add 10.199.0.2/24 dev vb
	ip netns exec "$bed_ns_a" ethtool -K va tx off rx off gro off >/dev/null 2>&1
	ip netns exec "$bed_ns_b" ethtool -K vb tx off rx off gro off >/dev/null 2>&1
	# AF_XDP's loader wants a bpffs; without one it still works, but warns.
	mountpoint -q /sys/fs/bpf 2>/dev/null || mount -t bpf bpf /sys/fs/bpf 2>/dev/null
	return 0
}

bed_router() { # aqm pmd rate [extra port lines] [extra config tables]
	local aqm=$1 pmd=$2 rate=$3 extra=${4:-} tables=${5:-}
	local log=$bed_work/router.log
	cat >"$bed_work/router.toml" <<EOT
[eal]
args = ["--no-huge", "-m", "1024", "--no-pci", "--file-prefix=$bed_tag", "--log-level=lib.eal:error",
        "--log-level=pmd.net.af_xdp:error"]
[router]
workers = 1
[[ports]]
name = "a"
device = "net_${pmd}0,iface=$bed_if_a"
peer = "b"
rate = "$rate"
aqm = "$aqm"
$extra
[[ports]]
name = "b"
device = "net_${pmd}1,iface=$bed_if_b"
peer = "a"
rate = "$rate"
aqm = "$aqm"
$extra
$tables
EOT
	"$bed_router_exe" --config "$bed_work/router.toml" >"$log" 2>&1 &
	bed_router_pid=$!
	# Wait until frames pass (ARP crosses the router as non-IP).
	local i
	for i in $(seq 1 50); do
		ip netns exec "$bed_ns_a" ping -c 1 -W 1 10.199.0.2 >/dev/null 2>&1 && return 0
		kill -0 "$bed_router_pid" 2>/dev/null || { cat "$log" >&2; bed_say "the router exited"; bed_router_pid=; return 1; }
	done
	cat "$log" >&2
	bed_say "no frame crossed the router in 50 tries"
	return 1
}

bed_traffic() { # seconds outdir
	local secs=$1 out=$2
	mkdir -p "$out"
	local pings=$((secs * 4 - 4))
	ip netns exec "$bed_ns_a" ping -D -c 10 -i 0.1 10.199.0.2 >"$out/base.txt" 2>&1
	ip netns exec "$bed_ns_b" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
	ip netns exec "$bed_ns_b" iperf3 -s -1 -p 5202 >/dev/null 2>&1 &
	sleep 0.5
	ip netns exec "$bed_ns_a" iperf3 -c 10.199.0.2 -p 5202 -u -b 2M -S 1 -t "$secs" -J >"$out/udp.json" 2>&1 &
	local udp_pid=$!
	ip netns exec "$bed_ns_a" ping -D -c "$pings" -i 0.25 10.199.0.2 >"$out/ping.txt" 2>&1 &
	local ping_pid=$!
	ip netns exec "$bed_ns_a" ping -D -Q 1 -c "$pings" -i 0.25 10.199.0.2 >"$out/ping-l.txt" 2>&1 &
	local ping_l_pid=$!
	timeout $((secs + 20)) ip netns exec "$bed_ns_a" iperf3 -c 10.199.0.2 -p 5201 -t "$secs" -P 2 -C cubic -J \
		>"$out/iperf.json" 2>&1
	wait "$ping_pid" "$ping_l_pid" "$udp_pid"
}

bed_stop_router() { # outdir
	kill -INT "$bed_router_pid"
	wait "$bed_router_pid"
	bed_router_pid=
	cp "$bed_work/router.log" "$1/router.log"
}
