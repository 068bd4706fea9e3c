// What --check-host and the NUMA placement conclude on FreeBSD, from what
// the host answers. The answers come through FreebsdHost, a table of
// readers: platform_freebsd.cpp fills it with the real calls (sysctlbyname,
// kenv(2), access(2), flock(2), if_nametoindex), and the unit tests
// (tests/test_platform_bsd.cpp) with canned answers, so that the logic is
// built and tested on every system although no FreeBSD host is at hand.
//
// The facts it rests on, each read in the source that defines it:
//  - nic_uio (DPDK kernel/freebsd/nic_uio/nic_uio.c) takes the ports named
//    by the kernel-environment tunable hw.nic_uio.bdfs ("bus:slot:function,"
//    decimal; TUNABLE_STR_FETCH, no sysctl) and makes /dev/uio@pci:B:S:F,
//    mode 0600, owner root, for each device it attached; pci_find_bsf()
//    finds PCI domain 0 only. DPDK's BSD PCI bus (drivers/bus/pci/bsd/pci.c)
//    opens exactly that node to use the device.
//  - contigmem (kernel/freebsd/contigmem/contigmem.c) publishes
//    hw.contigmem.num_buffers (int) and hw.contigmem.buffer_size (int64),
//    a power of two of at least a page; the FreeBSD EAL
//    (lib/eal/freebsd/eal_hugepage_info.c) opens /dev/contigmem read-write
//    and takes flock(LOCK_EX | LOCK_NB): one primary DPDK process per host.
//  - a device's NUMA domain is the sysctl dev.<driver>.<unit>.%domain,
//    added only where the bus knows it (sys/kern/subr_bus.c,
//    device_sysctl_init); a PCI child's location reads
//    "slot=S function=F dbsf=pciD:B:S:F" (sys/dev/pci/pci.c,
//    pci_child_location_method), all decimal.
#pragma once

#include "dataplane/platform.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace dualpilot::dataplane {

// The contigmem lock as the EAL would find it.
enum class ContigmemLock : uint8_t {
	free,       // the EAL would get it
	held,       // another primary DPDK process holds it
	no_access,  // /dev/contigmem cannot be opened read-write (EACCES, EPERM: not root)
	no_device,  // no /dev/contigmem (module not loaded)
	error,      // open(2) or flock(2) failed otherwise: errno says how
};
struct ContigmemProbe {
	ContigmemLock state = ContigmemLock::free;
	int error = 0; // the errno, for ContigmemLock::error
};

// kenv(2) returns at most this many bytes of a value (KENV_MVALLEN,
// sys/sys/kenv.h), while nic_uio reads up to 255 of hw.nic_uio.bdfs.
inline constexpr size_t kKenvValueMax = 128;

struct FreebsdHost {
	// sysctlbyname() of an integer (int or int64_t); false when absent.
	std::function<bool(const std::string &name, int64_t &value)> sysctl_int;
	// sysctlbyname() of a string; false when absent.
	std::function<bool(const std::string &name, std::string &value)> sysctl_text;
	// kenv(KENV_GET, name): the kernel environment; false when unset.
	std::function<bool(const std::string &name, std::string &value)> kenv;
	// access(path, R_OK | W_OK): 0, or the errno (ENOENT, EACCES).
	std::function<int(const std::string &path)> device_access;
	std::function<ContigmemProbe()> contigmem_lock;
	std::function<bool(const std::string &iface)> interface_exists;
};

// A PCI address "DDDD:BB:SS.F" (hex, as the router's config names it).
struct PciAddress {
	unsigned domain = 0, bus = 0, slot = 0, function = 0;
};
[[nodiscard]] bool parse_pci_address(const std::string &text, PciAddress &out);

// The node nic_uio makes for a device: "/dev/uio@pci:59:0:0".
std::string nic_uio_device_path(const PciAddress &a);

// The --check-host items on FreeBSD: contigmem (loaded, sized, accessible,
// not locked by another primary process), each PCI port (domain 0, given
// to nic_uio, its node present and accessible), each interface.
[[nodiscard]] std::vector<HostCheck> freebsd_check_host(const HostNeeds &needs, const FreebsdHost &host);

// The NUMA domain of a port's device: for a PCI address the nic_uio unit
// whose %location names it, for iface=ix0 the device ix0; -1 when the
// machine has one domain (vm.ndomains) or the kernel does not say.
[[nodiscard]] int freebsd_device_numa_node(const std::string &device, const FreebsdHost &host);

// The highest nic_uio unit searched for a PCI address (nic_uio's own
// MAX_DETACHED_DEVICES is 128).
inline constexpr int kNicUioMaxUnits = 128;

} // namespace dualpilot::dataplane
