// The simulator against known results: bufferbloat under FIFO, DualPI2
// holding Classic at its target and L4S near the step threshold, the
// coupling's fairness, and determinism.
#include <gtest/gtest.h>

#include <string>

#include "sim/scenario.hpp"
#include "sim/simulation.hpp"
#include "tests/scripted_pilot.hpp"

namespace dualpilot::sim {
namespace {

Scenario scenario(const std::string &toml)
{
	Scenario s;
	const std::string err = parse_scenario(toml, "test.toml", s);
	EXPECT_EQ(err, "");
	return s;
}

RunResult run(const Scenario &s, const std::string &aqm_name, const std::string &tc_args = "",
	      uint64_t seed = 1, bool pool = false)
{
	std::vector<aqm::Setting> settings;
	EXPECT_EQ(aqm::split_tc_args(aqm_name, tc_args, settings), "");
	auto built = aqm::make_aqm(aqm_name, settings, seed);
	EXPECT_EQ(built.error, "");
	RunOptions opt;
	opt.seed = seed;
	opt.record_pool = pool;
	return run_scenario(s, std::move(built.aqm.value()), opt);
}

double ms(uint64_t ns) { return static_cast<double>(ns) / 1e6; }

// Two Reno flows into a 200-packet FIFO: 240 ms of buffer at 10 Mbit/s,
// about 12 bandwidth-delay products at 20 ms.
TEST(Sim, FifoWithDeepBufferKeepsAStandingQueue)
{
	const Scenario s = scenario(R"(
		duration = "40s"
		warmup = "10s"
		[bottleneck]
		rate = "10mbit"
		[[flows]]
		cc = "reno"
		count = 2
		rtt = "20ms"
	)");
	const RunResult r = run(s, "fifo", "limit 200");
	const QueueStats &c = r.queues[0];
	const double buffer_ms = 200 * 1500 * 8 / 10e6 * 1e3; // 240 ms
	EXPECT_GT(ms(c.delay.percentile_ns(0.99)), 0.9 * buffer_ms);
	EXPECT_GT(ms(c.delay.percentile_ns(0.5)), 0.5 * buffer_ms);
	EXPECT_GT(c.overflow_drops, 0u);
	// Goodput over capacity: a full-size TCP packet carries 1448 of its 1500
	// bytes, so a saturated link reads at most 96.5 %.
	EXPECT_GE(r.utilisation_measured, 0.95);
}

TEST(Sim, Dualpi2HoldsClassicDelayAtTargetWithFullUtilisation)
{
	const Scenario s = scenario(R"(
		duration = "60s"
		warmup = "10s"
		[bottleneck]
		rate = "20mbit"
		[[flows]]
		cc = "reno"
		count = 2
		rtt = "20ms"
		[[flows]]
		cc = "cubic"
		count = 2
		rtt = "20ms"
	)");
	const RunResult r = run(s, "dualpi2");
	const QueueStats &c = r.queues[0];
	const double mean_ms = c.delay.mean_ns() / 1e6;
	EXPECT_GE(mean_ms, 10.0);
	EXPECT_LE(mean_ms, 20.0);
	EXPECT_GE(r.utilisation_measured, 0.95);
	EXPECT_GT(c.aqm_drops, 0u);
	EXPECT_EQ(c.overflow_drops, 0u);
}

TEST(Sim, Dualpi2KeepsL4sQueueDelayUnderTwoMsBesideClassicFlows)
{
	const Scenario s = scenario(R"(
		duration = "40s"
		warmup = "10s"
		[bottleneck]
		rate = "100mbit"
		[[flows]]
		cc = "scalable"
		count = 2
		rtt = "20ms"
		[[flows]]
		cc = "cubic"
		count = 2
		rtt = "20ms"
	)");
	const RunResult r = run(s, "dualpi2");
	const QueueStats &l = r.queues[1];
	const QueueStats &c = r.queues[0];
	ASSERT_GT(l.forwarded, 10000u);
	ASSERT_GT(c.forwarded, 10000u); // the Classic flows really share the link
	EXPECT_LE(ms(l.delay.percentile_ns(0.99)), 2.0);
	EXPECT_GT(l.marks, 0u);
	EXPECT_GE(r.utilisation_measured, 0.95);
}

// One Reno (ECN) and one scalable flow, equal RTTs.
const char *kRenoVsScalable = R"(
	duration = "60s"
	warmup = "10s"
	[bottleneck]
	rate = "40mbit"
	[[flows]]
	name = "reno"
	cc = "reno"
	ecn = true
	rtt = "20ms"
	[[flows]]
	name = "scalable"
	cc = "scalable"
	rtt = "20ms"
)";

double reno_over_scalable(const RunResult &r)
{
	return r.goodput_bps(r.flows[0]) / r.goodput_bps(r.flows[1]);
}

TEST(Sim, CouplingSharesTheLinkBetweenRenoAndScalable)
{
	const RunResult r = run(scenario(kRenoVsScalable), "dualpi2");
	const double ratio = reno_over_scalable(r);
	EXPECT_GT(ratio, 0.5);
	EXPECT_LT(ratio, 2.0);
}

TEST(Sim, PlainStepMarkingStarvesRenoBesideScalable)
{
	// One queue that CE-marks every ECN packet over 1 ms: both flows see the
	// same marks, Reno halves on them, the scalable flow barely moves.
	const RunResult r = run(scenario(kRenoVsScalable), "fifo", "limit 1000 ce_threshold 1ms");
	EXPECT_LT(reno_over_scalable(r), 0.25);
}

TEST(Sim, SameSeedGivesIdenticalPools)
{
	const Scenario s = scenario(R"(
		duration = "10s"
		warmup = "1s"
		[bottleneck]
		rate = "8mbit"
		[[flows]]
		cc = "cubic"
		ecn = true
		count = 2
		[[flows]]
		cc = "scalable"
	)");
	auto hash = [](const experience::Pool &p) {
		uint64_t h = common::fnv1a64(p.states.data(), p.states.size() * sizeof(float));
		h = common::fnv1a64(p.actions.data(), p.actions.size(), h);
		h = common::fnv1a64(p.rewards.data(), p.rewards.size() * sizeof(float), h);
		return common::fnv1a64(p.dones.data(), p.dones.size(), h);
	};
	const RunResult a = run(s, "dualpi2", "", 7, true);
	const RunResult b = run(s, "dualpi2", "", 7, true);
	const RunResult c = run(s, "dualpi2", "", 8, true);
	ASSERT_GT(a.pool.size(), 1000u);
	EXPECT_EQ(hash(a.pool), hash(b.pool));
	EXPECT_NE(hash(a.pool), hash(c.pool));
	EXPECT_EQ(a.pool.dones.back(), 1);
	// Every decision is in the pool: forwarded, marked and dropped packets.
	uint64_t decisions = 0;
	for (const QueueStats &q : a.queues)
		decisions += q.aqm_drops + q.overflow_drops;
	EXPECT_GE(a.pool.size(), decisions);
}

TEST(Sim, UdpFlowsSendAtTheirRateWithTheirCodepoint)
{
	const Scenario s = scenario(R"(
		duration = "10s"
		warmup = "1s"
		[bottleneck]
		rate = "100mbit"
		[[flows]]
		cc = "udp"
		ecn = "ect1"
		rate = "30mbit"
		size = 1000
	)");
	const RunResult r = run(s, "dualpi2");
	EXPECT_NEAR(r.goodput_bps(r.flows[0]) / 1e6, 30.0 * (1000 - 28) / 1000, 0.1); // payload: 28 bytes of IPv4 + UDP off
	EXPECT_EQ(r.queues[0].forwarded, 0u); // ECT(1): all in L
	EXPECT_GT(r.queues[1].forwarded, 30000u);
}

TEST(Scenario, ErrorsNameTheLineAndTheKey)
{
	Scenario s;
	EXPECT_EQ(parse_scenario("duration = \"1s\"\nwarmup = \"0s\"\n[bottleneck]\nrate = \"8mbit\"\n"
				 "[[flows]]\ncc = \"bbr\"\n",
				 "x.toml", s),
		  "x.toml:6: cc: unknown congestion control 'bbr' (known: reno cubic scalable udp)");
	EXPECT_NE(parse_scenario("[bottleneck]\nrate = \"8 furlongs\"\n", "x.toml", s).find("x.toml:2: rate: unknown rate unit"),
		  std::string::npos);
	EXPECT_NE(parse_scenario("colour = 1\n", "x.toml", s).find("x.toml:1: colour: unknown key"), std::string::npos);
	EXPECT_NE(parse_scenario("[bottleneck]\nrate = \"8mbit\"\n[bottleneck.dualpi2]\ntarget = \"0ms\"\n"
				 "[[flows]]\ncc = \"reno\"\n",
				 "x.toml", s)
			  .find("dualpi2: target must be greater than 0"),
		  std::string::npos);
	EXPECT_NE(parse_scenario("[bottleneck]\nrate = \"8mbit\"\n", "x.toml", s).find("flows: missing"),
		  std::string::npos);
	EXPECT_NE(parse_scenario("duration = [", "x.toml", s).find("x.toml:1:"), std::string::npos);
	EXPECT_NE(load_scenario("/nonexistent.toml", s).find("cannot open"), std::string::npos);
}

} // namespace
} // namespace dualpilot::sim

