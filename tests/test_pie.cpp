// PIE behaviour as RFC 8033 states it.
#include <gtest/gtest.h>

#include <cmath>

#include "aqm_test_util.hpp"

namespace dualpilot::aqm {
namespace {

using namespace testing;

TEST(Pie, DropProbabilityUpdateFollowsRfc8033WithAutoTuning)
{
	auto q = make<Pie>("pie", ""); // target 15ms, tupdate 15ms, alpha 0.125, beta 1.25
	for (int i = 0; i < 5; i++)
		q.enqueue(pkt(0, Ecn::not_ect)); // starts the timer at t = 0

	q.tick(15 * kMs); // head sojourn 15 ms = target; qdelay_old 0
	double p = 0.125 * (0.015 - 0.015) + 1.25 * (0.015 - 0.0);
	double expected = p / 2048; // drop_prob < 0.000001
	EXPECT_NEAR(q.drop_prob(), expected, 1e-12);

	q.tick(30 * kMs); // head sojourn 30 ms
	p = 0.125 * (0.030 - 0.015) + 1.25 * (0.030 - 0.015);
	expected += p / 512; // 0.000001 <= drop_prob < 0.00001
	EXPECT_NEAR(q.drop_prob(), expected, 1e-12);
	EXPECT_EQ(q.qdelay_old_ns(), 30 * kMs);
}

TEST(Pie, StepIsCappedAtTwoPercentOnceProbabilityIsHigh)
{
	auto q = make<Pie>("pie", "");
	for (int i = 0; i < 5; i++)
		q.enqueue(pkt(0, Ecn::not_ect));
	q.tick(15 * kMs);
	q.set_drop_prob(0.5);
	q.tick(30 * kMs); // p = 0.125 * 0.015 + 1.25 * 0.015 = 0.0206 > 0.02
	EXPECT_NEAR(q.drop_prob(), 0.52, 1e-12);
}

TEST(Pie, ProbabilityDecaysWhenTheQueueStaysEmpty)
{
	auto q = make<Pie>("pie", "");
	q.enqueue(pkt(0, Ecn::not_ect));
	Dequeued d;
	ASSERT_TRUE(q.dequeue(0, d));
	q.tick(15 * kMs); // qdelay 0, old 0: p = -alpha * target, auto-tuned
	q.set_drop_prob(0.3);
	q.tick(30 * kMs);
	const double p = 0.125 * (0 - 0.015) / 1; // drop_prob >= 0.1: no scaling
	EXPECT_NEAR(q.drop_prob(), (0.3 + p) * 0.98, 1e-12);
}

// Unresponsive traffic at twice the link rate onto an idle queue.
TEST(Pie, BurstAllowanceLetsTheFirstMaxBurstThrough)
{
	auto q = make<Pie>("pie", "limit 100000");
	uint64_t first_drop_ns = 0;
	uint64_t drops = 0;
	for (uint64_t t = 0; t < 3000 * kMs; t += 600 * kUs) {
		if (q.enqueue(pkt(t, Ecn::not_ect)) == EnqueueResult::dropped_aqm && first_drop_ns == 0)
			first_drop_ns = t;
		q.enqueue(pkt(t + 300 * kUs, Ecn::not_ect));
		Dequeued d;
		dequeue_forwarded(q, t, d, drops);
	}
	ASSERT_GT(q.counters()[0].aqm_drops, 0u);
	// max_burst 150 ms, consumed 15 ms per update starting at the first update.
	EXPECT_GE(first_drop_ns, 150 * kMs);
	EXPECT_EQ(q.burst_allowance_ns(), 0u);
}

TEST(Pie, BurstAllowanceIsRestoredOnceTheQueueSettles)
{
	auto q = make<Pie>("pie", "");
	for (int i = 0; i < 100; i++)
		q.enqueue(pkt(0, Ecn::not_ect));
	for (uint64_t t = 15 * kMs; t <= 300 * kMs; t += 15 * kMs)
		q.tick(t);
	EXPECT_EQ(q.burst_allowance_ns(), 0u);
	Dequeued d;
	while (q.dequeue(300 * kMs, d)) {
	}
	// Empty: the probability decays to 0 and the allowance comes back.
	for (uint64_t t = 315 * kMs; t <= 60000 * kMs; t += 15 * kMs)
		q.tick(t);
	EXPECT_EQ(q.burst_allowance_ns(), 150 * kMs);
}

// Drives n packets against a pinned probability past every safeguard.
std::vector<int> drop_gaps(const char *args, double prob, int n)
{
	auto q = make<Pie>("pie", args);
	for (int i = 0; i < 10; i++)
		q.enqueue(pkt(1000, Ecn::not_ect));
	std::vector<int> gaps;
	int since = 0;
	for (int i = 0; i < n; i++) {
		q.set_drop_prob(prob);
		since++;
		if (q.enqueue(pkt(1000, Ecn::not_ect)) == EnqueueResult::dropped_aqm) {
			gaps.push_back(since);
			since = 0;
		} else {
			Dequeued d;
			q.dequeue(1000, d);
		}
	}
	return gaps;
}

TEST(Pie, DerandomizationSpacesDropsBetweenItsBounds)
{
	// prob 0.25 >= 0.2 bypasses the low-delay safeguard; max_burst 0 the burst one.
	const auto gaps = drop_gaps("max_burst 0 tupdate 1s derandomize", 0.25, 200000);
	ASSERT_GT(gaps.size(), 1000u);
	for (int g : gaps) {
		EXPECT_GE(g, 4);  // accu_prob needs 0.85 / 0.25 -> 4 packets
		EXPECT_LE(g, 34); // forced at accu_prob >= 8.5
	}
	const auto plain = drop_gaps("max_burst 0 tupdate 1s noderandomize", 0.25, 200000);
	EXPECT_EQ(*std::min_element(plain.begin(), plain.end()), 1);
	EXPECT_NEAR(200000.0 / plain.size(), 4.0, 0.1); // mean gap 1/p
}

struct PieOutcome {
	double drop = 0;
	double mark = 0;
};

PieOutcome pinned_prob_outcome(const char *args, Ecn ecn, double prob)
{
	auto q = make<Pie>("pie", args);
	for (int i = 0; i < 10; i++)
		q.enqueue(pkt(1000, ecn));
	uint64_t marked = 0, dropped = 0;
	constexpr int n = 100000;
	for (int i = 0; i < n; i++) {
		q.set_drop_prob(prob);
		if (q.enqueue(pkt(1000, ecn)) == EnqueueResult::dropped_aqm) {
			dropped++;
			continue; // keep the queue 10 deep
		}
		Dequeued d;
		if (q.dequeue(1000, d))
			marked += d.verdict == Verdict::forward_ce;
	}
	return {static_cast<double>(dropped) / n, static_cast<double>(marked) / n};
}

TEST(Pie, EcnMarksInsteadOfDroppingBelowMarkThreshold)
{
	// Tolerance: 10^5 draws at p = 0.25 have a standard deviation of 0.0014.
	const char *args = "max_burst 0 tupdate 1s ecn noderandomize mark_ecn_th 0.3";
	PieOutcome ect = pinned_prob_outcome(args, Ecn::ect1, 0.25);
	EXPECT_EQ(ect.drop, 0.0);
	EXPECT_NEAR(ect.mark, 0.25, 0.01);
	// Not-ECT packets are dropped whatever the threshold.
	PieOutcome not_ect = pinned_prob_outcome(args, Ecn::not_ect, 0.25);
	EXPECT_NEAR(not_ect.drop, 0.25, 0.01);
	EXPECT_EQ(not_ect.mark, 0.0);
	// Above mark_ecn_th (default 0.1) ECN-capable packets are dropped too.
	PieOutcome high = pinned_prob_outcome("max_burst 0 tupdate 1s ecn noderandomize", Ecn::ect0, 0.25);
	EXPECT_NEAR(high.drop, 0.25, 0.01);
	EXPECT_EQ(high.mark, 0.0);
	// Without ecn nothing is marked.
	PieOutcome off = pinned_prob_outcome("max_burst 0 tupdate 1s noderandomize", Ecn::ect1, 0.25);
	EXPECT_EQ(off.mark, 0.0);
	EXPECT_NEAR(off.drop, 0.25, 0.01);
}

TEST(Pie, BadParametersAreRejected)
{
	EXPECT_NE(build_error("pie", "tupdate 0").find("tupdate must be greater than 0"), std::string::npos);
	EXPECT_NE(build_error("pie", "limit 0").find("limit must be at least 1"), std::string::npos);
	EXPECT_NE(build_error("pie", "alpha 0").find("alpha and beta must be greater than 0"),
		  std::string::npos);
	EXPECT_NE(build_error("pie", "mark_ecn_th 2").find("mark_ecn_th must be between 0 and 1"),
		  std::string::npos);
	EXPECT_NE(build_error("pie", "step_thresh 1ms").find("unknown parameter 'step_thresh'"),
		  std::string::npos);
}

} // namespace
} // namespace dualpilot::aqm
