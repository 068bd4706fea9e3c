// CoDel behaviour as RFC 8289 states it.
#include <gtest/gtest.h>

#include <cmath>

#include "aqm_test_util.hpp"

namespace dualpilot::aqm {
namespace {

using namespace testing;

// A standing queue: one arrival and one departure per millisecond, every
// packet waiting `sojourn_ms`; each drop is replaced so the queue stays put.
// Returns the drop times.
std::vector<uint64_t> standing_queue(Codel &q, uint64_t sojourn_ms, uint64_t duration_ms, bool ecn_pkts = false)
{
	const Ecn ecn = ecn_pkts ? Ecn::ect0 : Ecn::not_ect;
	for (uint64_t i = 0; i < sojourn_ms; i++)
		q.enqueue(pkt(i * kMs, ecn));
	std::vector<uint64_t> drop_times;
	for (uint64_t t = sojourn_ms; t < duration_ms; t++) {
		q.enqueue(pkt(t * kMs, ecn));
		Dequeued d;
		while (q.dequeue(t * kMs, d)) {
			if (d.verdict == Verdict::forward)
				break;
			drop_times.push_back(t * kMs);
			if (d.verdict == Verdict::forward_ce)
				break;
			q.enqueue(pkt(d.pkt.arrival_ns, ecn)); // keep the standing queue
		}
	}
	return drop_times;
}

TEST(Codel, NoDropWhileSojournStaysBelowTarget)
{
	auto q = make<Codel>("codel", ""); // target 5ms, interval 100ms
	EXPECT_TRUE(standing_queue(q, 4, 20000).empty());
	EXPECT_EQ(q.counters()[0].aqm_drops, 0u);
}

TEST(Codel, NoDropWhenAboveTargetForLessThanAnInterval)
{
	auto q = make<Codel>("codel", "");
	// 20 packets queued at once drain one per ms: sojourns rise above 5 ms
	// but the queue is gone after 20 ms, well within one interval.
	for (int i = 0; i < 20; i++)
		q.enqueue(pkt(0, Ecn::not_ect));
	Dequeued d;
	for (uint64_t t = 1; q.dequeue(t * kMs, d); t++)
		EXPECT_EQ(d.verdict, Verdict::forward);
}

TEST(Codel, FirstDropComesOneIntervalAfterTheDelayWentAboveTarget)
{
	auto q = make<Codel>("codel", "");
	const auto drops = standing_queue(q, 20, 2000);
	ASSERT_FALSE(drops.empty());
	// First dequeue above target is at t = 20 ms; the interval is 100 ms.
	EXPECT_EQ(drops[0], 120 * kMs);
}

TEST(Codel, DropSpacingShrinksAsIntervalOverSqrtCount)
{
	auto q = make<Codel>("codel", "");
	const auto drops = standing_queue(q, 20, 3000);
	ASSERT_GT(drops.size(), 10u);
	for (size_t j = 1; j < 10; j++) {
		const double gap_ms = static_cast<double>(drops[j] - drops[j - 1]) / kMs;
		const double want_ms = 100.0 / std::sqrt(static_cast<double>(j));
		// Departures are 1 ms apart, so a drop lands on the next one.
		EXPECT_NEAR(gap_ms, want_ms, 1.0) << "gap " << j;
	}
}

TEST(Codel, EcnModeMarksEcnCapablePacketsInsteadOfDropping)
{
	auto q = make<Codel>("codel", "ecn");
	const auto marks = standing_queue(q, 20, 3000, true);
	ASSERT_GT(marks.size(), 5u);
	EXPECT_EQ(q.counters()[0].aqm_drops, 0u);
	EXPECT_EQ(q.counters()[0].ce_marks, marks.size());
	EXPECT_EQ(marks[0], 120 * kMs);
}

TEST(Codel, BadParametersAreRejected)
{
	EXPECT_NE(build_error("codel", "interval 0").find("interval must be greater than 0"), std::string::npos);
	EXPECT_NE(build_error("codel", "target 200ms").find("target must be below interval"), std::string::npos);
	EXPECT_NE(build_error("codel", "limit 0").find("limit must be at least 1"), std::string::npos);
}

TEST(Fifo, TailDropsAtLimitAndKeepsOrder)
{
	auto q = make<Fifo>("fifo", "limit 5");
	for (uint64_t i = 0; i < 8; i++)
		EXPECT_EQ(q.enqueue(pkt(i, Ecn::not_ect, 100, i)),
			  i < 5 ? EnqueueResult::accepted : EnqueueResult::dropped_overflow);
	Dequeued d;
	for (uint64_t i = 0; i < 5; i++) {
		ASSERT_TRUE(q.dequeue(10, d));
		EXPECT_EQ(d.pkt.handle, i);
		EXPECT_EQ(d.verdict, Verdict::forward);
		EXPECT_EQ(d.sojourn_ns, 10 - i);
	}
	EXPECT_FALSE(q.dequeue(10, d));
	EXPECT_EQ(q.counters()[0].overflow_drops, 3u);
}

TEST(Fifo, ByteLimitBoundsTheQueue)
{
	auto q = make<Fifo>("fifo", "limit 1000 memlimit 10kb");
	for (int i = 0; i < 100; i++)
		q.enqueue(pkt(0, Ecn::not_ect, 1000));
	EXPECT_EQ(q.backlog_pkts(), 10u);
	EXPECT_EQ(q.backlog_bytes(), 10000u);
}

} // namespace
} // namespace dualpilot::aqm
