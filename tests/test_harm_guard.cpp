// The harm guard (policy/harm_guard.hpp): the pure rule, and the simulator's
// closed loop with a policy that marks everything it may.
#include <gtest/gtest.h>

#include "policy/harm_guard.hpp"
#include "sim/scenario.hpp"
#include "sim/simulation.hpp"
#include "tests/scripted_pilot.hpp"

using namespace dualpilot;
using policy::GuardSample;
using policy::HarmGuardConfig;
using policy::HarmGuardQueue;

namespace {

constexpr uint64_t kMs = 1000000;

// n decisions 1 ms apart from t0; each as given.
uint64_t feed(HarmGuardQueue &q, const HarmGuardConfig &c, uint64_t t0, int n, GuardSample s, uint64_t *tripped_at)
{
	for (int i = 0; i < n; i++) {
		s.now_ns = t0 + static_cast<uint64_t>(i) * kMs;
		if (policy::harm_guard_observe(q, c, s) && tripped_at && *tripped_at == 0)
			*tripped_at = s.now_ns;
	}
	return t0 + static_cast<uint64_t>(n) * kMs;
}

} // namespace

// Marking what the AQM forwards while the queue is drained: backed off
// after trip_intervals intervals (2 x 200 ms), not before.
TEST(HarmGuard, OverSignallingOnADrainedQueueBacksOffAfterTwoIntervals)
{
	const HarmGuardConfig c;
	HarmGuardQueue q;
	uint64_t tripped = 0;
	feed(q, c, 1000 * kMs, 800, {0, 600000, 0, 0, 2, true}, &tripped);
	ASSERT_NE(tripped, 0u);
	EXPECT_LE(tripped - 1000 * kMs, 2 * c.interval_ns + 2 * kMs);
	EXPECT_GE(tripped - 1000 * kMs, 2 * c.interval_ns - 2 * kMs);
	EXPECT_EQ(q.backoffs, 1u);
	EXPECT_TRUE(policy::harm_guard_backed_off(q, tripped + c.backoff_ns - 1));
	EXPECT_FALSE(policy::harm_guard_backed_off(q, tripped + c.backoff_ns));
}

// The same marks on a standing queue (backlog above empty_bytes) are the
// pilot's judgement, not harm; and a pilot agreeing with the AQM never trips.
TEST(HarmGuard, SignalsOnAStandingQueueAndAgreementAreNotHarm)
{
	const HarmGuardConfig c;
	HarmGuardQueue q;
	uint64_t tripped = 0;
	feed(q, c, 0, 2000, {0, 5 * kMs, 60000, 0, 2, true}, &tripped);
	feed(q, c, 2000 * kMs, 2000, {0, 20 * kMs, 60000, 1, 1, false}, &tripped);
	EXPECT_EQ(tripped, 0u);
	EXPECT_EQ(q.backoffs, 0u);
}

// Withholding the AQM's drops while the Classic queue sits above target.
TEST(HarmGuard, UnderSignallingAboveTargetBacksOff)
{
	const HarmGuardConfig c;
	HarmGuardQueue q;
	uint64_t tripped = 0;
	feed(q, c, 0, 800, {0, 30 * kMs, 200000, 1, 0, false}, &tripped);
	EXPECT_NE(tripped, 0u);
}

// Each further back-off of a queue lasts twice as long, up to the cap.
TEST(HarmGuard, RepeatedBackoffsDoubleUpToTheCap)
{
	HarmGuardConfig c;
	c.max_backoff_ns = 4 * c.backoff_ns;
	HarmGuardQueue q;
	uint64_t t = 0;
	std::vector<uint64_t> lengths;
	for (int k = 0; k < 4; k++) {
		uint64_t tripped = 0;
		while (tripped == 0)
			t = feed(q, c, t, 10, {0, 600000, 0, 0, 2, true}, &tripped);
		lengths.push_back(q.backed_off_until_ns - tripped);
		t = q.backed_off_until_ns;
	}
	EXPECT_EQ(lengths, (std::vector<uint64_t>{c.backoff_ns, 2 * c.backoff_ns, 4 * c.backoff_ns, 4 * c.backoff_ns}));
}

