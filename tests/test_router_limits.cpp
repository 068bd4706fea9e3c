// Queues that stand at their limits: the router's pool never bounds them,
// limit = "auto" sizes them for the port's rate, and the shaper holds the
// port's rate though polls come late.
#include "names.hpp"
#include "ring_bed.hpp"

namespace dualpilot::dataplane::bed {
namespace {

// The router's own pool is never what bounds a queue: with mbufs = "auto"
// and limit = "auto", net_null's rx (which allocates from the router's pool)
// never goes without an mbuf while both ports' queues sit at their limits,
// 80x overloaded for 100 ms of virtual time; the limits refuse the excess
// (counted overflows), and every mbuf not back in the pool is one the router
// says it holds.
TEST_F(RouterRing, ThePoolIsNeverTheBoundWhenBothQueuesStandAtTheirLimits)
{
	static int n = 0;
	const std::string a = "net_null" + std::to_string(60 + 2 * n), b = "net_null" + std::to_string(61 + 2 * n);
	n++;
	ASSERT_EQ(start_toml("[router]\nmbufs = \"auto\"\n" + dualpi2_pair_toml(a, b, "100mbit"), {}, 0), "");
	uint64_t now = 1000;
	for (int i = 0; i < 50000; i++) { // 32 frames a port every 2 us: 16 Mpps against 195 kpps
		now += 2000;
		router.poll(now);
	}
	uint64_t rx = 0, tx = 0, dropped = 0, overflows = 0;
	for (size_t p = 0; p < 2; p++) {
		rte_eth_stats es{};
		ASSERT_EQ(rte_eth_stats_get(router.ports()[p].port_id, &es), 0);
		EXPECT_EQ(es.rx_nombuf, 0u) << "port " << p << ": rx went without an mbuf";
		EXPECT_GE(router.ports()[p].limit_pkts, 10000u);
		const PortStats s = router.port_stats(p);
		rx += s.rx_pkts;
		tx += s.tx_pkts;
		dropped += s.dropped();
		overflows += s.overflow_drops;
		EXPECT_GE(router.queued_pkts(p), router.ports()[p].limit_pkts / 2) << "port " << p;
	}
	EXPECT_GT(overflows, 0u);
	EXPECT_EQ(rx, tx + dropped + router.queued_pkts());
	EXPECT_EQ(rte_mempool_in_use_count(router.mempool()), router.queued_pkts());
	router.shutdown();
	close_ethdev(a);
	close_ethdev(b);
}

// The shaped rate through the whole router, on a virtual clock: net_null
// offers 32 frames a port every poll, 40 % more than the 200 Mbit/s shapers
// pass, and every 100th poll comes 0.9 ms late (a worker descheduled on a
// shared core). With the queues standing, each port sends its shaped rate
// within 0.5 %: the credit of a late poll is spent in the polls after it.
TEST_F(RouterRing, AStandingQueueLeavesAtTheShapedRateThoughPollsComeLate)
{
	static int n = 0;
	const std::string a = "net_null" + std::to_string(80 + 2 * n), b = "net_null" + std::to_string(81 + 2 * n);
	n++;
	// mbufs 0: the config's, "auto": the pool covers both queues' limit = "auto".
	ASSERT_EQ(start_toml(dualpi2_pair_toml(a, b, "200mbit"), {}, 0), "");
	uint64_t now = 1000;
	auto run = [&](uint64_t until_ns) {
		for (uint64_t poll = 0; now < until_ns; poll++) {
			now += poll % 100 == 99 ? 900000 : 50000;
			router.poll(now);
		}
	};
	run(1000000000); // a second for the queues to stand and PI2 to settle
	uint64_t bytes_before[2];
	for (size_t p = 0; p < 2; p++)
		bytes_before[p] = router.port_stats(p).tx_bytes;
	const uint64_t start = now;
	run(start + 2000000000);
	for (size_t p = 0; p < 2; p++) {
		const double bps = static_cast<double>(router.port_stats(p).tx_bytes - bytes_before[p]) * 8 /
				   (static_cast<double>(now - start) / 1e9);
		EXPECT_NEAR(bps, 2e8, 2e8 * 0.005) << "port " << p;
		EXPECT_GT(router.queued_pkts(p), 1000u) << "port " << p << ": the queue stands";
	}
	router.shutdown();
	close_ethdev(a);
	close_ethdev(b);
}

// limit = "auto" sizes the queue for 4 targets at the port's rate in 64-byte
// frames (the shaper's 0 bytes of overhead on a vdev), and the pool for the
// queue; an explicit limit under one target is a warning naming the port.
TEST_F(RouterRing, LimitAutoSizesTheQueueForItsRateAndAShortLimitWarns)
{
	const std::string ports = "[[ports]]\nname = \"west\"\ndevice = \"WEST\"\npeer = \"east\"\naqm = \"none\"\n"
				  "[[ports]]\nname = \"east\"\ndevice = \"EAST\"\npeer = \"west\"\nrate = \"500mbit\"\n"
				  "aqm = \"dualpi2\"\n";
	// mbufs 0: the config's own pool size each time.
	ASSERT_EQ(start_toml(ports + "[router]\nmbufs = \"auto\"\n", {}, 0), "");
	// 4 x 15 ms x 500 Mbit/s / (64 x 8 bits) = 58,594 packets.
	EXPECT_EQ(east_port().limit_pkts, 58594u);
	EXPECT_EQ(std::visit([](const auto &q) { return q.params().limit_pkts; }, *router.queue(1).aqm), 58594u);
	EXPECT_GE(rte_mempool_avail_count(router.mempool()), 58594u);
	EXPECT_TRUE(router.warnings().empty());
	router.shutdown();

	// limit 1000 is 1 ms at 500 Mbit/s of 64-byte frames: the router says so.
	ASSERT_EQ(start_toml(ports + "[ports.dualpi2]\nlimit = 1000\n", {}, 0), "");
	EXPECT_EQ(east_port().limit_pkts, 1000u);
	ASSERT_EQ(router.warnings().size(), 1u);
	EXPECT_TRUE(names(router.warnings()[0], {"port 'east'", "limit 1000"}));
	router.shutdown();

	// A queue_memory too small for auto: the limit fits it, and a warning says so.
	ASSERT_EQ(start_toml(ports + "[router]\nqueue_memory = \"16mb\"\n", {}, 0), "");
	EXPECT_LT(east_port().limit_pkts, 16u << 20 >> 11); // under 16 MB of 2 kB mbufs
	ASSERT_EQ(router.warnings().size(), 1u);
	EXPECT_TRUE(names(router.warnings()[0], {"port 'east'", "[router] queue_memory"}));
	router.shutdown();

	// A slow port never gets less than its AQM's own default limit, and no
	// more than 4 targets ask for: 4 x 15 ms x 8 Mbit/s / (64 x 8) = 938
	// packets, under fifo's 1,000 and DualPI2's 10,000.
	std::string slow = ports;
	slow.replace(slow.find("500mbit"), 7, "8mbit");
	ASSERT_EQ(start_toml(slow, {}, 0), "");
	EXPECT_EQ(east_port().limit_pkts, 10000u);
	router.shutdown();
	slow.replace(slow.rfind("dualpi2"), 7, "fifo");
	ASSERT_EQ(start_toml(slow, {}, 0), "");
	EXPECT_EQ(east_port().limit_pkts, 1000u);
	EXPECT_EQ(std::visit([](const auto &q) { return q.params().limit_pkts; }, *router.queue(1).aqm), 1000u);
}

} // namespace
} // namespace dualpilot::dataplane::bed

int main(int argc, char **argv) { return dualpilot::dataplane::bed::run_with_eal(argc, argv, false); }
