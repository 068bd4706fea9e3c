// The router's platform boundary: everything that differs between Linux and
// FreeBSD sits behind these functions. platform.cpp is portable (hwloc);
// platform_linux.cpp (sysfs, /proc) and platform_freebsd.cpp (sysctl) hold
// the rest, one of them built per host, guarded by the macros DPDK itself
// uses (RTE_EXEC_ENV_LINUX, RTE_EXEC_ENV_FREEBSD). Nothing else in the tree
// may use a Linux-only header or path: scripts/check-platform says so in CI.
#pragma once

#include <string>
#include <vector>

namespace dualpilot::dataplane {

// The NUMA node of a port's device: a PCI address, or the kernel interface a
// vdev names (iface=eth0) where a PCI device is below it; -1 when unknown or
// when the machine has one node. hwloc's own PCI locality first (it works on
// both systems); where hwloc has no I/O objects, the platform's fallback
// (Linux: sysfs, as DPDK's probe reads it; FreeBSD: none).
int device_numa_node(const std::string &device);
int platform_device_numa_node(const std::string &device);

// --check-host: what the router needs of the host before it can start.
struct HostNeeds {
	bool hugepages = true;                  // false under --no-huge
	std::vector<std::string> pci_devices;   // ports given by PCI address
	std::vector<std::string> interfaces;    // kernel interfaces a vdev names (iface=...)
};

struct HostCheck {
	std::string what;   // "hugepages", "hugetlbfs", "port 0000:3b:00.0", ...
	bool ok = false;
	std::string detail; // what was found, or exactly what is missing and how to provide it
};

[[nodiscard]] std::vector<HostCheck> check_host(const HostNeeds &needs);

// The value of key=... in a vdev argument string "net_x0,a=1,iface=eth0".
std::string vdev_arg(const std::string &device, const std::string &key);

} // namespace dualpilot::dataplane
