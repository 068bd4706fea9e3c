#!/usr/bin/env bash
# Capture with DPDK's own tools (docs/router.md, "Operations", "Capturing a
# port"): a dualpilot-router process forwards between two net_pcap ports,
#   in.pcap (looped: ECT(1), ECT(0), Not-ECT frames) -> west | DualPI2 at
#   10 Mbit/s, a standing queue | east -> east_tx.pcap (the port's own record)
# while dpdk-dumpcap, a DPDK secondary process, captures 2000 frames of east
# into a pcapng file through rte_pdump. pcap_ecn reads both with libpcap and
# checks that the capture holds CE marks and shows each frame's ECN field as
# the router forwarded it (the captured codepoints are a contiguous run of the
# tx record's). Then SIGHUP: the router reloads its configured model
# (checked, swapped in) and says so; SIGINT stops it cleanly.
# usage: pdump_capture_linux.sh ROUTER PCAP_ECN MODEL
# Root only (a secondary process needs hugepages; the test reserves 256 2 MB
# pages and mounts a hugetlbfs of its own, both undone at exit); exits 77
# (skipped) elsewhere, or where dpdk-dumpcap is missing.
set -uo pipefail
router=${1:?usage: pdump_capture_linux.sh ROUTER PCAP_ECN MODEL}
pcap_ecn=${2:?usage: pdump_capture_linux.sh ROUTER PCAP_ECN MODEL}
model=${3:?usage: pdump_capture_linux.sh ROUTER PCAP_ECN MODEL}

if [ "$(id -u)" -ne 0 ]; then
	echo "skipped: root is needed to reserve hugepages for a secondary process"
	exit 77
fi
if ! command -v dpdk-dumpcap >/dev/null; then
	echo "skipped: dpdk-dumpcap not installed (Debian package dpdk)"
	exit 77
fi

work=$(mktemp -d)
router_pid=
pages_before=$(cat /proc/sys/vm/nr_hugepages)
pages_set=
cleanup() {
	if [ -n "$router_pid" ]; then
		kill "$router_pid" 2>/dev/null
		wait "$router_pid" 2>/dev/null
	fi
	mountpoint -q "$work/huge" && umount "$work/huge"
	# Give the pages back unless someone else changed the count meanwhile.
	if [ -n "$pages_set" ] && [ "$(cat /proc/sys/vm/nr_hugepages)" = "$pages_set" ]; then
		echo "$pages_before" >/proc/sys/vm/nr_hugepages
	fi
	rm -rf "$work"
	# The router's EAL runtime directory (--file-prefix): nothing left behind.
	[ -n "${prefix:-}" ] && rm -rf "/var/run/dpdk/$prefix"
}
trap cleanup EXIT
fails=0
check() { # description, then a command that succeeds when it holds
	local what=$1
	shift
	if "$@"; then
		echo "ok:   $what"
	else
		echo "FAIL: $what"
		fails=$((fails + 1))
	fi
}

pages_set=$((pages_before + 256))
if ! echo "$pages_set" >/proc/sys/vm/nr_hugepages 2>/dev/null ||
	[ "$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)" -lt 256 ]; then
	echo "skipped: cannot reserve 256 hugepages here"
	exit 77
fi
mkdir -p "$work/huge"
if ! mount -t hugetlbfs -o pagesize=2M nodev "$work/huge" 2>/dev/null; then
	echo "skipped: cannot mount a hugetlbfs here"
	exit 77
fi

# Frames: Ethernet + IPv4 + UDP, 1000 bytes of payload, ECN 01, 10, 00.
python3 - "$work" <<'EOT'
import struct, sys
work = sys.argv[1]
def frame(ecn):
    ip = bytearray(20)
    ip[0] = 0x45; ip[1] = ecn
    struct.pack_into('!H', ip, 2, 20 + 8 + 1000); ip[8] = 64; ip[9] = 17
    ip[12:16] = bytes([10, 0, 0, 1]); ip[16:20] = bytes([10, 0, 0, 2])
    s = sum(struct.unpack('!10H', bytes(ip))); s = (s & 0xffff) + (s >> 16); s = (s & 0xffff) + (s >> 16)
    struct.pack_into('!H', ip, 10, ~s & 0xffff)
    return bytes([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0]) + bytes(ip) + struct.pack('!HHHH', 1000, 2000, 1008, 0) + bytes(1000)
header = struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)
with open(work + '/in.pcap', 'wb') as f:
    f.write(header)
    for i in range(300):
        fr = frame([1, 2, 0][i % 3])
        f.write(struct.pack('<IIII', 0, i, len(fr), len(fr)) + fr)
with open(work + '/empty.pcap', 'wb') as f:
    f.write(header)
EOT

prefix=dp_pdump_$$
cat >"$work/router.toml" <<EOT
[eal]
args = ["-l", "0", "--huge-dir", "$work/huge", "-m", "256", "--no-pci", "--file-prefix=$prefix", "--log-level=lib.eal:error"]
[router]
mbufs = 16384
[[ports]]
name = "west"
device = "net_pcap0,rx_pcap=$work/in.pcap,infinite_rx=1,tx_pcap=$work/west_tx.pcap"
peer = "east"
aqm = "fifo"
[[ports]]
name = "east"
device = "net_pcap1,rx_pcap=$work/empty.pcap,tx_pcap=$work/east_tx.pcap"
peer = "west"
rate = "10mbit"
aqm = "dualpi2"
[policy]
mode = "shadow"
model = "$model"
EOT
"$router" --config "$work/router.toml" >"$work/router.log" 2>&1 &
router_pid=$!
for _ in $(seq 1 100); do
	grep -q "forwarding" "$work/router.log" && break
	kill -0 "$router_pid" 2>/dev/null || break
	sleep 0.1
done
if ! grep -q "forwarding" "$work/router.log"; then
	cat "$work/router.log"
	if grep -qiE "EAL initialisation failed|cannot probe" "$work/router.log"; then
		echo "skipped: the router cannot start here (EAL or net_pcap missing)"
		exit 77
	fi
	echo "FAIL: the router did not start"
	exit 1
fi
sleep 1 # a standing queue, and DualPI2 marking

timeout 60 dpdk-dumpcap --file-prefix="$prefix" -i net_pcap1 -c 2000 -q -w "$work/east.pcapng" \
	>"$work/dumpcap.log" 2>&1
check "dpdk-dumpcap captured east as a secondary process" test -s "$work/east.pcapng"

kill -HUP "$router_pid"
for _ in $(seq 1 50); do
	grep -q "policy/reload model" "$work/router.log" && break
	sleep 0.1
done
check "SIGHUP reloads the configured model" grep -q "policy: policy/reload model $model -> $model" "$work/router.log"
kill -INT "$router_pid"
wait "$router_pid"
rc=$?
router_pid=
check "the router stops cleanly on SIGINT" test "$rc" -eq 0

"$pcap_ecn" "$work/east.pcapng" "$work/east_tx.pcap" >"$work/ecn.log" 2>&1
ecn_rc=$?
cat "$work/ecn.log"
check "the capture shows CE where DualPI2 marked, each frame's ECN as forwarded" test "$ecn_rc" -eq 0
if [ "$fails" -ne 0 ]; then
	echo "--- router log"
	cat "$work/router.log"
	echo "--- dumpcap log"
	cat "$work/dumpcap.log"
	exit 1
fi
