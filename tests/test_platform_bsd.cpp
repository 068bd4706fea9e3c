// FreeBSD's --check-host and device locality (dataplane/platform_bsd.cpp)
// on canned host answers: what an operator on FreeBSD is told for each way
// contigmem and nic_uio can be set up wrong, and which NUMA domain a port
// gets. The answers are shaped as the FreeBSD kernel gives them (the
// sources are named in platform_bsd.hpp). Also: hwloc's answer for a device
// below several nodes (its FreeBSD backend's case) is not taken as node 0.
#include <gtest/gtest.h>

#include "dataplane/platform_bsd.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <unistd.h>

namespace dualpilot::dataplane {
namespace {

// A FreeBSD host as a few tables, filled by each test.
struct FakeHost {
	std::map<std::string, int64_t> ints;
	std::map<std::string, std::string> texts;
	std::map<std::string, std::string> kenv;
	std::map<std::string, int> devices; // path -> access(2) result (0 or errno)
	ContigmemProbe lock;
	std::set<std::string> interfaces;

	FreebsdHost readers() const
	{
		return {
			[this](const std::string &n, int64_t &v) {
				auto it = ints.find(n);
				return it != ints.end() && (v = it->second, true);
			},
			[this](const std::string &n, std::string &v) {
				auto it = texts.find(n);
				return it != texts.end() && (v = it->second, true);
			},
			[this](const std::string &n, std::string &v) {
				auto it = kenv.find(n);
				return it != kenv.end() && (v = it->second, true);
			},
			[this](const std::string &p) {
				auto it = devices.find(p);
				return it == devices.end() ? ENOENT : it->second;
			},
			[this] { return lock; },
			[this](const std::string &i) { return interfaces.count(i) > 0; },
		};
	}
};

// contigmem loaded with two 1 GB buffers, as the guide's loader.conf sets it.
FakeHost with_contigmem()
{
	FakeHost h;
	h.ints["hw.contigmem.num_buffers"] = 2;
	h.ints["hw.contigmem.buffer_size"] = int64_t{1} << 30;
	return h;
}

HostCheck only(const std::vector<HostCheck> &checks)
{
	EXPECT_EQ(checks.size(), 1u);
	return checks.empty() ? HostCheck{} : checks.front();
}

HostCheck port_check(const FakeHost &h, const std::string &addr)
{
	HostNeeds needs;
	needs.hugepages = false;
	needs.pci_devices = {addr};
	return only(freebsd_check_host(needs, h.readers()));
}

bool says(const HostCheck &c, const std::string &text) { return c.detail.find(text) != std::string::npos; }

TEST(PlatformBsd, APortIsReadyWhenNicUioMadeItsDeviceNode)
{
	// nic_uio defines no sysctl: the tunable lives in the kernel environment
	// and the proof of attachment is /dev/uio@pci:B:S:F (bus 0x3b = 59).
	FakeHost h;
	h.devices["/dev/uio@pci:59:0:0"] = 0;
	const HostCheck c = port_check(h, "0000:3b:00.0");
	EXPECT_TRUE(c.ok) << c.detail;
	EXPECT_TRUE(says(c, "/dev/uio@pci:59:0:0"));
}

TEST(PlatformBsd, ANicUioPortNeedsRootBecauseItsNodeIsMode0600)
{
	FakeHost h;
	h.devices["/dev/uio@pci:59:0:0"] = EACCES;
	const HostCheck c = port_check(h, "0000:3b:00.0");
	EXPECT_FALSE(c.ok);
	EXPECT_TRUE(says(c, "run the router as root")) << c.detail;
}

TEST(PlatformBsd, APortNotInTheKernelEnvironmentIsToldTheLoaderConfLines)
{
	FakeHost h;
	const HostCheck c = port_check(h, "0000:3b:00.1");
	EXPECT_FALSE(c.ok);
	EXPECT_TRUE(says(c, "hw.nic_uio.bdfs=\"59:0:1\"")) << c.detail;
	EXPECT_TRUE(says(c, "nic_uio_load=\"YES\"")) << c.detail;
}

TEST(PlatformBsd, APortMissingFromTheBdfListIsToldTheListWithIt)
{
	FakeHost h;
	h.kenv["hw.nic_uio.bdfs"] = "59:0:0";
	const HostCheck c = port_check(h, "0000:3b:00.1");
	EXPECT_FALSE(c.ok);
	EXPECT_TRUE(says(c, "set it to \"59:0:0,59:0:1\"")) << c.detail;
}

// Two ports missing: each is told the one list that gives nic_uio both,
// so following the advice for one does not undo the other.
TEST(PlatformBsd, EveryMissingPortIsToldOneListWithThemAll)
{
	FakeHost h;
	HostNeeds needs;
	needs.hugepages = false;
	needs.pci_devices = {"0000:3b:00.0", "0000:af:00.1"};
	const auto none = freebsd_check_host(needs, h.readers());
	ASSERT_EQ(none.size(), 2u);
	for (const HostCheck &c : none)
		EXPECT_TRUE(says(c, "hw.nic_uio.bdfs=\"59:0:0,175:0:1\"")) << c.detail;
	h.kenv["hw.nic_uio.bdfs"] = "10:0:0";
	for (const HostCheck &c : freebsd_check_host(needs, h.readers()))
		EXPECT_TRUE(says(c, "set it to \"10:0:0,59:0:0,175:0:1\"")) << c.detail;
}

TEST(PlatformBsd, AListedPortWithoutItsNodeMeansNicUioIsNotLoadedOrLostTheRace)
{
	// nic_uio reads the list three numbers at a time, splitting on ',' and
	// ':' alike: "59:0:0,59:0:1" and "59,0,1" both name 59:0:1.
	for (const char *list : {"59:0:0,59:0:1", "59,0,1"}) {
		FakeHost h;
		h.kenv["hw.nic_uio.bdfs"] = list;
		const HostCheck c = port_check(h, "0000:3b:00.1");
		EXPECT_FALSE(c.ok);
		EXPECT_TRUE(says(c, "kldload nic_uio")) << list << ": " << c.detail;
	}
}

TEST(PlatformBsd, APortOutsidePciDomainZeroIsRefusedBecauseNicUioCannotFindIt)
{
	FakeHost h;
	h.devices["/dev/uio@pci:59:0:0"] = 0; // even a node of the same B:S:F in domain 0
	const HostCheck c = port_check(h, "0001:3b:00.0");
	EXPECT_FALSE(c.ok);
	EXPECT_TRUE(says(c, "domain 0 only")) << c.detail;
}

TEST(PlatformBsd, AMalformedPciAddressIsNamed)
{
	FakeHost h;
	EXPECT_TRUE(says(port_check(h, "3b:00.0.x"), "not a PCI address"));
	PciAddress a;
	EXPECT_FALSE(parse_pci_address("0000:3b:00.0junk", a));
	ASSERT_TRUE(parse_pci_address("0000:af:1f.7", a));
	EXPECT_EQ(nic_uio_device_path(a), "/dev/uio@pci:175:31:7");
}

HostCheck contigmem_check(const FakeHost &h)
{
	HostNeeds needs; // hugepages: true, as without --no-huge
	return only(freebsd_check_host(needs, h.readers()));
}

TEST(PlatformBsd, ContigmemReadyReportsItsBuffers)
{
	const HostCheck c = contigmem_check(with_contigmem());
	EXPECT_TRUE(c.ok) << c.detail;
	EXPECT_TRUE(says(c, "2 buffers of 1024 MB")) << c.detail;
}

TEST(PlatformBsd, ContigmemNotLoadedIsToldHowToLoadIt)
{
	const HostCheck c = contigmem_check(FakeHost{});
	EXPECT_FALSE(c.ok);
	EXPECT_TRUE(says(c, "contigmem_load=\"YES\"")) << c.detail;
}

TEST(PlatformBsd, ContigmemLockedByAnotherProcessMeansOnePrimaryPerHost)
{
	FakeHost h = with_contigmem();
	h.lock = {ContigmemLock::held, 0};
	const HostCheck c = contigmem_check(h);
	EXPECT_FALSE(c.ok);
	EXPECT_TRUE(says(c, "one primary DPDK process per host")) << c.detail;
}

TEST(PlatformBsd, ContigmemWithoutAccessOrBuffersIsMissing)
{
	FakeHost h = with_contigmem();
	h.lock = {ContigmemLock::no_access, EACCES};
	EXPECT_TRUE(says(contigmem_check(h), "as root"));
	h.lock = {ContigmemLock::error, ENXIO}; // any other errno is named as it is
	EXPECT_TRUE(says(contigmem_check(h), std::strerror(ENXIO)));
	h.lock = {};
	h.ints["hw.contigmem.num_buffers"] = 0;
	EXPECT_FALSE(contigmem_check(h).ok);
}

TEST(PlatformBsd, InterfacesAreLookedUpByName)
{
	FakeHost h;
	h.interfaces = {"ix0"};
	HostNeeds needs;
	needs.hugepages = false;
	needs.interfaces = {"ix0", "ix9"};
	const auto checks = freebsd_check_host(needs, h.readers());
	ASSERT_EQ(checks.size(), 2u);
	EXPECT_TRUE(checks[0].ok);
	EXPECT_FALSE(checks[1].ok);
}

// Two domains; nic_uio units 0 and 2 (1 was detached), the port at 0xaf =
// 175 on unit 2, in domain 1.
FakeHost two_domains()
{
	FakeHost h;
	h.ints["vm.ndomains"] = 2;
	h.texts["dev.nic_uio.0.%location"] = "slot=0 function=0 dbsf=pci0:59:0:0";
	h.ints["dev.nic_uio.0.%domain"] = 0;
	h.texts["dev.nic_uio.2.%location"] = "slot=0 function=1 dbsf=pci0:175:0:1";
	h.ints["dev.nic_uio.2.%domain"] = 1;
	h.ints["dev.ix.1.%domain"] = 1;
	return h;
}

TEST(PlatformBsd, APciPortTakesTheDomainOfItsNicUioUnit)
{
	const FakeHost h = two_domains();
	EXPECT_EQ(freebsd_device_numa_node("0000:af:00.1", h.readers()), 1);
	EXPECT_EQ(freebsd_device_numa_node("0000:3b:00.0", h.readers()), 0);
	EXPECT_EQ(freebsd_device_numa_node("0000:af:00.0", h.readers()), -1); // on no nic_uio unit
}

TEST(PlatformBsd, AnInterfaceTakesItsDevicesDomain)
{
	const FakeHost h = two_domains();
	EXPECT_EQ(freebsd_device_numa_node("net_pcap0,iface=ix1", h.readers()), 1);
	EXPECT_EQ(freebsd_device_numa_node("net_pcap0,iface=ix0", h.readers()), -1); // no %domain: unknown
	EXPECT_EQ(freebsd_device_numa_node("net_pcap0,iface=lo", h.readers()), -1);
	EXPECT_EQ(freebsd_device_numa_node("net_pcap0,iface=a.b0", h.readers()), -1);
	EXPECT_EQ(freebsd_device_numa_node("net_ring0", h.readers()), -1);
}

TEST(PlatformBsd, OneDomainMeansNoLocality)
{
	FakeHost h = two_domains();
	h.ints["vm.ndomains"] = 1;
	EXPECT_EQ(freebsd_device_numa_node("0000:af:00.1", h.readers()), -1);
}

// hwloc, from an XML topology: two nodes, a NIC below node 1's package and
// one attached to the machine itself, as hwloc's FreeBSD backend attaches
// every PCI device. The second has no locality hwloc knows: it must not
// come back as node 0 (the platform's own source is asked; PCI domain 0x7777
// exists on no host, so sysfs has no such device: -1).
constexpr const char *kTwoNodeXml = R"(<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE topology SYSTEM "hwloc2.dtd">
<topology version="2.0">
 <object type="Machine" os_index="0" cpuset="0x0000000f" complete_cpuset="0x0000000f" allowed_cpuset="0x0000000f" nodeset="0x00000003" complete_nodeset="0x00000003" allowed_nodeset="0x00000003" gp_index="1">
  <object type="Package" os_index="0" cpuset="0x00000003" complete_cpuset="0x00000003" nodeset="0x00000001" complete_nodeset="0x00000001" gp_index="2">
   <object type="NUMANode" os_index="0" cpuset="0x00000003" complete_cpuset="0x00000003" nodeset="0x00000001" complete_nodeset="0x00000001" gp_index="3" local_memory="1073741824"/>
   <object type="PU" os_index="0" cpuset="0x00000001" complete_cpuset="0x00000001" nodeset="0x00000001" complete_nodeset="0x00000001" gp_index="4"/>
   <object type="PU" os_index="1" cpuset="0x00000002" complete_cpuset="0x00000002" nodeset="0x00000001" complete_nodeset="0x00000001" gp_index="5"/>
  </object>
  <object type="Package" os_index="1" cpuset="0x0000000c" complete_cpuset="0x0000000c" nodeset="0x00000002" complete_nodeset="0x00000002" gp_index="6">
   <object type="NUMANode" os_index="1" cpuset="0x0000000c" complete_cpuset="0x0000000c" nodeset="0x00000002" complete_nodeset="0x00000002" gp_index="7" local_memory="1073741824"/>
   <object type="PU" os_index="2" cpuset="0x00000004" complete_cpuset="0x00000004" nodeset="0x00000002" complete_nodeset="0x00000002" gp_index="8"/>
   <object type="PU" os_index="3" cpuset="0x00000008" complete_cpuset="0x00000008" nodeset="0x00000002" complete_nodeset="0x00000002" gp_index="9"/>
   <object type="Bridge" gp_index="10" bridge_type="0-1" depth="0" bridge_pci="7777:[af-af]">
    <object type="PCIDev" gp_index="11" pci_busid="7777:af:00.0" pci_type="0200 [8086:1572] [8086:0000] 01" pci_link_speed="0.000000"/>
   </object>
  </object>
  <object type="Bridge" gp_index="12" bridge_type="0-1" depth="0" bridge_pci="7777:[3b-3b]">
   <object type="PCIDev" gp_index="13" pci_busid="7777:3b:00.0" pci_type="0200 [8086:1572] [8086:0000] 01" pci_link_speed="0.000000"/>
  </object>
 </object>
</topology>
)";

TEST(PlatformBsd, HwlocsRootAttachedDeviceIsNotTakenAsNodeZero)
{
	const std::string path =
		(std::filesystem::temp_directory_path() / ("dualpilot_topo_" + std::to_string(getpid()) + ".xml")).string();
	std::ofstream(path) << kTwoNodeXml;
	ASSERT_EQ(setenv("HWLOC_XMLFILE", path.c_str(), 1), 0);
	const int local = device_numa_node("7777:af:00.0");
	const int root = device_numa_node("7777:3b:00.0");
	unsetenv("HWLOC_XMLFILE");
	std::filesystem::remove(path);
	EXPECT_EQ(local, 1) << "hwloc did not read the XML topology";
	EXPECT_EQ(root, -1);
}

} // namespace
} // namespace dualpilot::dataplane
