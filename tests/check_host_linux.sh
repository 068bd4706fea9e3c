#!/usr/bin/env bash
# dualpilot-router --check-host on Linux: each thing the config needs of the
# host is named, with exactly what is missing; exit 1 if anything is.
# usage: check_host_linux.sh ROUTER
set -uo pipefail
router=${1:?usage: check_host_linux.sh ROUTER}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
expect() { # description, pattern, file
	if grep -qF -- "$2" "$3"; then
		echo "ok:   $1"
	else
		echo "FAIL: $1: no line '$2' in:"
		cat "$3"
		fails=$((fails + 1))
	fi
}
ports() { # device-a device-b
	printf '[[ports]]\nname = "a"\ndevice = "%s"\npeer = "b"\n[[ports]]\nname = "b"\ndevice = "%s"\npeer = "a"\n' "$1" "$2"
}

ports "0000:ff:1f.7" "net_af_packet0,iface=nosuch0" >"$work/missing.toml"
"$router" --config "$work/missing.toml" --check-host >"$work/out" 2>&1
rc=$?
expect "a PCI address with no device" "MISSING  port 0000:ff:1f.7: no such PCI device (lspci -D lists them)" "$work/out"
expect "an iface= with no interface" "MISSING  interface nosuch0: no such kernel interface" "$work/out"
# The two ports are missing on any host; hugepages and their hugetlbfs mount
# may be too (this test needs neither): the count is of every MISSING line.
missing=$(grep -c "^MISSING" "$work/out")
expect "the count" "$missing missing: the router would not start" "$work/out"
[ "$missing" -ge 2 ] && echo "ok:   at least the two ports missing" || {
	echo "FAIL: $missing MISSING lines, not at least 2"
	fails=$((fails + 1))
}
expect "the hugepages looked at" "hugepages: " "$work/out"
expect "the hugetlbfs mount looked at" "hugetlbfs: " "$work/out"
[ "$rc" -eq 1 ] && echo "ok:   exit 1" || { echo "FAIL: exit $rc, not 1"; fails=$((fails + 1)); }

ports "net_ring0" "net_af_packet0,iface=lo" >"$work/fine.toml"
"$router" --config "$work/fine.toml" --check-host -- --no-huge >"$work/out" 2>&1
rc=$?
expect "an interface that is there" "ok       interface lo: present" "$work/out"
expect "nothing missing" "the host has what this config needs" "$work/out"
if grep -q "hugepages" "$work/out"; then
	echo "FAIL: --no-huge still checks hugepages"
	fails=$((fails + 1))
fi
[ "$rc" -eq 0 ] && echo "ok:   exit 0" || { echo "FAIL: exit $rc, not 0"; fails=$((fails + 1)); }

# A NIC the kernel drives, where the host has one: named with its driver and
# the command that hands it to DPDK.
for dev in /sys/class/net/*/device; do
	path=$(readlink -f "$dev") # the PCI function it sits on (virtio: its parent)
	while [ "$path" != / ] && ! [[ $(basename "$path") == *:*:*.* ]]; do
		path=$(dirname "$path")
	done
	[ "$path" != / ] && [ -e "$path/driver" ] || continue
	pci=$(basename "$path")
	driver=$(basename "$(readlink -f "$path/driver")")
	case "$driver" in vfio-pci | uio_pci_generic | igb_uio | mlx4_core | mlx5_core) continue ;; esac
	ports "$pci" "net_ring0" >"$work/kernel.toml"
	"$router" --config "$work/kernel.toml" --check-host -- --no-huge >"$work/out" 2>&1
	expect "a NIC its kernel driver holds" "MISSING  port $pci: bound to the kernel driver $driver: ip link set <iface> down, then dpdk-devbind.py -b vfio-pci $pci" "$work/out"
	break
done
exit $((fails > 0))
