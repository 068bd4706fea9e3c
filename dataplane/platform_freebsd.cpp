// The FreeBSD half of the platform boundary: sysctl, as DPDK's FreeBSD EAL
// reads contigmem and nic_uio (RTE_EXEC_ENV_FREEBSD). docs/freebsd.md says
// how to load and tune both.
#if __has_include(<rte_config.h>)
#include <rte_config.h>
#endif

#if defined(RTE_EXEC_ENV_FREEBSD) || (!defined(RTE_EXEC_ENV_LINUX) && defined(__FreeBSD__))

#include "dataplane/platform.hpp"

#include <sys/types.h>
#include <sys/sysctl.h>
#include <net/if.h>

#include <cstdio>

#include <fmt/format.h>

namespace dualpilot::dataplane {

namespace {

[[nodiscard]] bool sysctl_u64(const char *name, uint64_t &out)
{
	uint64_t v = 0;
	size_t len = sizeof(v);
	if (sysctlbyname(name, &v, &len, nullptr, 0) != 0)
		return false;
	out = len == sizeof(uint32_t) ? static_cast<uint32_t>(v) : v;
	return true;
}

[[nodiscard]] bool sysctl_text(const char *name, std::string &out)
{
	size_t len = 0;
	if (sysctlbyname(name, nullptr, &len, nullptr, 0) != 0)
		return false;
	out.assign(len, '\0');
	if (sysctlbyname(name, out.data(), &len, nullptr, 0) != 0)
		return false;
	out.resize(len && out[len - 1] == '\0' ? len - 1 : len);
	return true;
}

// "0000:3b:00.0" as nic_uio's hw.nic_uio.bdfs writes it: "59:0:0".
std::string bdf_of(const std::string &addr)
{
	unsigned domain = 0, bus = 0, dev = 0, fn = 0;
	if (std::sscanf(addr.c_str(), "%x:%x:%x.%x", &domain, &bus, &dev, &fn) != 4)
		return {};
	return fmt::format("{}:{}:{}", bus, dev, fn);
}

} // namespace

// No sysfs: hwloc's PCI locality is the only source (platform.cpp).
int platform_device_numa_node(const std::string &) { return -1; }

std::vector<HostCheck> check_host(const HostNeeds &needs)
{
	std::vector<HostCheck> out;
	if (needs.hugepages) {
		HostCheck c{"contigmem", false, {}};
		uint64_t buffers = 0, size = 0;
		if (!sysctl_u64("hw.contigmem.num_buffers", buffers)) {
			c.detail = "not loaded: kldload contigmem (hw.contigmem.num_buffers and hw.contigmem.buffer_size in "
				   "/boot/loader.conf; contigmem_load=\"YES\")";
		} else {
			c.ok = buffers > 0;
			c.detail = sysctl_u64("hw.contigmem.buffer_size", size)
					   ? fmt::format("{} buffers of {} MB", buffers, size >> 20)
					   : fmt::format("{} buffers (hw.contigmem.buffer_size unreadable)", buffers);
		}
		out.push_back(c);
	}
	std::string bdfs;
	const bool nic_uio = sysctl_text("hw.nic_uio.bdfs", bdfs);
	for (const std::string &addr : needs.pci_devices) {
		HostCheck c{"port " + addr, false, {}};
		const std::string bdf = bdf_of(addr);
		if (!nic_uio)
			c.detail = fmt::format("nic_uio not loaded: hw.nic_uio.bdfs=\"{}\" and nic_uio_load=\"YES\" in "
					       "/boot/loader.conf, or kenv hw.nic_uio.bdfs={} && kldload nic_uio",
					       bdf, bdf);
		else if (bdf.empty() || (","+ bdfs + ",").find("," + bdf + ",") == std::string::npos)
			c.detail = fmt::format("not given to nic_uio (hw.nic_uio.bdfs = \"{}\"): add {} and reload nic_uio",
					       bdfs, bdf);
		else {
			c.ok = true;
			c.detail = "given to nic_uio";
		}
		out.push_back(c);
	}
	for (const std::string &iface : needs.interfaces) {
		HostCheck c{"interface " + iface, if_nametoindex(iface.c_str()) != 0, {}};
		c.detail = c.ok ? "present" : "no such interface (ifconfig -l lists them)";
		out.push_back(c);
	}
	return out;
}

} // namespace dualpilot::dataplane

#endif // RTE_EXEC_ENV_FREEBSD
