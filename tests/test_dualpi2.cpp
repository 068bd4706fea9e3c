// DualPI2 behaviour as RFC 9332 and tc-dualpi2(8) state it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "aqm_test_util.hpp"

namespace dualpilot::aqm {
namespace {

using namespace testing;

// Long enough that p' stays where a test pinned it (10 s is the maximum).
constexpr const char *kHoldProb = "tupdate 10s";

TEST(Dualpi2, L4sEctClassifiesEct1AndCeIntoL)
{
	auto q = make<DualPi2>("dualpi2", "");
	EXPECT_EQ(q.classify(Ecn::not_ect), QueueId::classic);
	EXPECT_EQ(q.classify(Ecn::ect0), QueueId::classic);
	EXPECT_EQ(q.classify(Ecn::ect1), QueueId::l4s);
	EXPECT_EQ(q.classify(Ecn::ce), QueueId::l4s);

	// And the packets really land there.
	for (Ecn e : {Ecn::not_ect, Ecn::ect0, Ecn::ect1, Ecn::ce})
		ASSERT_EQ(q.enqueue(pkt(1000, e)), EnqueueResult::accepted);
	const auto c = q.counters();
	EXPECT_EQ(c[0].backlog_pkts, 2u);
	EXPECT_EQ(c[1].backlog_pkts, 2u);
}

TEST(Dualpi2, AnyEctClassifiesEveryEcnCapablePacketIntoL)
{
	auto q = make<DualPi2>("dualpi2", "any_ect");
	EXPECT_EQ(q.classify(Ecn::not_ect), QueueId::classic);
	EXPECT_EQ(q.classify(Ecn::ect0), QueueId::l4s);
	EXPECT_EQ(q.classify(Ecn::ect1), QueueId::l4s);
	EXPECT_EQ(q.classify(Ecn::ce), QueueId::l4s);
}

struct Rates {
	double drop = 0;
	double mark = 0;
};

// Pushes n packets of one class through a queue kept 10 packets deep (over
// the 2-MTU floor) with p' pinned, and measures drop and CE-mark rates.
Rates measure_rates(DualPi2 &q, Ecn ecn, double prob, int n)
{
	q.set_prob_q32(prob_to_q32(prob));
	uint64_t now = 1000;
	for (int i = 0; i < 10; i++)
		q.enqueue(pkt(now, ecn));
	q.set_prob_q32(prob_to_q32(prob));
	uint64_t drops = 0, marks = 0, enqueue_drops = 0;
	for (int i = 0; i < n; i++) {
		now += 100;
		if (q.enqueue(pkt(now, ecn)) != EnqueueResult::accepted)
			enqueue_drops++;
		Dequeued d;
		if (!q.dequeue(now, d))
			continue;
		if (d.verdict == Verdict::drop)
			drops++;
		else if (d.verdict == Verdict::forward_ce)
			marks++;
		// Keep the queue 10 deep whatever was dropped.
		while (q.backlog_pkts() < 10)
			q.enqueue(pkt(now, ecn));
	}
	return {static_cast<double>(drops + enqueue_drops) / n, static_cast<double>(marks) / n};
}

// Statistical tolerance: n = 10^6 Bernoulli draws have a standard deviation
// of at most 0.0005; 0.003 is six of them.
constexpr int kDraws = 1000000;
constexpr double kTol = 0.003;

TEST(Dualpi2, ClassicDropRateIsSquareOfBaseProb)
{
	for (double p : {0.1, 0.3, 0.45}) {
		auto q = make<DualPi2>("dualpi2", kHoldProb);
		const Rates r = measure_rates(q, Ecn::not_ect, p, kDraws);
		EXPECT_NEAR(r.drop, p * p, kTol) << "p'=" << p;
		EXPECT_EQ(r.mark, 0.0);
	}
}

TEST(Dualpi2, ClassicEcnPacketsAreMarkedWithSquareOfBaseProb)
{
	auto q = make<DualPi2>("dualpi2", kHoldProb);
	const Rates r = measure_rates(q, Ecn::ect0, 0.3, kDraws);
	EXPECT_NEAR(r.mark, 0.09, kTol);
	EXPECT_EQ(r.drop, 0.0);
}

TEST(Dualpi2, L4sMarkRateIsCouplingFactorTimesBaseProb)
{
	for (double p : {0.05, 0.2, 0.4}) {
		auto q = make<DualPi2>("dualpi2", kHoldProb);
		const Rates r = measure_rates(q, Ecn::ect1, p, kDraws);
		// step_thresh 1ms is never reached: sojourns here are ~1 us.
		EXPECT_NEAR(r.mark, std::min(1.0, 2 * p), kTol) << "p'=" << p;
		EXPECT_EQ(r.drop, 0.0);
	}
	auto q = make<DualPi2>("dualpi2", "tupdate 10s coupling_factor 4");
	EXPECT_NEAR(measure_rates(q, Ecn::ect1, 0.1, kDraws).mark, 0.4, kTol);
}

TEST(Dualpi2, DropEnqueueAppliesTheSameProbabilitiesAtEnqueue)
{
	auto q = make<DualPi2>("dualpi2", "tupdate 10s drop_enqueue");
	const Rates c = measure_rates(q, Ecn::not_ect, 0.3, kDraws);
	EXPECT_NEAR(c.drop, 0.09, kTol);
	EXPECT_GT(q.counters()[0].aqm_drops, 0u);
	auto ql = make<DualPi2>("dualpi2", "tupdate 10s drop_enqueue");
	EXPECT_NEAR(measure_rates(ql, Ecn::ect1, 0.2, kDraws).mark, 0.4, kTol);
}

TEST(Dualpi2, NoAqmActionBelowTwoMtuOfBacklog)
{
	auto q = make<DualPi2>("dualpi2", kHoldProb);
	q.set_prob_q32(kMaxProb);
	uint64_t drops = 0;
	for (int i = 0; i < 1000; i++) {
		// One packet at a time: the backlog behind it is always empty.
		q.enqueue(pkt(1000 + i, Ecn::not_ect));
		Dequeued d;
		ASSERT_TRUE(q.dequeue(1000 + i, d));
		drops += d.verdict == Verdict::drop;
	}
	EXPECT_EQ(drops, 0u);
}

TEST(Dualpi2, StepMarksLPacketsAboveStepThreshOnly)
{
	auto q = make<DualPi2>("dualpi2", kHoldProb); // p' = 0: no coupled marks
	for (int i = 0; i < 4; i++)
		q.enqueue(pkt(0, Ecn::ect1, 100));
	Dequeued d;
	ASSERT_TRUE(q.dequeue(500 * kUs, d)); // sojourn 0.5 ms
	EXPECT_EQ(d.verdict, Verdict::forward);
	ASSERT_TRUE(q.dequeue(1 * kMs, d)); // exactly at the threshold: not above
	EXPECT_EQ(d.verdict, Verdict::forward);
	ASSERT_TRUE(q.dequeue(1 * kMs + 1, d)); // just above
	EXPECT_EQ(d.verdict, Verdict::forward_ce);
	ASSERT_TRUE(q.dequeue(3 * kMs, d));
	EXPECT_EQ(d.verdict, Verdict::forward_ce);
	EXPECT_EQ(q.stats().step_marks, 2u);
	EXPECT_EQ(q.counters()[1].ce_marks, 2u);
}

TEST(Dualpi2, StepMarkingNeverTouchesTheClassicQueue)
{
	auto q = make<DualPi2>("dualpi2", kHoldProb);
	for (int i = 0; i < 4; i++)
		q.enqueue(pkt(0, Ecn::ect0, 100));
	Dequeued d;
	for (int i = 0; i < 4; i++) {
		ASSERT_TRUE(q.dequeue(5 * kMs, d));
		EXPECT_EQ(d.verdict, Verdict::forward);
	}
}

TEST(Dualpi2, MinQlenStepSparesPacketsThatArrivedToAShortLQueue)
{
	auto q = make<DualPi2>("dualpi2", "tupdate 10s min_qlen_step 5");
	for (int i = 0; i < 10; i++)
		q.enqueue(pkt(0, Ecn::ect1, 100));
	int marked = 0;
	for (int i = 0; i < 10; i++) {
		Dequeued d;
		ASSERT_TRUE(q.dequeue(5 * kMs, d));
		// The first five found fewer than 5 packets ahead of them.
		EXPECT_EQ(d.verdict, i < 5 ? Verdict::forward : Verdict::forward_ce) << i;
		marked += d.verdict == Verdict::forward_ce;
	}
	EXPECT_EQ(marked, 5);
}

TEST(Dualpi2, StepThreshInPacketsMarksWhileTheLQueueIsLonger)
{
	auto q = make<DualPi2>("dualpi2", "tupdate 10s step_thresh 3p");
	for (int i = 0; i < 6; i++)
		q.enqueue(pkt(0, Ecn::ect1, 100));
	for (int i = 0; i < 6; i++) {
		Dequeued d;
		ASSERT_TRUE(q.dequeue(1000, d));
		// Queue length counting the departing packet: 6,5,4 are over 3.
		EXPECT_EQ(d.verdict, i < 3 ? Verdict::forward_ce : Verdict::forward) << i;
	}
}

// The kernel's fixed point, written out independently of the implementation:
// gains in probability units per ns times 64.
int64_t kernel_gain(uint32_t param_256) { return (int64_t)(((uint64_t)param_256 * kMaxProb >> 2) / 1000000000ull); }

int64_t expected_step(int64_t qdelay, int64_t target, int64_t prev, int64_t alpha, int64_t beta)
{
	const int64_t delta = (qdelay - target) * alpha + (qdelay - prev) * beta;
	return delta >= 0 ? delta / 64 : -((-delta) / 64);
}

TEST(Dualpi2, PiUpdateAddsAlphaTimesErrorPlusBetaTimesChange)
{
	auto q = make<DualPi2>("dualpi2", ""); // target 15ms, tupdate 16ms
	const int64_t alpha = kernel_gain(41), beta = kernel_gain(819);
	// The first packet starts the PI timer; it then sits at the head.
	ASSERT_EQ(q.enqueue(pkt(0, Ecn::not_ect)), EnqueueResult::accepted);
	for (int i = 0; i < 5; i++)
		q.enqueue(pkt(0, Ecn::not_ect));

	q.tick(16 * kMs); // head sojourn 16 ms
	int64_t expected = expected_step(16 * kMs, 15 * kMs, 0, alpha, beta);
	EXPECT_EQ(q.prob_q32(), expected);
	// In Hz: 0.16 * 1ms + 3.2 * 16ms, within the kernel's rounding of the gains.
	EXPECT_NEAR(q32_to_prob(q.prob_q32()), 0.16 * 0.001 + 3.2 * 0.016, 0.0005);

	q.tick(32 * kMs); // head sojourn 32 ms
	expected += expected_step(32 * kMs, 15 * kMs, 16 * kMs, alpha, beta);
	EXPECT_EQ(q.prob_q32(), expected);
	EXPECT_EQ(q.last_qdelay_ns(), 32 * kMs);

	// The queue empties: qdelay 0 pulls p' down by both terms.
	Dequeued d;
	uint64_t drops = 0;
	while (dequeue_forwarded(q, 40 * kMs, d, drops)) {
	}
	q.tick(48 * kMs);
	expected += expected_step(0, 15 * kMs, 32 * kMs, alpha, beta);
	EXPECT_EQ(q.prob_q32(), std::max<int64_t>(expected, 0));
}

TEST(Dualpi2, PiUpdateSaturatesAtZeroAndOne)
{
	auto q = make<DualPi2>("dualpi2", "limit 100000");
	q.enqueue(pkt(0, Ecn::not_ect));
	// A head that waits 4 s drives p' to the top and it stays exactly there.
	for (uint64_t t = 16 * kMs; t < 4000 * kMs; t += 16 * kMs) {
		q.tick(t);
		ASSERT_LE(q.prob_q32(), kMaxProb);
	}
	EXPECT_EQ(q.prob_q32(), kMaxProb);
	Dequeued d;
	ASSERT_TRUE(q.dequeue(4000 * kMs, d));
	for (uint64_t t = 4000 * kMs; t < 20000 * kMs; t += 16 * kMs)
		q.tick(t);
	EXPECT_EQ(q.prob_q32(), 0u);
}

// A fluid model of N Reno flows: each sends at (MSS/RTT) * sqrt(3/2) / sqrt(p_C)
// (Mathis et al.), with p_C = p'^2 the classic drop probability. The PI
// integrator must settle the classic queue delay at target.
TEST(Dualpi2, PiConvergesToTargetDelayUnderRenoLoad)
{
	auto q = make<DualPi2>("dualpi2", "");
	const double link_bps = 10e6, mss_bits = 1500 * 8, rtt_s = 0.05;
	const int flows = 4;
	const uint64_t service_ns = static_cast<uint64_t>(mss_bits / link_bps * 1e9);
	uint64_t now = 0, next_arrival = 0, next_service = 0, drops = 0;
	double delay_sum = 0;
	uint64_t delay_n = 0;
	while (now < 60000 * kMs) {
		if (next_arrival <= next_service) {
			now = next_arrival;
			q.enqueue(pkt(now, Ecn::not_ect));
			const double p = std::max(q32_to_prob(q.prob_q32()), 1e-3);
			const double rate = std::min(flows * (mss_bits / rtt_s) * 1.2247 / p, 3 * link_bps);
			next_arrival = now + static_cast<uint64_t>(mss_bits / rate * 1e9);
		} else {
			now = next_service;
			Dequeued d;
			if (dequeue_forwarded(q, now, d, drops) && now > 30000 * kMs) {
				delay_sum += static_cast<double>(d.sojourn_ns);
				delay_n++;
			}
			next_service = now + service_ns;
		}
	}
	ASSERT_GT(delay_n, 1000u);
	const double mean_ms = delay_sum / delay_n / 1e6;
	EXPECT_NEAR(mean_ms, 15.0, 3.0);
	EXPECT_GT(drops, 0u);
}

TEST(Dualpi2, OverloadDropsL4sWithClassicProbabilityWhenDropOnOverload)
{
	auto q = make<DualPi2>("dualpi2", kHoldProb);
	// k * p' = 1.6 > 1: overload. L packets: dropped with p'^2, the rest marked.
	const Rates r = measure_rates(q, Ecn::ect1, 0.8, kDraws);
	EXPECT_NEAR(r.drop, 0.64, kTol);
	EXPECT_NEAR(r.mark, 0.36, kTol);
	EXPECT_GT(q.stats().overload_drops, 0u);
	// Classic ECN packets are dropped rather than marked under overload.
	auto qc = make<DualPi2>("dualpi2", kHoldProb);
	const Rates c = measure_rates(qc, Ecn::ect0, 0.8, kDraws);
	EXPECT_NEAR(c.drop, 0.64, kTol);
	EXPECT_EQ(c.mark, 0.0);
}

TEST(Dualpi2, OverflowModeMarksL4sAndLetsTheQueueOverflow)
{
	// Unresponsive traffic at twice the link rate into both queues.
	for (bool drop_on_overload : {false, true}) {
		auto q = make<DualPi2>("dualpi2", drop_on_overload ? "limit 1000" : "limit 1000 overflow");
		uint32_t max_prob = 0;
		uint64_t drops = 0;
		for (uint64_t t = 0; t < 5000 * kMs; t += 600 * kUs) {
			q.enqueue(pkt(t, Ecn::ect1));
			q.enqueue(pkt(t + 1, Ecn::not_ect));
			Dequeued d;
			dequeue_forwarded(q, t + 2, d, drops);
			max_prob = std::max(max_prob, q.prob_q32());
		}
		if (drop_on_overload) {
			EXPECT_GT(q.stats().overload_drops, 0u);
			EXPECT_GT(max_prob, kMaxProb / 2);
		} else {
			// p' capped at 1/k: L traffic is marked, never dropped; the queue
			// overflows at limit instead.
			EXPECT_LE(max_prob, kMaxProb / 2);
			EXPECT_EQ(q.counters()[1].aqm_drops, 0u);
			EXPECT_GT(q.counters()[0].overflow_drops + q.counters()[1].overflow_drops, 0u);
			EXPECT_GT(q.counters()[1].ce_marks, 0u);
		}
	}
}

// Both queues saturated with equal packets, no AQM action (p' = 0, no time
// passing): the byte share the C queue gets.
double classic_share(const char *args, int dequeues)
{
	auto q = make<DualPi2>("dualpi2", args);
	uint64_t c_bytes = 0, total = 0;
	for (int i = 0; i < dequeues; i++) {
		while (q.counters()[0].backlog_pkts < 50)
			q.enqueue(pkt(1000, Ecn::not_ect, 1000));
		while (q.counters()[1].backlog_pkts < 50)
			q.enqueue(pkt(1000, Ecn::ect1, 1000));
		Dequeued d;
		EXPECT_TRUE(q.dequeue(1000, d));
		total += d.pkt.len_bytes;
		if (d.queue == QueueId::classic)
			c_bytes += d.pkt.len_bytes;
	}
	return static_cast<double>(c_bytes) / total;
}

TEST(Dualpi2, SchedulerGivesClassicItsProtectionShareUnderSaturation)
{
	EXPECT_NEAR(classic_share("tupdate 10s", 100000), 0.10, 0.005);
	EXPECT_NEAR(classic_share("tupdate 10s classic_protection 30", 100000), 0.30, 0.005);
	EXPECT_NEAR(classic_share("tupdate 10s classic_protection 50", 100000), 0.50, 0.005);
}

TEST(Dualpi2, LGetsTheWholeLinkWhenAlone)
{
	auto q = make<DualPi2>("dualpi2", kHoldProb);
	for (int i = 0; i < 1000; i++)
		q.enqueue(pkt(1000, Ecn::ect1, 1000));
	int served = 0;
	Dequeued d;
	while (q.dequeue(1000, d)) {
		EXPECT_EQ(d.queue, QueueId::l4s);
		served++;
	}
	EXPECT_EQ(served, 1000);
}

TEST(Dualpi2, LimitAndMemlimitBoundTheQueue)
{
	auto q = make<DualPi2>("dualpi2", "limit 100 memlimit 50000");
	for (int i = 0; i < 1000; i++) {
		q.enqueue(pkt(1000, i % 2 ? Ecn::ect1 : Ecn::not_ect, 1500));
		ASSERT_LE(q.backlog_pkts(), 100u);
		ASSERT_LE(q.backlog_bytes(), 50000u);
	}
	EXPECT_EQ(q.backlog_pkts(), 33u); // 50000 / 1500
	auto c = q.counters();
	EXPECT_EQ(c[0].overflow_drops + c[1].overflow_drops, 1000u - 33u);

	auto qp = make<DualPi2>("dualpi2", "limit 100");
	for (int i = 0; i < 1000; i++)
		qp.enqueue(pkt(1000, Ecn::ect1, 64));
	EXPECT_EQ(qp.backlog_pkts(), 100u);
	EXPECT_EQ(qp.counters()[1].overflow_drops, 900u);
}

TEST(Dualpi2, DefaultsAreThoseOfTcDualpi2)
{
	auto q = make<DualPi2>("dualpi2", "");
	const std::string d = q.describe();
	for (const char *want : {"limit 10000p", "target 15ms", "tupdate 16ms", "step_thresh 1ms",
				 "min_qlen_step 0p", "coupling_factor 2", "drop_on_overload", "drop_dequeue",
				 "classic_protection 10%", "l4s_ect"})
		EXPECT_NE(d.find(want), std::string::npos) << want << " not in: " << d;
	EXPECT_EQ(q.params().memlimit_bytes, 10000ull * 2 * 1514);
	EXPECT_EQ(q.params().alpha_256, 41u);
	EXPECT_EQ(q.params().beta_256, 819u);
}

std::string hz(uint32_t param_256)
{
	char buf[32];
	std::snprintf(buf, sizeof(buf), "%f", dualpi2_effective_hz(param_256));
	return buf;
}

TEST(Dualpi2, MaxRttAndTypicalRttDeriveThePiParametersAsTcDoes)
{
	auto q = make<DualPi2>("dualpi2", "typical_rtt 20ms max_rtt 200ms");
	EXPECT_EQ(q.params().target_ns, 20 * kMs);
	EXPECT_EQ(q.params().tupdate_ns, 20 * kMs);
	EXPECT_EQ(hz(q.params().alpha_256), "0.042969");
	EXPECT_EQ(hz(q.params().beta_256), "1.496094");

	auto q2 = make<DualPi2>("dualpi2", "max_rtt 300ms");
	EXPECT_EQ(q2.params().target_ns, 50 * kMs);
	EXPECT_EQ(q2.params().tupdate_ns, 50 * kMs);
	EXPECT_EQ(hz(q2.params().alpha_256), "0.050781");
	EXPECT_EQ(hz(q2.params().beta_256), "0.996094");
}

TEST(Dualpi2, BadParametersAreRejectedWithTheirName)
{
	struct Case {
		const char *args;
		const char *message;
	} cases[] = {
		{"tupdate 0", "tupdate must be greater than 0"},
		{"tupdate -5ms", "tupdate: not a time"},
		{"target 0", "target must be greater than 0"},
		{"coupling_factor 0", "coupling_factor must be between 1 and 255"},
		{"coupling_factor 256", "coupling_factor must be between 1 and 255"},
		{"coupling_factor -1", "coupling_factor: not a non-negative integer"},
		{"limit 0", "limit must be at least 1 packet"},
		{"alpha 0", "alpha: must be between 1/256"},
		{"beta 0.001", "beta: must be between 1/256"},
		{"classic_protection 101", "classic_protection: not a percentage"},
		{"memlimit 0", "memlimit: must be at least 1 byte"},
		{"target 15parsecs", "target: unknown time unit"},
		{"typical_rtt 50ms max_rtt 10ms", "typical_rtt must not exceed max_rtt"},
		{"max_rtt 100ms target 10ms", "give one or the other"},
		{"mtu 20", "mtu: must be between 68 and 65535"},
		{"flavour vanilla", "unknown parameter 'flavour'"},
		{"limit", "'limit' needs a value"},
		{"overflow maybe", "'maybe' needs a value"},
	};
	for (const Case &c : cases) {
		const std::string err = build_error("dualpi2", c.args);
		EXPECT_NE(err.find(c.message), std::string::npos)
			<< "args '" << c.args << "' gave '" << err << "', want '" << c.message << "'";
	}
	EXPECT_NE(build_error("red", "").find("unknown aqm 'red'"), std::string::npos);
}

TEST(Dualpi2, StatsReadLikeTcDashS)
{
	auto q = make<DualPi2>("dualpi2", "");
	q.enqueue(pkt(0, Ecn::ect1));
	q.enqueue(pkt(0, Ecn::not_ect));
	const std::string s = q.stats_text(2 * kMs);
	for (const char *want : {"prob 0.000000", "delay_c 2000us", "delay_l 2000us", "pkts_in_c 1",
				 "pkts_in_l 1", "maxq 2", "ecn_mark 0", "step_marks 0", "credit"})
		EXPECT_NE(s.find(want), std::string::npos) << want << " not in: " << s;
}

} // namespace
} // namespace dualpilot::aqm

