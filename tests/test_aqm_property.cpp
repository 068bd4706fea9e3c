// Random enqueue/dequeue/time sequences on every AQM: packets are conserved
// (each accepted packet leaves exactly once, forwarded or dropped), the
// counters balance, and nothing crashes, whatever the input.
#include <gtest/gtest.h>

#include <unordered_set>

#include "aqm/random.hpp"
#include "aqm_test_util.hpp"

namespace dualpilot::aqm {
namespace {

using namespace testing;

struct Case {
	const char *name;
	const char *args;
};

class AqmProperty : public ::testing::TestWithParam<Case> {};

TEST_P(AqmProperty, RandomOperationsConservePackets)
{
	const Case c = GetParam();
	for (uint64_t seed : {1u, 2u, 3u}) {
		std::vector<Setting> settings;
		ASSERT_EQ(split_tc_args(c.name, c.args, settings), "");
		AqmOrError built = make_aqm(c.name, settings, seed);
		ASSERT_EQ(built.error, "");
		AnyAqm &aqm = *built.aqm;
		Rng rng(seed * 7919);
		uint64_t now = 0, next_handle = 1;
		uint64_t offered = 0, overflow = 0, enqueue_drops = 0, forwarded = 0, dequeue_drops = 0;
		std::unordered_set<uint64_t> inside;
		constexpr int kOps = 1000000;
		for (int op = 0; op < kOps; op++) {
			const uint32_t r = rng.next_u32();
			// Time mostly moves forward by up to 50 us; now and then it jumps
			// ahead a second, and now and then it runs back (a bad clock).
			if ((r & 0xff) == 0)
				now += 1000000000ull;
			else if ((r & 0xfff) == 1)
				now -= std::min<uint64_t>(now, 5000000);
			else
				now += rng.next_u32() % 50000;
			if ((r >> 8) % 100 < 55) {
				Packet p{now, next_handle++, 64 + rng.next_u32() % 1451,
					 static_cast<Ecn>(rng.next_u32() & 3), 0};
				offered++;
				switch (enqueue(aqm, p)) {
				case EnqueueResult::accepted:
					inside.insert(p.handle);
					break;
				case EnqueueResult::dropped_overflow:
					overflow++;
					break;
				case EnqueueResult::dropped_aqm:
					enqueue_drops++;
					break;
				}
			} else {
				Dequeued d;
				if (dequeue(aqm, now, d)) {
					ASSERT_EQ(inside.erase(d.pkt.handle), 1u) << "packet left twice or never entered";
					ASSERT_LT(d.sojourn_ns, 1ull << 62) << "negative sojourn";
					(d.verdict == Verdict::drop ? dequeue_drops : forwarded)++;
				}
			}
		}
		const auto counts = counters(aqm);
		uint64_t arrived = 0, fwd = 0, ovf = 0, aqm_drops = 0, backlog = 0;
		for (const QueueCounters &q : counts) {
			ASSERT_EQ(q.arrived_pkts, q.forwarded_pkts + q.overflow_drops + q.aqm_drops + q.backlog_pkts);
			arrived += q.arrived_pkts;
			fwd += q.forwarded_pkts;
			ovf += q.overflow_drops;
			aqm_drops += q.aqm_drops;
			backlog += q.backlog_pkts;
		}
		EXPECT_EQ(arrived, offered);
		EXPECT_EQ(fwd, forwarded);
		EXPECT_EQ(ovf, overflow);
		EXPECT_EQ(aqm_drops, enqueue_drops + dequeue_drops);
		EXPECT_EQ(backlog, inside.size());
		EXPECT_EQ(backlog, backlog_pkts(aqm));
		// Drain: everything left comes out.
		Dequeued d;
		while (dequeue(aqm, now, d))
			ASSERT_EQ(inside.erase(d.pkt.handle), 1u);
		EXPECT_TRUE(inside.empty());
		EXPECT_GT(forwarded, 0u);
	}
}

INSTANTIATE_TEST_SUITE_P(
	EveryAqm, AqmProperty,
	::testing::Values(Case{"fifo", "limit 200"}, Case{"pie", "limit 200 tupdate 1ms ecn"},
			  Case{"codel", "limit 200 target 1ms interval 10ms ecn"},
			  Case{"dualpi2", "limit 200 tupdate 1ms target 1ms"},
			  Case{"dualpi2", "limit 200 tupdate 1ms target 1ms drop_enqueue overflow any_ect"},
			  Case{"dualpi2", "limit 300 memlimit 100kb step_thresh 4p min_qlen_step 2 classic_protection 0"}),
	[](const ::testing::TestParamInfo<Case> &info) {
		return std::string(info.param.name) + std::to_string(info.index);
	});

} // namespace
} // namespace dualpilot::aqm
