// FreeBSD's --check-host and device locality as pure logic over the host's
// answers (platform_bsd.hpp says where each fact comes from). Portable: it
// is built and unit-tested everywhere; platform_freebsd.cpp wires in the
// real calls on FreeBSD.
#include "dataplane/platform_bsd.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

namespace dualpilot::dataplane {

namespace {

std::string bdf_text(const PciAddress &a) { return fmt::format("{}:{}:{}", a.bus, a.slot, a.function); }

// Whether nic_uio's list "59:0:0,59:0:1" names the device. nic_uio splits
// on both ',' and ':' and takes three numbers at a time (nic_uio_load), so
// the list is read the same way here.
bool bdfs_lists(const std::string &bdfs, const PciAddress &a)
{
	std::vector<long> numbers;
	size_t at = 0;
	while (at <= bdfs.size()) {
		const size_t end = bdfs.find_first_of(",:", at);
		const std::string token = bdfs.substr(at, end == std::string::npos ? std::string::npos : end - at);
		numbers.push_back(std::strtol(token.c_str(), nullptr, 10));
		if (end == std::string::npos)
			break;
		at = end + 1;
	}
	for (size_t i = 0; i + 2 < numbers.size(); i += 3)
		if (numbers[i] == a.bus && numbers[i + 1] == a.slot && numbers[i + 2] == a.function)
			return true;
	return false;
}

HostCheck check_contigmem(const FreebsdHost &host)
{
	HostCheck c{"contigmem", false, {}};
	int64_t buffers = 0, size = 0;
	if (!host.sysctl_int("hw.contigmem.num_buffers", buffers)) {
		c.detail = "not loaded: contigmem_load=\"YES\", hw.contigmem.num_buffers and hw.contigmem.buffer_size "
			   "in /boot/loader.conf (or kldload contigmem)";
		return c;
	}
	const bool sized = host.sysctl_int("hw.contigmem.buffer_size", size);
	const std::string reserved = sized ? fmt::format("{} buffers of {} MB", buffers, size >> 20)
					   : fmt::format("{} buffers (hw.contigmem.buffer_size unreadable)", buffers);
	if (buffers <= 0) {
		c.detail = reserved + ": none reserved; set hw.contigmem.num_buffers in /boot/loader.conf";
		return c;
	}
	const ContigmemProbe probe = host.contigmem_lock();
	switch (probe.state) {
	case ContigmemLock::free:
		c.ok = true;
		c.detail = reserved;
		break;
	case ContigmemLock::held:
		c.detail = reserved + ", but locked by another DPDK process: the FreeBSD EAL takes /dev/contigmem "
				      "exclusively, one primary DPDK process per host (stop the other, or run this one "
				      "with --no-huge)";
		break;
	case ContigmemLock::no_access:
		c.detail = reserved + ", but /dev/contigmem cannot be opened read-write: run the router as root";
		break;
	case ContigmemLock::no_device:
		c.detail = reserved + ", but /dev/contigmem is missing: kldunload contigmem && kldload contigmem";
		break;
	case ContigmemLock::error:
		c.detail = reserved + ", but /dev/contigmem: " + std::strerror(probe.error);
		break;
	}
	return c;
}

// The hw.nic_uio.bdfs that gives nic_uio every PCI port of the config: the
// kernel environment's list as it stands, and each port it lacks (so that
// following the advice for one port does not undo it for another).
std::string bdfs_for_all(const std::vector<std::string> &ports, const std::string &current)
{
	std::string list = current;
	for (const std::string &addr : ports) {
		PciAddress a;
		if (parse_pci_address(addr, a) && a.domain == 0 && !bdfs_lists(list, a))
			list += (list.empty() ? "" : ",") + bdf_text(a);
	}
	return list;
}

HostCheck check_pci_port(const std::string &addr, const std::vector<std::string> &all_ports, const FreebsdHost &host)
{
	HostCheck c{"port " + addr, false, {}};
	PciAddress a;
	if (!parse_pci_address(addr, a)) {
		c.detail = "not a PCI address (DDDD:BB:SS.F, hex)";
		return c;
	}
	if (a.domain != 0) {
		c.detail = fmt::format("PCI domain {}: nic_uio finds devices in domain 0 only (pci_find_bsf), so DPDK "
				       "cannot drive this port on FreeBSD",
				       a.domain);
		return c;
	}
	const std::string bdf = bdf_text(a);
	const std::string node = nic_uio_device_path(a);
	const int err = host.device_access(node);
	if (err == 0) {
		c.ok = true;
		c.detail = "given to nic_uio (" + node + ")";
		return c;
	}
	if (err == EACCES || err == EPERM) {
		c.detail = fmt::format("{} is there but not readable and writable by this user: nic_uio makes it root's, "
				       "mode 0600; run the router as root",
				       node);
		return c;
	}
	std::string bdfs;
	if (!host.kenv("hw.nic_uio.bdfs", bdfs)) {
		const std::string all = bdfs_for_all(all_ports, "");
		c.detail = fmt::format("not given to nic_uio: no {}, and hw.nic_uio.bdfs is not in the kernel environment; "
				       "put hw.nic_uio.bdfs=\"{}\" and nic_uio_load=\"YES\" in /boot/loader.conf (or "
				       "kenv hw.nic_uio.bdfs={} && kldload nic_uio)",
				       node, all, all);
	} else if (!bdfs_lists(bdfs, a)) {
		// kenv(2) hands back at most kKenvValueMax bytes; nic_uio reads more.
		const bool cut = bdfs.size() + 1 >= kKenvValueMax;
		c.detail = fmt::format("not given to nic_uio: hw.nic_uio.bdfs is \"{}\"{}; set it to \"{}\" (every port of "
				       "this config) and reload nic_uio",
				       bdfs, cut ? " (as far as kenv(2) shows it: 128 bytes)" : "",
				       bdfs_for_all(all_ports, bdfs));
	} else
		c.detail = fmt::format("listed in hw.nic_uio.bdfs (\"{}\") but {} is missing: nic_uio is not loaded "
				       "(kldload nic_uio), or the kernel driver claimed the device first (pciconf -l)",
				       bdfs, node);
	return c;
}

// The driver and unit of an interface name: "ix0" -> "ix", "0".
bool split_interface(const std::string &iface, std::string &driver, std::string &unit)
{
	size_t digits = iface.size();
	while (digits > 0 && iface[digits - 1] >= '0' && iface[digits - 1] <= '9')
		digits--;
	if (digits == 0 || digits == iface.size())
		return false;
	for (size_t i = 0; i < digits; i++)
		if (!((iface[i] >= 'a' && iface[i] <= 'z') || (iface[i] >= 'A' && iface[i] <= 'Z') || iface[i] == '_'))
			return false; // a name sysctl would not take as one component
	driver = iface.substr(0, digits);
	unit = iface.substr(digits);
	return true;
}

} // namespace

bool parse_pci_address(const std::string &text, PciAddress &out)
{
	char tail = 0;
	return std::sscanf(text.c_str(), "%x:%x:%x.%x%c", &out.domain, &out.bus, &out.slot, &out.function, &tail) ==
		       4 &&
	       out.bus <= 0xff && out.slot <= 0x1f && out.function <= 7;
}

std::string nic_uio_device_path(const PciAddress &a)
{
	return fmt::format("/dev/uio@pci:{}:{}:{}", a.bus, a.slot, a.function);
}

std::vector<HostCheck> freebsd_check_host(const HostNeeds &needs, const FreebsdHost &host)
{
	std::vector<HostCheck> out;
	if (needs.hugepages)
		out.push_back(check_contigmem(host));
	for (const std::string &addr : needs.pci_devices)
		out.push_back(check_pci_port(addr, needs.pci_devices, host));
	for (const std::string &iface : needs.interfaces) {
		HostCheck c{"interface " + iface, host.interface_exists(iface), {}};
		c.detail = c.ok ? "present" : "no such interface (ifconfig -l lists them)";
		out.push_back(c);
	}
	return out;
}

int freebsd_device_numa_node(const std::string &device, const FreebsdHost &host)
{
	int64_t domains = 0;
	if (host.sysctl_int("vm.ndomains", domains) && domains <= 1)
		return -1; // one domain: no locality to speak of
	std::string sysctl_device; // "dev.nic_uio.3" or "dev.ix.0"
	PciAddress a;
	const std::string name = device.substr(0, device.find(','));
	if (parse_pci_address(name, a)) {
		const std::string dbsf = fmt::format("dbsf=pci{}:{}:{}:{}", a.domain, a.bus, a.slot, a.function);
		for (int unit = 0; unit < kNicUioMaxUnits && sysctl_device.empty(); unit++) {
			std::string location;
			if (!host.sysctl_text(fmt::format("dev.nic_uio.{}.%location", unit), location))
				continue; // units can have gaps where a device was detached
			const size_t at = location.find(dbsf);
			const size_t end = at + dbsf.size();
			if (at != std::string::npos && (end == location.size() || location[end] == ' '))
				sysctl_device = fmt::format("dev.nic_uio.{}", unit);
		}
	} else if (std::string driver, unit; split_interface(vdev_arg(device, "iface"), driver, unit)) {
		sysctl_device = "dev." + driver + "." + unit;
	}
	int64_t domain = -1;
	if (sysctl_device.empty() || !host.sysctl_int(sysctl_device + ".%domain", domain) || domain < 0)
		return -1;
	return static_cast<int>(domain);
}

} // namespace dualpilot::dataplane
