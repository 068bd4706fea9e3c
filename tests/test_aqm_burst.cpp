// The burst API of every AQM (one call per burst, the router's packet path)
// decides exactly as the per-packet calls do, and the empty-queue bypass
// (pass_through) leaves exactly what enqueue_burst + dequeue_burst leave:
// the same packets in the same order with the same verdicts and sojourns,
// the same counters, peaks and WRR credit.
#include <gtest/gtest.h>

#include <vector>

#include "aqm/histogram.hpp"
#include "aqm/random.hpp"
#include "aqm_test_util.hpp"

namespace dualpilot::aqm {
namespace {

using testing::kUs;
using testing::make;

constexpr Ecn kEcns[] = {Ecn::not_ect, Ecn::ect0, Ecn::ect1, Ecn::ce};

template <typename A>
void expect_same_counters(const A &a, const A &b, int round)
{
	for (int q = 0; q < kQueueCount; q++) {
		const QueueCounters x = a.counters()[q], y = b.counters()[q];
		EXPECT_EQ(x.arrived_pkts, y.arrived_pkts) << "round " << round;
		EXPECT_EQ(x.arrived_bytes, y.arrived_bytes) << "round " << round;
		EXPECT_EQ(x.enqueued_pkts, y.enqueued_pkts) << "round " << round;
		EXPECT_EQ(x.forwarded_pkts, y.forwarded_pkts) << "round " << round;
		EXPECT_EQ(x.forwarded_bytes, y.forwarded_bytes) << "round " << round;
		EXPECT_EQ(x.ce_marks, y.ce_marks) << "round " << round;
		EXPECT_EQ(x.aqm_drops, y.aqm_drops) << "round " << round;
		EXPECT_EQ(x.overflow_drops, y.overflow_drops) << "round " << round;
		EXPECT_EQ(x.backlog_pkts, y.backlog_pkts) << "round " << round;
		EXPECT_EQ(x.backlog_bytes, y.backlog_bytes) << "round " << round;
	}
}

// What a replay saw: the AQM's verdicts, counted.
struct Decided {
	uint64_t dropped = 0, marked = 0;
};

// Offered above what is dequeued, with short targets, so that the
// controllers act: bursts of 1 to 32 at one instant, up to 16 forwarded
// within 12,000 bytes a pass. The per-packet side stops where the burst
// side's rules stop (max_forward, budget): the same packets forwarded,
// marked and dropped, in the same order, with the same sojourns, and the
// same counters and state.
template <typename A>
void burst_decides_as_per_packet(A per_packet, A burst, Decided &seen)
{
	Rng rng(3);
	uint64_t now = 1000, handle = 1, forwarded = 0;
	uint64_t &dropped = seen.dropped, &marked = seen.marked;
	for (int round = 0; round < 20000; round++) {
		now += 20 * kUs;
		Packet pkts[32];
		const uint32_t n = 1 + rng.next_u32() % 32;
		for (uint32_t i = 0; i < n; i++)
			pkts[i] = Packet{now, handle++, 64 + rng.next_u32() % 1400, kEcns[rng.next_u32() % 4], 0, 0};
		EnqueueResult got[32];
		burst.enqueue_burst(now, pkts, n, got);
		for (uint32_t i = 0; i < n; i++)
			ASSERT_EQ(per_packet.enqueue(pkts[i]), got[i]) << "round " << round << " packet " << i;
		const int64_t budget = 12000;
		const uint32_t overhead = 24, max_forward = 16;
		Dequeued out[kMaxBurst];
		const uint32_t m = burst.dequeue_burst(now, budget, overhead, max_forward, out, kMaxBurst);
		int64_t left = budget;
		uint32_t fwd = 0, k = 0;
		Dequeued d;
		while (fwd < max_forward && left > 0 && per_packet.dequeue(now, d)) {
			ASSERT_LT(k, m) << "round " << round;
			EXPECT_EQ(d.pkt.handle, out[k].pkt.handle);
			EXPECT_EQ(d.verdict, out[k].verdict);
			EXPECT_EQ(d.queue, out[k].queue);
			EXPECT_EQ(d.sojourn_ns, out[k].sojourn_ns);
			if (d.verdict != Verdict::drop) {
				left -= d.pkt.len_bytes + overhead;
				fwd++;
			}
			dropped += d.verdict == Verdict::drop;
			marked += d.verdict == Verdict::forward_ce;
			k++;
		}
		ASSERT_EQ(k, m) << "round " << round;
		forwarded += fwd;
	}
	EXPECT_GT(forwarded, 100000u);
	expect_same_counters(per_packet, burst, -1);
	EXPECT_EQ(per_packet.stats_text(now), burst.stats_text(now)); // maxq, the controller's state
	if constexpr (requires { per_packet.prob_q32(); }) {
		EXPECT_EQ(per_packet.prob_q32(), burst.prob_q32()); // p' to the last bit, not as printed
	}
	// Each AQM here acts on this load: it drops or marks, or (fifo) overflows.
	EXPECT_GT(dropped + marked + per_packet.counters()[0].overflow_drops, 1000u);
}

template <typename A>
void burst_decides_as_per_packet(std::string_view name, std::string_view args)
{
	Decided seen;
	burst_decides_as_per_packet(make<A>(name, args), make<A>(name, args), seen);
}

TEST(AqmBurst, FifoBurstsDecideAsItsPerPacketCallsDo)
{
	burst_decides_as_per_packet<Fifo>("fifo", "limit 300 ce_threshold 1ms");
}

TEST(AqmBurst, PieBurstsDecideAsItsPerPacketCallsDo)
{
	burst_decides_as_per_packet<Pie>("pie", "limit 300 target 1ms tupdate 1ms ecn");
}

TEST(AqmBurst, CodelBurstsDecideAsItsPerPacketCallsDo)
{
	burst_decides_as_per_packet<Codel>("codel", "limit 300 target 1ms interval 10ms ecn");
}

// DualPI2 both drops and marks on this load, in both queues' turn.
TEST(AqmBurst, Dualpi2BurstsDecideAsItsPerPacketCallsDo)
{
	Decided seen;
	burst_decides_as_per_packet(make<DualPi2>("dualpi2", "target 1ms tupdate 1ms"),
				    make<DualPi2>("dualpi2", "target 1ms tupdate 1ms"), seen);
	EXPECT_GT(seen.dropped, 1000u);
	EXPECT_GT(seen.marked, 1000u);
}

// Replays one trace twice: through pass_through where it takes a burst (and
// enqueue_burst + dequeue_burst where it does not), and through
// enqueue_burst + dequeue_burst alone. Rounds alternate between light load
// (the queue empties every pass: the bypass's case) and overload (the queue
// stands, p' climbs, then decays), with budgets that sometimes cut a burst.
// taken: how many bursts the bypass took.
template <typename A>
void bypass_replays_the_full_path(A bypass, A full, uint64_t &taken)
{
	Rng rng(11);
	uint64_t now = 1000, handle = 1;
	DelayHistogram hist_bypass[kQueueCount], hist_full[kQueueCount];
	for (int round = 0; round < 40000; round++) {
		const bool overload = (round / 2000) % 2 == 1;
		now += overload ? 5 * kUs : 200 * kUs;
		Packet pkts[32];
		const uint32_t n = 1 + rng.next_u32() % 32;
		for (uint32_t i = 0; i < n; i++)
			pkts[i] = Packet{now, handle++, 64 + rng.next_u32() % 1400, kEcns[rng.next_u32() % 4], 0, 0};
		const int64_t budget = overload ? 6000 : (rng.next_u32() % 8 == 0 ? 20000 : 100000);
		const uint32_t overhead = 24, max_forward = rng.next_u32() % 8 == 0 ? 16 : 32;
		Dequeued a[kMaxBurst], b[kMaxBurst];
		uint32_t na = 0;
		if (bypass.pass_through(now, pkts, n, budget, overhead, max_forward, a)) {
			na = n;
			taken++;
		} else {
			EnqueueResult res[32];
			bypass.enqueue_burst(now, pkts, n, res);
			na = bypass.dequeue_burst(now, budget, overhead, max_forward, a, kMaxBurst);
		}
		EnqueueResult res[32];
		full.enqueue_burst(now, pkts, n, res);
		const uint32_t nb = full.dequeue_burst(now, budget, overhead, max_forward, b, kMaxBurst);
		ASSERT_EQ(na, nb) << "round " << round;
		for (uint32_t i = 0; i < na; i++) {
			ASSERT_EQ(a[i].pkt.handle, b[i].pkt.handle) << "round " << round << " packet " << i;
			ASSERT_EQ(a[i].verdict, b[i].verdict) << "round " << round;
			ASSERT_EQ(a[i].queue, b[i].queue) << "round " << round;
			ASSERT_EQ(a[i].sojourn_ns, b[i].sojourn_ns) << "round " << round;
			hist_bypass[static_cast<int>(a[i].queue)].add(a[i].sojourn_ns);
			hist_full[static_cast<int>(b[i].queue)].add(b[i].sojourn_ns);
		}
	}
	expect_same_counters(bypass, full, -1);
	EXPECT_EQ(bypass.stats_text(now), full.stats_text(now)); // maxq, peaks, credit, p'
	for (int q = 0; q < kQueueCount; q++) {
		EXPECT_EQ(hist_bypass[q].count(), hist_full[q].count());
		for (double p : {0.5, 0.9, 0.99, 1.0})
			EXPECT_EQ(hist_bypass[q].percentile_ns(p), hist_full[q].percentile_ns(p)) << "queue " << q;
	}
}

TEST(AqmBurst, Dualpi2BypassLeavesWhatTheFullPathLeaves)
{
	uint64_t taken = 0;
	bypass_replays_the_full_path(make<DualPi2>("dualpi2", "target 1ms tupdate 1ms"),
				     make<DualPi2>("dualpi2", "target 1ms tupdate 1ms"), taken);
	// The light rounds once p' has decayed to 0 after an overload (the PI
	// takes a while to bring it down: about 1,600 of the 20,000 light bursts
	// here; the rest meet p' > 0 and take the full path).
	EXPECT_GT(taken, 1000u);
}

TEST(AqmBurst, FifoBypassLeavesWhatTheFullPathLeaves)
{
	uint64_t taken = 0;
	bypass_replays_the_full_path(make<Fifo>("fifo", "limit 300 ce_threshold 1ms"),
				     make<Fifo>("fifo", "limit 300 ce_threshold 1ms"), taken);
	EXPECT_GT(taken, 5000u);
}

// Where the bypass would not leave what the full path leaves, it declines
// and changes nothing (the caller then enqueues).
TEST(AqmBurst, Dualpi2BypassDeclinesWhereTheFullPathWouldDecide)
{
	Packet pkts[4];
	for (uint64_t i = 0; i < 4; i++)
		pkts[i] = Packet{1000, i + 1, 1000, i % 2 ? Ecn::ect1 : Ecn::not_ect, 0, 0};
	Dequeued out[kMaxBurst];
	auto q = make<DualPi2>("dualpi2", "");
	EXPECT_TRUE(q.pass_through(1000, pkts, 4, 100000, 24, 32, out));
	EXPECT_EQ(q.counters()[0].forwarded_pkts + q.counters()[1].forwarded_pkts, 4u);

	auto held = make<DualPi2>("dualpi2", "");
	ASSERT_EQ(held.enqueue(pkts[0]), EnqueueResult::accepted); // a queue that holds a packet
	EXPECT_FALSE(held.pass_through(1000, pkts + 1, 3, 100000, 24, 32, out));

	auto marking = make<DualPi2>("dualpi2", "");
	marking.set_prob_q32(prob_to_q32(0.01)); // p' > 0: the rolls decide
	EXPECT_FALSE(marking.pass_through(1000, pkts, 4, 100000, 24, 32, out));

	auto steps = make<DualPi2>("dualpi2", "step_thresh 1p"); // a packet step: the burst marks itself
	EXPECT_FALSE(steps.pass_through(1000, pkts, 4, 100000, 24, 32, out));

	auto small = make<DualPi2>("dualpi2", "limit 3");
	EXPECT_FALSE(small.pass_through(1000, pkts, 4, 100000, 24, 32, out)); // over limit: overflow decides

	auto fresh = make<DualPi2>("dualpi2", "");
	EXPECT_FALSE(fresh.pass_through(1000, pkts, 4, 100000, 24, 3, out)); // over max_forward
	EXPECT_FALSE(fresh.pass_through(1000, pkts, 4, 2048, 24, 32, out));   // the budget cuts it
	EXPECT_TRUE(fresh.pass_through(1000, pkts, 4, 3073, 24, 32, out));    // the last starts within it
	EXPECT_EQ(fresh.counters()[0].forwarded_pkts + fresh.counters()[1].forwarded_pkts, 4u);
}

} // namespace
} // namespace dualpilot::aqm