TEST(HarmGuard, DisabledNeverBacksOff)
{
	HarmGuardConfig c;
	c.enabled = false;
	HarmGuardQueue q;
	uint64_t tripped = 0;
	feed(q, c, 0, 1000, {0, 600000, 0, 0, 2, true}, &tripped);
	EXPECT_EQ(tripped, 0u);
}

// In the simulator's closed loop, a policy that asks to mark everything (the
// guard rails cap it at 50 % and make the marks on Not-ECT packets drops)
// is backed off within the documented time: trip_intervals intervals of
// at least 200 ms and 8 sampled decisions each after its first override (at
// 20 Mbit/s and a call every 10 decisions the L4S queue is sampled ~50 times
// a second, so an interval is ~200 ms), plus the time the queue takes to
// drain (a few RTTs of 20 ms); here 1 s. With the guard, the run keeps more
// of the link than without it (measured 32.7 against 29.5 %: DualPI2's own
// L4S marks stand beside the policy's, and the Classic queue, sampled a few
// times a second once its flows collapse, is judged slowly).
TEST(HarmGuard, SimulatorBacksOffAMarkEverythingPolicy)
{
	sim::Scenario sc;
	ASSERT_EQ(sim::parse_scenario(R"(
name = "bad-model"
duration = "10s"
warmup = "2s"
[bottleneck]
rate = "20mbit"
[[flows]]
cc = "cubic"
count = 2
rtt = "20ms"
[[flows]]
cc = "scalable"
count = 2
rtt = "20ms"
)",
				      "bad-model", sc),
		  "");
	auto run = [&](bool guard) {
		sim::RunOptions opt;
		opt.seed = 3;
		auto marks_everything = testkit::scripted_pilot([](const float *, uint32_t, std::array<float, 3> &p) {
			p = {0, 0, 1};
			return true;
		});
		opt.pilot = marks_everything.get();
		opt.inference_interval = 10;
		opt.decision_delay_ns = 20000;
		opt.override_ttl_ns = 0; // held until replaced: the policy's harm in full
		opt.harm_guard.enabled = guard;
		return sim::run_scenario(sc, std::move(*aqm::make_aqm("dualpi2", {}, 3).aqm), opt);
	};
	const sim::RunResult with = run(true), without = run(false);
	ASSERT_GT(with.overridden, 0u);
	ASSERT_GE(with.pilot_backoffs, 1u);
	EXPECT_LE(with.first_backoff_ns - with.first_override_ns, 1000 * kMs);
	EXPECT_EQ(without.pilot_backoffs, 0u);
	EXPECT_GT(with.utilisation_measured, without.utilisation_measured + 0.01)
		<< "with the guard " << with.utilisation_measured << ", without " << without.utilisation_measured;
}

// The guard rails (policy/guard_rails.hpp): a policy may add L4S marks but
// never withhold DualPI2's (its coupling keeps L4S flows to their share);
// it may withhold a Classic drop, and its L4S drops become marks.
TEST(GuardRails, DualPi2sL4sMarkStandsAndAClassicDropMayBeWithheld)
{
	const policy::GuardRails g{0, 1.0};
	const policy::OverrideProbs forward_all{0, 0}, drop_all{65536, 0};
	aqm::Dequeued d{};
	d.pkt.ecn = aqm::Ecn::ect1;
	d.queue = aqm::QueueId::l4s;
	d.sojourn_ns = 5000000;
	d.verdict = aqm::Verdict::forward_ce;
	EXPECT_EQ(policy::override_verdict(forward_all, 0, d, g), aqm::Verdict::forward_ce);
	EXPECT_EQ(policy::override_verdict(drop_all, 0, d, g), aqm::Verdict::forward_ce);
	d.verdict = aqm::Verdict::forward;
	EXPECT_EQ(policy::override_verdict(forward_all, 0, d, g), aqm::Verdict::forward);
	d.pkt.ecn = aqm::Ecn::not_ect;
	d.queue = aqm::QueueId::classic;
	d.verdict = aqm::Verdict::drop;
	EXPECT_EQ(policy::override_verdict(forward_all, 0, d, g), aqm::Verdict::forward);
}
