// The router's platform boundary: everything that differs between Linux and
// FreeBSD sits behind these functions. platform.cpp is portable (hwloc);
// platform_linux.cpp (sysfs, /proc) and platform_freebsd.cpp (sysctl, kenv,
// devfs) hold the rest, one of them built per host, guarded by the macros
// DPDK itself uses (RTE_EXEC_ENV_LINUX, RTE_EXEC_ENV_FREEBSD). FreeBSD's
// logic is the portable platform_bsd.cpp, built and tested everywhere.
// Nothing else in the tree may use a Linux-only header or path:
// scripts/check-platform says so in CI.
#pragma once

#include <string>
#include <vector>

namespace dualpilot::dataplane {

// The NUMA node of a port's device: a PCI address, or the kernel interface a
// vdev names (iface=eth0) where a PCI device is below it; -1 when unknown or
// when the machine has one node. hwloc's own PCI locality first; where hwloc
// has no such I/O object, or places it below several nodes (its FreeBSD
// backend attaches every PCI device to the machine root), the platform's
// source (Linux: sysfs, as DPDK's probe reads it; FreeBSD: the device's
// dev.<driver>.<unit>.%domain sysctl, platform_bsd.hpp).
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

// What to tell an operator whose router failed to start its EAL, about
// running a second DPDK process on the host, in that system's terms.
const char *second_process_hint();

// The value of key=... in a vdev argument string "net_x0,a=1,iface=eth0".
std::string vdev_arg(const std::string &device, const std::string &key);

} // namespace dualpilot::dataplane
