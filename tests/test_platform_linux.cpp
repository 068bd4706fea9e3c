// The Linux half of the platform boundary (dataplane/platform_linux.cpp): a
// device's NUMA node agrees with sysfs, whether hwloc or the sysfs fallback
// found it, and --check-host's checks name what they read.
#include <gtest/gtest.h>

#include "dataplane/platform.hpp"

#include <filesystem>
#include <fstream>

namespace dualpilot::dataplane {
namespace {

// A PCI device's node is what sysfs says, whether named by its address or by
// the kernel interface on it.
TEST(PlatformLinux, PciDevicesHaveTheirSysfsNode)
{
	namespace fs = std::filesystem;
	std::error_code ec;
	for (const auto &e : fs::directory_iterator("/sys/class/net", ec)) {
		const fs::path dev = fs::canonical(e.path() / "device", ec);
		if (ec)
			continue;
		fs::path pci = dev;
		while (pci.has_parent_path() && pci != pci.root_path() && !fs::exists(pci / "numa_node"))
			pci = pci.parent_path();
		std::ifstream in(pci / "numa_node");
		int want = -2;
		in >> want;
		EXPECT_EQ(device_numa_node("net_af_packet0,iface=" + e.path().filename().string()), want);
		EXPECT_EQ(device_numa_node(pci.filename().string()), want);
		EXPECT_EQ(platform_device_numa_node(pci.filename().string()), want);
		return;
	}
	GTEST_SKIP() << "no network interface with a PCI device here";
}

// --check-host names each thing it looked at; a device that is not there is
// missing with the way to find the right one.
TEST(PlatformLinux, CheckHostNamesWhatIsMissing)
{
	HostNeeds needs;
	needs.pci_devices = {"0000:ff:1f.7"};
	needs.interfaces = {"nosuch0", "lo"};
	const std::vector<HostCheck> checks = check_host(needs);
	ASSERT_EQ(checks.size(), 5u);
	EXPECT_EQ(checks[0].what, "hugepages");
	EXPECT_EQ(checks[1].what, "hugetlbfs");
	EXPECT_FALSE(checks[0].detail.empty());
	EXPECT_EQ(checks[2].what, "port 0000:ff:1f.7");
	EXPECT_FALSE(checks[2].ok);
	EXPECT_EQ(checks[2].detail, "no such PCI device (lspci -D lists them)");
	EXPECT_EQ(checks[3].what, "interface nosuch0");
	EXPECT_FALSE(checks[3].ok);
	EXPECT_EQ(checks[4].what, "interface lo");
	EXPECT_TRUE(checks[4].ok);
	needs.hugepages = false;
	EXPECT_EQ(check_host(needs).size(), 3u);
}

} // namespace
} // namespace dualpilot::dataplane
