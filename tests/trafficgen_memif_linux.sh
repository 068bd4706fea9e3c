#!/usr/bin/env bash
# dualpilot-trafficgen driving a dualpilot-router process on the same host
# over net_memif (shared-memory packet interfaces, two processes):
#   trafficgen net_memif0 -> router west | DualPI2 at 20 Mbit/s | east -> trafficgen net_memif1
# 30 Mbit/s of L4S (ECT(1)), Classic ECN (ECT(0)) and Not-ECT frames for 3 s.
# Checks: every frame the generator sent is either received or one of the
# router's counted drops; the router saw exactly what was sent; L4S frames
# arrive CE-marked, Not-ECT frames never do; the received rate is the
# bottleneck's.
# usage: trafficgen_memif_linux.sh PATH/TO/dualpilot-router PATH/TO/dualpilot-trafficgen
# Exits 77 (skipped) where the EAL cannot start or net_memif is missing.
set -uo pipefail
router=${1:?usage: trafficgen_memif_linux.sh ROUTER TRAFFICGEN}
tg=${2:?usage: trafficgen_memif_linux.sh ROUTER TRAFFICGEN}
work=$(mktemp -d)
router_pid=
cleanup() {
	[ -n "$router_pid" ] && kill "$router_pid" 2>/dev/null && wait "$router_pid" 2>/dev/null
	rm -rf "$work"
	# Both EALs' runtime directories (--file-prefix): nothing left behind.
	[ -n "${tag:-}" ] && rm -rf "/var/run/dpdk/${tag}_r" "/var/run/dpdk/${tag}_t"
}
trap cleanup EXIT
fails=0
check() { # description python-expression
	if python3 -c "import sys; sys.exit(0 if ($2) else 1)"; then
		echo "ok:   $1"
	else
		echo "FAIL: $1"
		fails=$((fails + 1))
	fi
}

tag=dp_tgm_$$
cat >"$work/router.toml" <<EOT
[eal]
args = ["--no-huge", "-m", "512", "--no-pci", "--file-prefix=${tag}_r", "--log-level=lib.eal:error", "--no-telemetry"]
[router]
workers = 1
[[ports]]
name = "west"
device = "net_memif0,role=server,socket=$work/west.sock,socket-abstract=no"
peer = "east"
aqm = "fifo"
[[ports]]
name = "east"
device = "net_memif1,role=server,socket=$work/east.sock,socket-abstract=no"
peer = "west"
rate = "20mbit"
aqm = "dualpi2"
EOT
"$router" --config "$work/router.toml" >"$work/router.log" 2>&1 &
router_pid=$!
# One wait: until the router says it forwards (its sockets exist once the
# ports are probed, but a client that connects before the router has
# started them, its pool made in between, never sees the link come up), or
# until it exits.
for _ in $(seq 1 100); do
	grep -q "forwarding" "$work/router.log" && break
	kill -0 "$router_pid" 2>/dev/null || break
	sleep 0.1
done
if ! grep -q "forwarding" "$work/router.log"; then
	cat "$work/router.log"
	if grep -qiE "EAL initialisation failed|cannot probe" "$work/router.log"; then
		echo "skipped: the router cannot start here (EAL or net_memif missing)"
		exit 77
	fi
	echo "FAIL: the router did not start forwarding over its memif ports"
	exit 1
fi

"$tg" --tx-port net_memif0 --rx-port net_memif1 --duration 3s --drain 1s --json "$work/tg.json" --per-flow \
	--flow name=l4s,size=1000,rate=12mbit,ecn=ect1 --flow name=classic-ecn,size=1000,rate=6mbit,ecn=ect0 \
	--flow name=classic,size=imix,rate=12mbit,ecn=not-ect,dst=[2001:db8::2]:5001 \
	-- -l 0 --no-huge -m 512 --no-pci --file-prefix="${tag}_t" --log-level=lib.eal:error --no-telemetry \
	--vdev "net_memif0,role=client,socket=$work/west.sock,socket-abstract=no" --vdev "net_memif1,role=client,socket=$work/east.sock,socket-abstract=no" \
	| tee "$work/tg.txt"
tg_rc=${PIPESTATUS[0]}
kill -INT "$router_pid"
wait "$router_pid"
router_pid=
cat "$work/router.log"
[ "$tg_rc" -eq 0 ] || { echo "FAIL: dualpilot-trafficgen exited $tg_rc"; exit 1; }

# Router summary rows: port rx tx marked aqm-drop overflow malformed no-route tx-failed queued
row() { awk -v p="$1" '$1 == p && NF == 10 && $2 ~ /^[0-9]+$/ { print }' "$work/router.log" | head -1; }
read -r _ w_rx _ _ w_aqm w_over w_bad w_route w_txf _ <<<"$(row west)"
read -r _ _ e_tx e_marked e_aqm e_over e_bad e_route e_txf _ <<<"$(row east)"
drops=$((w_aqm + w_over + w_bad + w_route + w_txf + e_aqm + e_over + e_bad + e_route + e_txf))
j() { python3 -c "import json; d = json.load(open('$work/tg.json')); print($1)"; }
sent=$(j "d['generator']['pkts']")
received=$(j "d['total']['received']")
l4s_ce=$(j "[c['ce_fraction'] for c in d['classes'] if c['class'] == 'ect1'][0]")
not_ect_ce=$(j "[c['ce'] for c in d['classes'] if c['class'] == 'not-ect'][0]")
rx_mbps=$(j "d['total']['rx_mbps']")
echo "sent $sent, received $received, router: west rx $w_rx, east tx $e_tx, drops $drops, marks $e_marked"
check "the router received every frame sent ($w_rx of $sent)" "$w_rx == $sent"
check "sent $sent = received $received + router drops $drops" "$sent == $received + $drops"
check "the receiver got what the router's east port sent ($received of $e_tx)" "$received == $e_tx"
check "L4S frames arrive CE-marked (fraction $l4s_ce > 0.2)" "$l4s_ce > 0.2"
check "Not-ECT frames are never CE ($not_ect_ce)" "$not_ect_ce == 0"
check "received rate $rx_mbps Mbit/s near the 20 Mbit/s bottleneck (3 s of sending, drained)" \
	"16 <= $rx_mbps <= 22"
echo "$fails failed"
[ "$fails" -eq 0 ]
