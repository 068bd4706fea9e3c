// Worker placement: cores chosen on the ports' NUMA node, SMT siblings last,
// and core lists that cross nodes refused with the cores and nodes named.
#include <gtest/gtest.h>

#include "dataplane/placement.hpp"

namespace dualpilot::dataplane {
namespace {

// Two nodes of two cores with two hardware threads each: CPUs 0-3 on node 0
// (0,1 one core; 2,3 the other), 4-7 on node 1.
std::vector<Cpu> two_nodes()
{
	std::vector<Cpu> cpus;
	EXPECT_EQ(load_cpus(cpus, "node:2 core:2 pu:2"), "");
	return cpus;
}

TEST(Placement, HwlocReadsTheSyntheticTopology)
{
	const auto cpus = two_nodes();
	ASSERT_EQ(cpus.size(), 8u);
	EXPECT_EQ(cpus[5].numa_node, 1);
	EXPECT_EQ(cpus[1].smt_rank, 1u);
	EXPECT_EQ(cpus[1].core, cpus[0].core);
	std::vector<Cpu> here;
	EXPECT_EQ(load_cpus(here), "");
	EXPECT_FALSE(here.empty());
}

TEST(Placement, PicksCoresOnThePortsNodeOneThreadPerCoreFirst)
{
	PlacementRequest req;
	req.workers = 2;
	req.ports = {{"west", 1}, {"east", 1}};
	const Placement pl = plan_placement(two_nodes(), req);
	ASSERT_EQ(pl.error, "");
	// Main on the first core of node 1, workers on the other core, then the sibling.
	EXPECT_EQ(pl.cores, (std::vector<unsigned>{4, 6, 5}));
}

TEST(Placement, VdevsWithNoNodeGoWhereTheFirstCpuIs)
{
	PlacementRequest req;
	req.workers = 1;
	req.ports = {{"a", -1}, {"b", -1}};
	const Placement pl = plan_placement(two_nodes(), req);
	ASSERT_EQ(pl.error, "");
	EXPECT_EQ(pl.cores, (std::vector<unsigned>{0, 2}));
}

TEST(Placement, RefusesEalCoresOnAnotherNode)
{
	PlacementRequest req;
	req.ports = {{"west", 0}};
	req.eal_cores = {0, 5};
	const Placement pl = plan_placement(two_nodes(), req);
	EXPECT_EQ(pl.error, "core 5 is on NUMA node 1 but port 'west' is on node 0: every worker would reach across "
			    "nodes for its packets; name cores of node 0 in the EAL args, or set [router] "
			    "allow_cross_numa = true");
	req.allow_cross_numa = true;
	EXPECT_EQ(plan_placement(two_nodes(), req).error, "");
}

TEST(Placement, RefusesPortsOnTwoNodesUnlessAllowed)
{
	PlacementRequest req;
	req.ports = {{"west", 0}, {"east", 1}};
	const Placement pl = plan_placement(two_nodes(), req);
	EXPECT_EQ(pl.error, "the ports are on NUMA nodes 0 and 1: one set of workers cannot be local to all of them; "
			    "run a router per node, or set [router] allow_cross_numa = true");
	req.allow_cross_numa = true;
	EXPECT_EQ(plan_placement(two_nodes(), req).error, "");
}

TEST(Placement, SaysWhenTheNodeHasTooFewCpus)
{
	PlacementRequest req;
	req.workers = 4;
	req.ports = {{"west", 0}};
	EXPECT_EQ(plan_placement(two_nodes(), req).error,
		  "NUMA node 0 has 4 CPU(s) for this process, 5 needed (1 main + 4 workers); set [router] "
		  "allow_cross_numa = true to use other nodes' CPUs");
	// One CPU in all: the worker shares the main lcore.
	const Placement one = plan_placement({Cpu{0, 0, 0, 0}}, PlacementRequest{});
	EXPECT_EQ(one.error, "");
	EXPECT_EQ(one.cores, (std::vector<unsigned>{0}));
}

TEST(Placement, ReadsTheEalCoreList)
{
	std::vector<unsigned> cores;
	bool unchecked = false;
	EXPECT_EQ(eal_cores({"--no-huge", "-l", "0-2,7"}, cores, unchecked), "");
	EXPECT_EQ(cores, (std::vector<unsigned>{0, 1, 2, 7}));
	EXPECT_EQ(eal_cores({"-l3,5"}, cores, unchecked), "");
	EXPECT_EQ(cores, (std::vector<unsigned>{3, 5}));
	EXPECT_EQ(eal_cores({"-c", "0x6"}, cores, unchecked), "");
	EXPECT_EQ(cores, (std::vector<unsigned>{1, 2}));
	EXPECT_EQ(eal_cores({"--no-pci"}, cores, unchecked), "");
	EXPECT_TRUE(cores.empty());
	EXPECT_EQ(eal_cores({"--lcores", "1@(0-3)"}, cores, unchecked), "");
	EXPECT_TRUE(unchecked);
	EXPECT_EQ(eal_cores({"-l", "3-1"}, cores, unchecked), "bad core range '3-1' in '3-1'");
	EXPECT_EQ(eal_cores({"-l", "x"}, cores, unchecked), "not a core list: 'x' (expected e.g. 0-3,8)");
}

TEST(Placement, UnknownDevicesHaveNoNode)
{
	EXPECT_EQ(device_numa_node("net_ring0"), -1);
	EXPECT_EQ(device_numa_node("net_pcap0,iface=nosuch0"), -1);
	EXPECT_EQ(device_numa_node("net_pcap0,iface=../../etc"), -1);
}

} // namespace
} // namespace dualpilot::dataplane
