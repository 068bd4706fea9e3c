// The Linux half of the platform boundary: sysfs and /proc, read as DPDK's
// own EAL reads them (RTE_EXEC_ENV_LINUX).
#if __has_include(<rte_config.h>)
#include <rte_config.h>
#endif

#if defined(RTE_EXEC_ENV_LINUX) || (!defined(RTE_EXEC_ENV_FREEBSD) && defined(__linux__))

#include "dataplane/platform.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace dualpilot::dataplane {

namespace fs = std::filesystem;

// A device's NUMA node from sysfs: the PCI function's numa_node, or for a
// kernel interface the one of the PCI function it sits on (a virtio or USB
// device below it included).
int platform_device_numa_node(const std::string &device)
{
	const std::string name = device.substr(0, device.find(','));
	std::error_code ec;
	fs::path dev = fs::path("/sys/bus/pci/devices") / name;
	if (name.find('/') != std::string::npos || !fs::exists(dev / "numa_node", ec)) {
		const std::string iface = vdev_arg(device, "iface");
		if (iface.empty() || iface.find('/') != std::string::npos)
			return -1;
		dev = fs::canonical(fs::path("/sys/class/net") / iface / "device", ec);
		if (ec)
			return -1; // no device below it (veth, tap, ...) or no such interface
		while (!dev.empty() && dev != dev.root_path() && !fs::exists(dev / "numa_node", ec))
			dev = dev.parent_path();
	}
	std::ifstream in(dev / "numa_node");
	int node = -1;
	if (!(in >> node))
		return -1;
	return node; // -1 where the machine has one node or the firmware does not say
}

namespace {

HostCheck check_hugepages()
{
	HostCheck c{"hugepages", false, {}};
	std::ifstream in("/proc/meminfo");
	uint64_t total = 0, free = 0, size_kb = 0;
	for (std::string line; std::getline(in, line);) {
		std::istringstream f(line);
		std::string key;
		uint64_t v = 0;
		f >> key >> v;
		if (key == "HugePages_Total:")
			total = v;
		else if (key == "HugePages_Free:")
			free = v;
		else if (key == "Hugepagesize:")
			size_kb = v;
	}
	// 1 GB pages are counted apart from the default size's.
	uint64_t gig = 0;
	std::ifstream g("/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages");
	g >> gig;
	if (total == 0 && gig == 0) {
		c.detail = fmt::format("none reserved: echo 1024 > /sys/kernel/mm/hugepages/hugepages-{}kB/nr_hugepages "
				       "(vm.nr_hugepages in /etc/sysctl.d/ to keep it; or run with -- --no-huge for a test)",
				       size_kb ? size_kb : 2048);
		return c;
	}
	c.ok = free > 0 || gig > 0;
	c.detail = fmt::format("{} of {} pages of {} kB free{}", free, total, size_kb,
			       gig ? fmt::format(", {} pages of 1 GB", gig) : "");
	if (!c.ok)
		c.detail += ": every page is taken (another DPDK process?); reserve more";
	return c;
}

HostCheck check_hugetlbfs()
{
	HostCheck c{"hugetlbfs", false, {}};
	std::ifstream in("/proc/mounts");
	for (std::string line; std::getline(in, line);) {
		std::istringstream f(line);
		std::string dev, dir, type;
		f >> dev >> dir >> type;
		if (type == "hugetlbfs") {
			c.ok = true;
			c.detail = "mounted on " + dir;
			return c;
		}
	}
	c.detail = "not mounted: mkdir -p /dev/hugepages && mount -t hugetlbfs nodev /dev/hugepages "
		   "(systemd's dev-hugepages.mount does it at boot)";
	return c;
}

// A PCI port: the device exists and a driver DPDK can use holds it (vfio-pci,
// uio_pci_generic, igb_uio; or a bifurcated driver: mlx4/mlx5).
HostCheck check_pci(const std::string &addr)
{
	HostCheck c{"port " + addr, false, {}};
	const fs::path dev = fs::path("/sys/bus/pci/devices") / addr;
	std::error_code ec;
	if (addr.find('/') != std::string::npos || !fs::exists(dev, ec)) {
		c.detail = "no such PCI device (lspci -D lists them)";
		return c;
	}
	const fs::path drv = fs::read_symlink(dev / "driver", ec);
	const std::string driver = ec ? "" : drv.filename().string();
	if (driver.empty()) {
		c.detail = fmt::format("no driver bound: modprobe vfio-pci && dpdk-devbind.py -b vfio-pci {}", addr);
	} else if (driver == "vfio-pci" || driver == "uio_pci_generic" || driver == "igb_uio") {
		c.ok = true;
		c.detail = "bound to " + driver;
		if (driver == "vfio-pci" && !fs::exists("/dev/vfio/vfio", ec)) {
			c.ok = false;
			c.detail += ", but /dev/vfio/vfio is missing: modprobe vfio-pci (and enable the IOMMU: intel_iommu=on "
				    "or amd_iommu=on, or vfio's enable_unsafe_noiommu_mode)";
		}
	} else if (driver == "mlx5_core" || driver == "mlx4_core") {
		c.ok = true;
		c.detail = "bound to " + driver + " (bifurcated: DPDK drives it beside the kernel)";
	} else {
		c.detail = fmt::format("bound to the kernel driver {}: ip link set <iface> down, then dpdk-devbind.py -b "
				       "vfio-pci {}",
				       driver, addr);
	}
	return c;
}

HostCheck check_interface(const std::string &iface)
{
	HostCheck c{"interface " + iface, false, {}};
	std::error_code ec;
	c.ok = iface.find('/') == std::string::npos && fs::exists(fs::path("/sys/class/net") / iface, ec);
	c.detail = c.ok ? "present" : "no such kernel interface (ip link lists them)";
	return c;
}

} // namespace

std::vector<HostCheck> check_host(const HostNeeds &needs)
{
	std::vector<HostCheck> out;
	if (needs.hugepages) {
		out.push_back(check_hugepages());
		out.push_back(check_hugetlbfs());
	}
	for (const std::string &addr : needs.pci_devices)
		out.push_back(check_pci(addr));
	for (const std::string &iface : needs.interfaces)
		out.push_back(check_interface(iface));
	return out;
}

// Each primary DPDK process on Linux keeps its runtime files under its own
// --file-prefix (/var/run/dpdk/<prefix>); two with the same one collide.
const char *second_process_hint() { return "A second DPDK process needs its own --file-prefix."; }

} // namespace dualpilot::dataplane

#endif // RTE_EXEC_ENV_LINUX