namespace dualpilot::sim {
namespace {

// A policy that orders every packet dropped, computed from the first state
// it sees: it must bite exactly decision_delay later, not before. (Guard
// rails off: they are the next test's subject.)
TEST(Sim, PolicyOverridesTakeEffectAfterTheDecisionDelay)
{
	const Scenario s = scenario(R"(
		duration = "4s"
		warmup = "0s"
		[bottleneck]
		rate = "10mbit"
		[[flows]]
		cc = "udp"
		ecn = "not-ect"
		rate = "5mbit"
		start = "1s"
	)");
	for (uint64_t delay_ms : {0u, 20u, 500u}) {
		RunOptions opt;
		opt.decision_delay_ns = delay_ms * 1000000;
		opt.inference_interval = 10;
		opt.guard = {0, 1.0};
		auto pilot = testkit::scripted_pilot([&](const float *state, uint32_t q, std::array<float, 3> &p) {
			EXPECT_EQ(q, static_cast<uint32_t>(aqm::QueueId::classic));
			EXPECT_EQ(state[0], 0.0f);
			p = {0, 1, 0};
			return true;
		});
		opt.pilot = pilot.get();
		auto built = aqm::make_aqm("dualpi2", {});
		const RunResult r = run_scenario(s, std::move(*built.aqm), opt);
		const uint64_t first_call_ns = r.first_policy_call_ns;
		ASSERT_GT(first_call_ns, 0u);
		EXPECT_GE(r.first_override_ns, first_call_ns + delay_ms * 1000000);
		// UDP at 5 Mbit/s of 1200 B: a packet every 1.92 ms.
		EXPECT_LT(r.first_override_ns, first_call_ns + delay_ms * 1000000 + 2000000);
		EXPECT_GT(r.overridden, 0u);
		EXPECT_GT(r.queues[0].aqm_drops, 0u);
	}
}

TEST(Sim, ExpiredOverridesHandTheQueueBackToTheAqm)
{
	const Scenario s = scenario(R"(
		duration = "4s"
		warmup = "0s"
		[bottleneck]
		rate = "10mbit"
		[[flows]]
		cc = "udp"
		ecn = "not-ect"
		rate = "5mbit"
	)");
	RunOptions opt;
	opt.override_ttl_ns = 100000000; // 100 ms
	opt.guard = {0, 1.0};
	bool answered = false;
	auto pilot = testkit::scripted_pilot([&](const float *, uint32_t, std::array<float, 3> &p) {
		p = {0, 1, 0};
		const bool first = !answered;
		answered = true;
		return first; // one answer, then silence (a stalled policy)
	});
	opt.pilot = pilot.get();
	auto built = aqm::make_aqm("dualpi2", {});
	const RunResult r = run_scenario(s, std::move(*built.aqm), opt);
	// 100 ms of drops at one packet per 1.92 ms, then DualPI2 alone (no drops
	// at half the link rate).
	EXPECT_NEAR(static_cast<double>(r.queues[0].aqm_drops), 100 / 1.92, 2);
	EXPECT_GT(r.queues[0].forwarded, 1500u);
}

// The router's guard rails hold in the closed loop too: a policy ordering
// every packet dropped takes at most max_prob of them, never one whose
// sojourn is below min_delay, and marks L4S packets instead of dropping them.
TEST(Sim, PolicyOverridesStayInsideTheGuardRails)
{
	const Scenario s = scenario(R"(
		duration = "4s"
		warmup = "0s"
		[bottleneck]
		rate = "10mbit"
		[[flows]]
		name = "classic"
		cc = "udp"
		ecn = "not-ect"
		rate = "4mbit"
		[[flows]]
		name = "l4s"
		cc = "udp"
		ecn = "ect1"
		rate = "4mbit"
	)");
	auto everything_dropped = testkit::scripted_pilot([](const float *, uint32_t, std::array<float, 3> &p) {
		p = {0, 1, 0};
		return true;
	});
	RunOptions opt;
	opt.pilot = everything_dropped.get();
	opt.guard = {0, 0.25};
	// The guard rails alone: the harm guard would rightly back this policy
	// off (it drops on a queue that never stands); test_harm_guard has that.
	opt.harm_guard.enabled = false;
	auto built = aqm::make_aqm("dualpi2", {});
	RunResult r = run_scenario(s, std::move(*built.aqm), opt);
	const QueueStats &c = r.queues[0], &l = r.queues[1];
	// Classic: about a quarter dropped; L4S: none dropped, about a quarter marked.
	const double c_share = static_cast<double>(c.aqm_drops) / static_cast<double>(c.aqm_drops + c.forwarded);
	EXPECT_NEAR(c_share, 0.25, 0.05);
	EXPECT_EQ(l.aqm_drops, 0u);
	EXPECT_NEAR(static_cast<double>(l.marks) / static_cast<double>(l.forwarded), 0.25, 0.05);
	// 8 of 10 Mbit/s offered: the queues stay far below a 100 ms minimum delay.
	opt.guard = {100000000, 1.0};
	built = aqm::make_aqm("dualpi2", {});
	r = run_scenario(s, std::move(*built.aqm), opt);
	EXPECT_EQ(r.queues[0].aqm_drops, 0u);
	EXPECT_EQ(r.queues[1].marks, 0u);
}

// Paired seeds: the traffic a seed fixes (flows, start times, short flows'
// arrivals and object sizes, UDP sends) is the same whatever the AQM's
// settings or a policy's overrides, so per-seed ratios compare like with like.
TEST(Sim, TwoPoliciesOnTheSameSeedSeeIdenticalArrivals)
{
	const Scenario s = scenario(R"(
		duration = "6s"
		warmup = "1s"
		[bottleneck]
		rate = "20mbit"
		[[flows]]
		cc = "cubic"
		count = 3
		rtt = "20ms"
		[[flows]]
		cc = "scalable"
		arrival_rate = 30
		mean_packets = 20
		rtt = "20ms"
		[[flows]]
		cc = "udp"
		rate = "2mbit"
		start = "2s"
	)");
	auto aqm_of = [](std::vector<aqm::Setting> settings) { return std::move(*aqm::make_aqm("dualpi2", settings, 3).aqm); };
	RunOptions plain;
	plain.seed = 3;
	const RunResult a = run_scenario(s, aqm_of({}), plain);
	const RunResult b = run_scenario(s, aqm_of({{"target", "2ms"}, {"coupling_factor", "4"}}), plain);
	RunOptions piloted = plain;
	auto halves = testkit::scripted_pilot([](const float *, uint32_t, std::array<float, 3> &p) {
		p = {0.5f, 0.5f, 0.0f}; // drops all the guard rails let it
		return true;
	});
	piloted.pilot = halves.get();
	const RunResult c = run_scenario(s, aqm_of({}), piloted);
	ASSERT_GT(a.flows.size(), 100u) << "about 150 short flows expected";
	EXPECT_GT(c.overridden, 0u);
	for (const RunResult *other : {&b, &c}) {
		ASSERT_EQ(other->flows.size(), a.flows.size());
		for (size_t i = 0; i < a.flows.size(); i++) {
			EXPECT_EQ(other->flows[i].name, a.flows[i].name);
			EXPECT_EQ(other->flows[i].start_ns, a.flows[i].start_ns) << a.flows[i].name;
			EXPECT_EQ(other->flows[i].object_packets, a.flows[i].object_packets) << a.flows[i].name;
		}
		EXPECT_EQ(other->flows.back().sent_pkts, a.flows.back().sent_pkts) << "UDP sends";
	}
	// A different seed draws different traffic.
	RunOptions seed4 = plain;
	seed4.seed = 4;
	const RunResult d = run_scenario(s, aqm_of({}), seed4);
	EXPECT_NE(d.flows[1].start_ns, a.flows[1].start_ns);
}

// Short flows carry their objects and end; a rate change takes effect: the
// capacity the objective divides by is the rate's integral.
TEST(Sim, ShortFlowsFinishTheirObjectsAndRateChangesSetTheCapacity)
{
	const Scenario s = scenario(R"(
		duration = "10s"
		warmup = "2s"
		[bottleneck]
		rate = "40mbit"
		changes = [{at = "4s", rate = "10mbit"}, {at = "6s", rate = "40mbit"}]
		[[flows]]
		cc = "cubic"
		arrival_rate = 20
		mean_packets = 10
		rtt = "10ms"
	)");
	const RunResult r = run(s, "dualpi2");
	EXPECT_DOUBLE_EQ(r.measured.capacity_bits, 40e6 * 2 + 10e6 * 2 + 40e6 * 4);
	uint64_t objects = 0, delivered = 0;
	for (const FlowStats &f : r.flows) {
		objects += f.object_packets;
		delivered += f.start_ns >= 2000000000 && f.start_ns < 9000000000 ? f.goodput_bytes / 1448 : 0;
	}
	EXPECT_GT(objects, 1000u);
	// A light load (about 20 x 10 packets a second): what starts in the
	// measured time, bar the last second, is delivered whole.
	uint64_t wanted = 0;
	for (const FlowStats &f : r.flows)
		wanted += f.start_ns >= 2000000000 && f.start_ns < 9000000000 ? f.object_packets : 0;
	EXPECT_EQ(delivered, wanted);
}

} // namespace
} // namespace dualpilot::sim
