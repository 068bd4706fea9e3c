// Every packet accounted for: rx = tx + every counted drop + still queued,
// over 10^7 packets of a random mix, across two workers that hand frames
// over, and over 10^8 packets through a standing queue; no mbuf leaks.
#include "ring_bed.hpp"

namespace dualpilot::dataplane::bed {
namespace {

// Every mbuf is accounted for over 10^7 packets of a random mix, malformed
// frames and AQM drops included:
//   rx = tx + AQM drops + overflow drops + malformed + failed + still queued
TEST_F(RouterRing, TenMillionPacketsAreAllAccountedFor)
{
	// A shaper at 2 Gbit/s of virtual time and a small buffer, so that the
	// AQM drops, marks and overflows all happen.
	ASSERT_EQ(start("aqm = \"dualpi2\"\n[ports.dualpi2]\nlimit = 500\ntarget = \"50us\"\ntupdate = \"100us\"\n",
			"2gbit"), "");
	const std::vector<std::vector<uint8_t>> templates = {
		ipv4_frame(Ecn::not_ect, 0, 0x2e, 1000), ipv4_frame(Ecn::ect1, 0, 0x2e, 200), ipv6_frame(Ecn::ect1, 0, 64), ipv4_frame(Ecn::ect0, 0, 0x2e, 1400),
		ipv6_frame(Ecn::not_ect, 0, 500),  ipv4_frame(Ecn::ce, 0, 0x2e, 100),   arp_frame(),           std::vector<uint8_t>(12, 9)};
	aqm::Rng rng(11);
	constexpr uint64_t kTotal = 10000000;
	uint64_t injected = 0, received = 0, now = 1000;
	while (injected < kTotal) {
		// One rx burst's worth per poll: the router reads 32 a poll.
		ASSERT_NO_FATAL_FAILURE(inject_random(west.rx[0], templates, rng,
						      static_cast<unsigned>(std::min<uint64_t>(32, kTotal - injected)), injected));
		now += 1000; // 32 packets per us: offered well above the shaped rate
		router.poll(now);
		received += drain_count(east);
	}
	received += settle(router, east, now, 1000);
	const PortStats in = router.port_stats(0);
	const PortStats out = router.port_stats(1);
	EXPECT_EQ(in.rx_pkts, kTotal);
	EXPECT_EQ(out.tx_pkts, received);
	EXPECT_GT(out.aqm_drops, 0u);
	EXPECT_GT(out.overflow_drops, 0u);
	EXPECT_GT(out.marked, 0u);
	EXPECT_GT(in.malformed(), 0u);
	EXPECT_EQ(in.rx_pkts, out.tx_pkts + out.aqm_drops + out.overflow_drops + in.malformed() + out.tx_failed +
				      out.mark_failed + router.queued_pkts());
	// And no mbuf leaked: the test's pool is whole again once all is freed.
	router.shutdown();
	EXPECT_EQ(rte_mempool_in_use_count(test_pool), 0u);
}

// Two workers, the west port's two rx queues split between them: the one
// that does not own the east egress hands its frames over through the ring.
// Every packet is accounted for, and both workers did their share.
TEST_F(RouterRing, TwoWorkersHandFramesOverAndLoseNone)
{
	ASSERT_EQ(start_toml(R"(
[router]
workers = 2
[[ports]]
name = "west"
device = "WEST"
peer = "east"
rx_queues = 2
aqm = "fifo"
[[ports]]
name = "east"
device = "EAST"
peer = "west"
rate = "2gbit"
aqm = "dualpi2"
[ports.dualpi2]
limit = 500
)",
			     {100, 101}),
		  "");
	ASSERT_EQ(router.workers().size(), 2u);
	ASSERT_NE(router.queue(1).handoff, nullptr);
	const std::vector<std::vector<uint8_t>> templates = {ipv4_frame(Ecn::not_ect, 0, 0x2e, 1000),
							     ipv4_frame(Ecn::ect1, 0, 0x2e, 200), ipv6_frame(Ecn::ect1, 0, 64),
							     std::vector<uint8_t>(12, 9)};
	aqm::Rng rng(5);
	constexpr uint64_t kTotal = 2000000;
	uint64_t injected = 0, received = 0, now = 1000;
	while (injected < kTotal) {
		for (unsigned q = 0; q < 2; q++)
			ASSERT_NO_FATAL_FAILURE(inject_random(west.rx[q], templates, rng, 32, injected));
		now += 1000;
		router.poll(now);
		received += drain_count(east);
	}
	received += settle(router, east, now, 100);
	expect_conservation(router, injected, received);
	const PortStats out = router.port_stats(1);
	EXPECT_GT(router.workers()[0].stats[0].rx_pkts, injected / 3);
	EXPECT_GT(router.workers()[1].stats[0].rx_pkts, injected / 3);
	EXPECT_GT(out.overflow_drops + out.aqm_drops, 0u);
	router.shutdown();
	EXPECT_EQ(rte_mempool_in_use_count(test_pool), 0u);
}

#if defined(__SANITIZE_ADDRESS__)
constexpr uint64_t kStandingQueuePackets = 1000000; // ASan: the same test, smaller
#else
constexpr uint64_t kStandingQueuePackets = 100000000;
#endif

// Conservation with a standing queue at DualPI2's target, the queue sized by
// limit = "auto" and the pool by mbufs = "auto": 10^8 packets of a random mix
// (malformed frames included) offered at 1.5x the shaped rate. Every packet is
// forwarded or a counted drop or still queued; no queue overflows (the AQM,
// not the limit nor the pool, bounds the queue); the Classic queue stands
// near its 15 ms target; no mbuf leaks.
TEST_F(RouterRing, AHundredMillionPacketsThroughAStandingQueueAreAllAccountedFor)
{
	// mbufs 0: the config's, "auto".
	ASSERT_EQ(start_toml("[[ports]]\nname = \"west\"\ndevice = \"WEST\"\npeer = \"east\"\naqm = \"none\"\n"
			     "[[ports]]\nname = \"east\"\ndevice = \"EAST\"\npeer = \"west\"\nrate = \"200mbit\"\n"
			     "aqm = \"dualpi2\"\n",
			     {}, 0),
		  "");
	const std::vector<std::vector<uint8_t>> templates = {
		ipv4_frame(Ecn::not_ect, 0, 0x2e, 1000), ipv4_frame(Ecn::ect1, 0, 0x2e, 200), ipv6_frame(Ecn::ect1, 0, 64), ipv4_frame(Ecn::ect0, 0, 0x2e, 1400),
		ipv6_frame(Ecn::not_ect, 0, 500),  ipv4_frame(Ecn::ce, 0, 0x2e, 100),   arp_frame(),           std::vector<uint8_t>(12, 9)};
	aqm::Rng rng(17);
	uint64_t injected = 0, received = 0, now = 1000;
	// The valid frames average ~480 bytes: 200 Mbit/s is ~52 kpps, 1.5x that
	// is 32 frames every 400 us.
	while (injected < kStandingQueuePackets) {
		ASSERT_NO_FATAL_FAILURE(inject_random(west.rx[0], templates, rng,
						      static_cast<unsigned>(std::min<uint64_t>(32, kStandingQueuePackets - injected)),
						      injected));
		now += 400000;
		router.poll(now);
		received += drain_count(east);
	}
	const aqm::DelayHistogram &classic = router.queue(1).sojourn[0];
	const uint64_t p50 = classic.percentile_ns(0.5);
	received += settle(router, east, now, 2000);
	EXPECT_EQ(injected, kStandingQueuePackets);
	expect_conservation(router, injected, received);
	const PortStats out = router.port_stats(1);
	EXPECT_GT(out.aqm_drops, 0u);
	EXPECT_GT(out.marked, 0u);
	EXPECT_EQ(out.overflow_drops, 0u);
	// Near the target: PI2 holds the Classic queue's delay around 15 ms.
	EXPECT_GT(p50, 7500000u);
	EXPECT_LT(p50, 30000000u);
	router.shutdown();
	EXPECT_EQ(rte_mempool_in_use_count(test_pool), 0u);
}

// The objective's delay figure counts every packet the port took in: the
// forwarded at their sojourn, every drop (the AQM's at dequeue, its
// overflows at enqueue) at its wait plus the penalty, so that no drop can
// lower a class's figure below what forwarding would have shown.
TEST_F(RouterRing, EveryDropCountsInTheScoredDelayAtItsWaitPlusThePenalty)
{
	ASSERT_EQ(start("aqm = \"dualpi2\"\n[ports.dualpi2]\nlimit = 300\ntarget = \"50us\"\ntupdate = \"100us\"\n",
			"200mbit"),
		  "");
	const std::vector<std::vector<uint8_t>> templates = {ipv4_frame(Ecn::not_ect, 0, 0x2e, 1000),
							     ipv4_frame(Ecn::ect1, 0, 0x2e, 1000)};
	aqm::Rng rng(3);
	uint64_t injected = 0, now = 1000;
	for (int round = 0; round < 20000; round++) {
		ASSERT_NO_FATAL_FAILURE(inject_random(west.rx[0], templates, rng, 32, injected));
		now += 1000; // 32 kB a microsecond into 200 Mbit/s: far over
		router.poll(now);
		drain_count(east);
	}
	settle(router, east, now, 200);
	const PortStats out = router.port_stats(1);
	ASSERT_GT(out.aqm_drops, 0u);
	ASSERT_GT(out.overflow_drops, 0u);
	constexpr uint64_t kPenaltyNs = 50000000;
	uint64_t scored_total = 0;
	for (int q = 0; q < aqm::kQueueCount; q++) {
		const aqm::DelayHistogram scored = router.scored_delay(1, q, kPenaltyNs);
		const aqm::DelayHistogram &forwarded = router.queue(1).sojourn[q];
		scored_total += scored.count();
		for (double p : {0.5, 0.9, 0.99})
			EXPECT_GE(scored.percentile_ns(p), forwarded.percentile_ns(p)) << "queue " << q << " p" << p;
		if (scored.count() > forwarded.count()) {
			EXPECT_GE(scored.max_ns(), kPenaltyNs) << "queue " << q;
		}
	}
	EXPECT_EQ(scored_total, out.tx_pkts + out.aqm_drops + out.overflow_drops);
}

} // namespace
} // namespace dualpilot::dataplane::bed

int main(int argc, char **argv) { return dualpilot::dataplane::bed::run_with_eal(argc, argv, false); }