namespace dualpilot::aqm {
namespace {

TEST(Dualpi2, AFarClockJumpDoesNotReplayEveryMissedUpdate)
{
	auto q = make<DualPi2>("dualpi2", "");
	q.enqueue(pkt(0, Ecn::not_ect));
	q.enqueue(pkt(0, Ecn::not_ect));
	Dequeued d;
	// Centuries of 16 ms updates would take hours to replay one by one.
	ASSERT_TRUE(q.dequeue(UINT64_MAX / 2, d));
	EXPECT_EQ(q.prob_q32(), kMaxProb); // the backlog waited forever: p' saturated
	auto p = make<Pie>("pie", "");
	p.enqueue(pkt(0, Ecn::not_ect));
	ASSERT_TRUE(p.dequeue(UINT64_MAX / 2, d));
}

// That the burst API decides exactly as the per-packet calls do, for DualPI2
// as for every AQM: tests/test_aqm_burst.cpp.

// dequeue_burst's budget: a packet may start while budget is left, so the
// last one overruns it (as a shaper lets a frame start at its bucket's
// edge); AQM drops cost no budget and do not count against max_forward, but
// do against the room in out[].
TEST(Dualpi2, ABurstStopsOnceItsByteBudgetIsSpentAndDropsCostNone)
{
	auto q = make<DualPi2>("dualpi2", kHoldProb);
	for (uint64_t h = 1; h <= 10; h++)
		ASSERT_EQ(q.enqueue(Packet{1000, h, 1000, Ecn::not_ect, 0, 0}), EnqueueResult::accepted);
	Dequeued out[kMaxBurst];
	// 1024 bytes a frame with overhead: 2 fit in 2500, the third starts at 2048.
	EXPECT_EQ(q.dequeue_burst(2000, 2500, 24, 32, out, kMaxBurst), 3u);
	EXPECT_EQ(out[2].pkt.handle, 3u);
	EXPECT_EQ(q.dequeue_burst(2000, 1000000, 24, 2, out, kMaxBurst), 2u); // max_forward
	EXPECT_EQ(q.dequeue_burst(2000, 0, 24, 32, out, kMaxBurst), 0u);      // no budget, nothing leaves
	EXPECT_EQ(q.backlog_pkts(), 5u);

	// p' = 1: every Classic packet over 2 MTU of backlog is dropped (p'^2 = 1).
	q.set_prob_q32(kMaxProb);
	const uint32_t n = q.dequeue_burst(2000, 1, 24, 1, out, kMaxBurst);
	// The first leaves 4000 bytes behind it (over 2 MTU): dropped, and the
	// burst goes on though its budget of 1 byte and 1 packet is spent by the
	// second, which leaves 3000 (under 2 MTU, where DualPI2 never acts).
	ASSERT_EQ(n, 2u);
	EXPECT_EQ(out[0].verdict, Verdict::drop);
	EXPECT_EQ(out[1].verdict, Verdict::forward);
	EXPECT_EQ(q.counters()[0].aqm_drops, 1u);
	// out_cap bounds drops too.
	for (uint64_t h = 11; h <= 20; h++)
		ASSERT_EQ(q.enqueue(Packet{3000, h, 1000, Ecn::not_ect, 0, 0}), EnqueueResult::accepted);
	EXPECT_EQ(q.dequeue_burst(3000, 1000000, 24, 32, out, 2), 2u);
}

// peek_handles hands each queued packet's handle out once (the router
// prefetches what they point to a burst ahead), half its room from each queue.
TEST(Dualpi2, PeekHandsEachQueuedPacketOutOnce)
{
	auto q = make<DualPi2>("dualpi2", kHoldProb);
	for (uint64_t h = 1; h <= 40; h++)
		ASSERT_EQ(q.enqueue(Packet{1000, h, 100, h % 2 ? Ecn::ect1 : Ecn::not_ect, 0, 0}), EnqueueResult::accepted);
	uint64_t handles[64];
	ASSERT_EQ(q.peek_handles(handles, 16), 16u); // 8 from each queue
	std::vector<uint64_t> seen(handles, handles + 16);
	EXPECT_EQ(q.peek_handles(handles, 16), 0u); // the same heads: nothing new
	Dequeued out[kMaxBurst];
	ASSERT_EQ(q.dequeue_burst(2000, 1000000, 0, 4, out, kMaxBurst), 4u);
	const uint32_t more = q.peek_handles(handles, 16);
	for (uint32_t i = 0; i < more; i++)
		EXPECT_EQ(std::count(seen.begin(), seen.end(), handles[i]), 0) << handles[i];
	seen.insert(seen.end(), handles, handles + more);
	EXPECT_EQ(more, 4u); // the four dequeued made room for four more heads
	std::sort(seen.begin(), seen.end());
	EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end());
}

} // namespace
} // namespace dualpilot::aqm
