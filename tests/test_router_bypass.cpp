// The empty-queue bypass (Router::pass_through) changes nothing a user
// reads: one trace through two routers, one with the bypass and one with
// empty_queue_bypass = false, gives the same frames out in the same order,
// the same port counters, the same AQM counters and state, and the same
// sojourn histograms; and the bypass did take part.
#include "ring_bed.hpp"

#include <cstring>

namespace dualpilot::dataplane::bed {
namespace {

struct Replay {
	std::vector<uint32_t> out_ids; // the frames east sent, by the id each carries, in order
	PortStats east;
	std::array<aqm::QueueCounters, aqm::kQueueCount> counters;
	std::string aqm_state;
	std::array<aqm::DelayHistogram, aqm::kQueueCount> sojourn;
};

// A frame of the trace: its ECN codepoint, size, and its id in the last
// four payload bytes (which the router never reads).
std::vector<uint8_t> frame(aqm::Ecn ecn, size_t payload, uint32_t id)
{
	std::vector<uint8_t> f = ipv4_frame(ecn, 0, 0x0a, payload);
	std::memcpy(f.data() + f.size() - sizeof(id), &id, sizeof(id));
	return f;
}

// Alternating phases: light (a few small frames a millisecond: east's queue
// empties between polls) and heavy (32 frames of 1 kB every 100 us into
// 100 Mbit/s: a queue stands, p' climbs, then decays in the next light
// phase). All four codepoints.
void replay(bool bypass, int id, Replay &r)
{
	const RingPort west = make_ring_port("bpw" + std::to_string(id)), east = make_ring_port("bpe" + std::to_string(id));
	const std::string toml = l2_pair_toml("100mbit", "aqm = \"dualpi2\"\n[ports.dualpi2]\ntarget = \"1ms\"\n"
							  "tupdate = \"1ms\"\n") +
				 "[router]\nempty_queue_bypass = " + (bypass ? "true" : "false") + "\n";
	RouterConfig cfg;
	ASSERT_EQ(parse_router_config(with_devices(toml, west, east), "bypass.toml", cfg), "");
	cfg.mbufs = 16384;
	Router router;
	ASSERT_EQ(router.init(cfg), "");
	const aqm::Ecn ecns[] = {aqm::Ecn::not_ect, aqm::Ecn::ect0, aqm::Ecn::ect1, aqm::Ecn::ce};
	aqm::Rng rng(5);
	uint64_t now = 1000000;
	uint32_t next_id = 0;
	auto take_out = [&] {
		for (const auto &f : collect(east)) {
			uint32_t fid = 0;
			std::memcpy(&fid, f.data() + f.size() - sizeof(fid), sizeof(fid));
			r.out_ids.push_back(fid);
		}
	};
	for (int round = 0; round < 8000; round++) {
		const bool heavy = (round / 1000) % 2 == 1;
		const uint32_t n = heavy ? 32 : 1 + rng.next_u32() % 8;
		std::vector<std::vector<uint8_t>> burst;
		for (uint32_t i = 0; i < n; i++)
			burst.push_back(frame(ecns[rng.next_u32() % 4], heavy ? 1000 : 60 + rng.next_u32() % 200, next_id++));
		ASSERT_NO_FATAL_FAILURE(inject(west, burst));
		now += heavy ? 100000 : 1000000;
		router.poll(now);
		take_out();
	}
	for (int i = 0; i < 200; i++) { // the rest drains
		now += 1000000;
		router.poll(now);
		take_out();
	}
	r.east = router.port_stats(1);
	const EgressQueue &e = router.queue(1);
	r.counters = aqm::counters(*e.aqm);
	r.aqm_state = aqm::stats_text(*e.aqm, now);
	r.sojourn = e.sojourn;
	router.shutdown();
	free_ring_port(west);
	free_ring_port(east);
}

TEST(RouterBypass, TheBypassChangesNothingAUserReads)
{
	Replay with, without;
	ASSERT_NO_FATAL_FAILURE(replay(true, 0, with));
	ASSERT_NO_FATAL_FAILURE(replay(false, 1, without));

	EXPECT_GT(with.east.bypassed_pkts, 1000u); // the light phases, once p' is back at 0
	EXPECT_EQ(without.east.bypassed_pkts, 0u);
	EXPECT_GT(without.east.aqm_drops + without.east.marked, 100u); // the heavy phases made DualPI2 act

	ASSERT_EQ(with.out_ids.size(), without.out_ids.size());
	EXPECT_TRUE(with.out_ids == without.out_ids) << "the frames left in another order";
	EXPECT_EQ(with.east.tx_pkts, without.east.tx_pkts);
	EXPECT_EQ(with.east.tx_bytes, without.east.tx_bytes);
	EXPECT_EQ(with.east.marked, without.east.marked);
	EXPECT_EQ(with.east.aqm_drops, without.east.aqm_drops);
	EXPECT_EQ(with.east.overflow_drops, without.east.overflow_drops);
	EXPECT_EQ(with.east.mark_failed, without.east.mark_failed);
	EXPECT_EQ(with.aqm_state, without.aqm_state); // p', maxq, peaks, credit, backlog
	for (int q = 0; q < aqm::kQueueCount; q++) {
		const aqm::QueueCounters &a = with.counters[q], &b = without.counters[q];
		EXPECT_EQ(a.arrived_pkts, b.arrived_pkts) << q;
		EXPECT_EQ(a.arrived_bytes, b.arrived_bytes) << q;
		EXPECT_EQ(a.enqueued_pkts, b.enqueued_pkts) << q;
		EXPECT_EQ(a.forwarded_pkts, b.forwarded_pkts) << q;
		EXPECT_EQ(a.forwarded_bytes, b.forwarded_bytes) << q;
		EXPECT_EQ(a.ce_marks, b.ce_marks) << q;
		EXPECT_EQ(a.aqm_drops, b.aqm_drops) << q;
		EXPECT_EQ(a.overflow_drops, b.overflow_drops) << q;
		EXPECT_EQ(with.sojourn[q].count(), without.sojourn[q].count()) << q;
		EXPECT_EQ(with.sojourn[q].max_ns(), without.sojourn[q].max_ns()) << q;
		for (double p : {0.1, 0.5, 0.9, 0.99})
			EXPECT_EQ(with.sojourn[q].percentile_ns(p), without.sojourn[q].percentile_ns(p)) << q << " " << p;
	}
}

} // namespace
} // namespace dualpilot::dataplane::bed

int main(int argc, char **argv) { return dualpilot::dataplane::bed::run_with_eal(argc, argv, false); }
