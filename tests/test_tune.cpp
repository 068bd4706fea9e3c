// The tuner (issue 27): its state records and features, its config's rails,
// and the simulator running the tuner loop: settings applied without
// touching the PI state or the queue, stale ones never applied, the base
// back on expiry, the harm guard on a model that drives the target up.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "aqm/dualpi2.hpp"
#include "experience/tune_state.hpp"
#include "policy/tune.hpp"
#include "policy/tune_loop.hpp"
#include "sim/scenario.hpp"
#include "sim/simulation.hpp"
#include "sim/tally.hpp"
#include "sim/tune_data.hpp"
#include "tests/scripted_pilot.hpp"

using namespace dualpilot;

namespace {

std::unique_ptr<policy::TuneLoop> scripted_tuner(testkit::TuneScript script, const policy::TuneConfig &tune = {})
{
	auto loop = std::make_unique<policy::TuneLoop>();
	aqm::DualPi2Params base;
	EXPECT_EQ(aqm::dualpi2_finalize(base), "");
	policy::TuneLoopConfig c;
	c.tune = tune;
	EXPECT_EQ(loop->init(c, {{base, 0}},
			     std::make_unique<testkit::ScriptedTuner>(std::move(script), policy::tune_actions(tune).size())),
		  "");
	return loop;
}

sim::Scenario scenario(const char *rate, const char *rtt, const char *flows)
{
	sim::Scenario sc;
	const std::string text = std::string("name = \"tune\"\nduration = \"6s\"\nwarmup = \"1s\"\n[bottleneck]\nrate = \"") +
				 rate + "\"\n" + flows;
	EXPECT_EQ(sim::parse_scenario(std::string(text).replace(text.find("RTT"), 3, rtt), "tune", sc), "");
	return sc;
}

constexpr const char *kMixedFlows = "[[flows]]\ncc = \"cubic\"\ncount = 2\nrtt = \"RTT\"\n"
				    "[[flows]]\ncc = \"scalable\"\ncount = 2\nrtt = \"20ms\"\n";

sim::RunResult run(const sim::Scenario &sc, sim::RunOptions opt)
{
	const std::vector<aqm::Setting> base{{"target", "5ms"}, {"step_thresh", "2ms"}};
	auto built = aqm::make_aqm("dualpi2", base, opt.seed);
	EXPECT_TRUE(built.aqm.has_value());
	return sim::run_scenario(sc, std::move(*built.aqm), opt);
}

} // namespace

TEST(TuneState, SojournBinsAreHalfOctaves)
{
	EXPECT_EQ(experience::sojourn_bin(0), 0u);
	EXPECT_EQ(experience::sojourn_bin(1000), 0u);
	EXPECT_EQ(experience::sojourn_bin(1500), 1u);
	EXPECT_EQ(experience::sojourn_bin(2000), 2u);
	EXPECT_EQ(experience::sojourn_bin(3000), 3u);
	EXPECT_EQ(experience::sojourn_bin(uint64_t{1} << 62), static_cast<uint32_t>(experience::kSojournBins - 1));
	// A bin's value lies inside it.
	for (int b = 0; b + 1 < experience::kSojournBins; b++)
		EXPECT_EQ(experience::sojourn_bin(static_cast<uint64_t>(experience::sojourn_bin_ns(b))), static_cast<uint32_t>(b));
}

// 10 Mbit/s, 10 ms steps: 12500 bytes a step at full rate.
TEST(TuneState, FeaturesReadWhatTheQueuesDid)
{
	experience::TuneCounter counter;
	experience::TuneFeatureState fs;
	counter.start(0);
	for (int step = 1; step <= 10; step++) {
		const uint64_t t0 = (step - 1) * 10000000ull;
		counter.arrive(t0 + 2000000, 6250); // empty for the first 2 ms of each step
		for (int i = 0; i < 4; i++)
			counter.forward(0, 8000000, 1000, i == 0); // Classic, 8 ms
		for (int i = 0; i < 2; i++)
			counter.forward(1, 1000000, 1000, true); // L4S, 1 ms, marked
		counter.drop(0);
		counter.drained(t0 + 9000000); // and empty again for the last 1 ms
		fs.add(counter.close(step * 10000000ull, 10000000, 1u << 30, experience::kBaseSetting));
	}
	const experience::TuneSettingView in_force{5e6, 100e6, 2e6, 2};
	const experience::TuneState f = fs.features(in_force, 39000000, 200000000);
	EXPECT_NEAR(f[0], 0.48, 1e-6); // 6000 of 12500 bytes a step
	EXPECT_NEAR(f[2], 0.48, 1e-6);
	EXPECT_NEAR(f[3], 0.5, 1e-6);  // 6250 offered
	EXPECT_NEAR(f[4], 0.3, 1e-6);  // 3 of 10 ms empty
	EXPECT_NEAR(f[5], 0.0, 1e-6); // empty at the end
	EXPECT_NEAR(f[6], 8.0 / 5.0, 8.0 / 5.0 * 0.42);
	EXPECT_NEAR(f[7], 8.0 / 5.0, 1e-6);
	EXPECT_NEAR(f[9], 0.5, 1e-6);
	EXPECT_NEAR(f[10], 0.25, 1e-6);
	EXPECT_NEAR(f[12], 0.2, 1e-6); // 1 mark of 5 Classic packets
	EXPECT_NEAR(f[13], 0.2, 1e-6);
	EXPECT_NEAR(f[14], 1.0, 1e-6);
	EXPECT_NEAR(f[16], 2.0 / 7.0, 1e-6);
	EXPECT_NEAR(f[17], 1.0, 1e-6);  // 10 Mbit/s
	EXPECT_NEAR(f[18], std::log10(5.0), 1e-6);
	EXPECT_NEAR(f[22], std::log10(40.0), 1e-6);
	EXPECT_NEAR(f[23], std::log10(200.0), 1e-6);
}

TEST(TuneConfig, BinsOutsideTheRailsAreRefused)
{
	policy::TuneConfig c;
	EXPECT_EQ(policy::check_tune_config(c), "");
	EXPECT_EQ(policy::tune_actions(c).size(), 36u);
	c.targets_ns.push_back(200000000);
	EXPECT_NE(policy::check_tune_config(c).find("targets: 200ms is outside the rails"), std::string::npos);
	c = {};
	c.couplings = {0};
	EXPECT_NE(policy::check_tune_config(c).find("couplings"), std::string::npos);
	c = {};
	c.interval_ns = 1000000;
	EXPECT_NE(policy::check_tune_config(c).find("tune_interval"), std::string::npos);
	c = {};
	c.ttl_ns = c.interval_ns / 2;
	EXPECT_NE(policy::check_tune_config(c).find("tune_ttl"), std::string::npos);
}

// A setting changes the PI's parameters and nothing else: the queued
// packets, p' and the rest of the configuration stay.
TEST(TuneConfig, ASettingKeepsThePiStateAndTheQueue)
{
	aqm::DualPi2Params base;
	base.limit_pkts = 5000;
	base.any_ect = true;
	ASSERT_EQ(aqm::dualpi2_finalize(base), "");
	aqm::DualPi2 q(base);
	for (uint64_t i = 0; i < 300; i++)
		q.enqueue({i * 1000, i, 1500, aqm::Ecn::not_ect, 0});
	q.tick(200000000); // PI updates over a standing queue raise p'
	const uint32_t prob = q.prob_q32();
	const uint64_t backlog = q.backlog_pkts();
	ASSERT_GT(prob, 0u);
	aqm::DualPi2Params tuned;
	ASSERT_EQ(policy::tuned_params(base, {30000000, 200000000, 500000, 3}, tuned), "");
	q.change(tuned);
	EXPECT_EQ(q.prob_q32(), prob);
	EXPECT_EQ(q.backlog_pkts(), backlog);
	EXPECT_EQ(q.params().target_ns, 30000000u);
	EXPECT_EQ(q.params().coupling_factor, 3u);
	EXPECT_EQ(q.params().limit_pkts, 5000u);
	EXPECT_TRUE(q.params().any_ect);
}

// A scripted schedule: the setting comes into force when scheduled, and the
// features of every 100 ms interval are recorded with it.
TEST(SimTuner, ScheduleSetsTheSettingInForce)
{
	const sim::Scenario sc = scenario("20mbit", "20ms", kMixedFlows);
	sim::RunOptions opt;
	opt.seed = 2;
	opt.record_tune_states = true;
	opt.tune_schedule = {{0, experience::kBaseSetting}, {3000000000ull, 35}};
	const sim::RunResult r = run(sc, opt);
	ASSERT_EQ(r.tune_error, "");
	ASSERT_EQ(r.tune_states.size(), 60u);
	for (const auto &t : r.tune_states) {
		EXPECT_EQ(t.in_force, t.at_ns < 3000000000ull ? experience::kBaseSetting : 35) << t.at_ns;
		// target_log: the base's 5 ms, then action 35's 30 ms.
		EXPECT_NEAR(t.state[18], std::log10(t.at_ns < 3000000000ull ? 5.0 : 30.0), 1e-5) << t.at_ns;
	}
	EXPECT_NE(r.aqm_description.find("target 30ms"), std::string::npos) << r.aqm_description;
	EXPECT_GT(r.tune_states.back().state[1], 0.5); // the link is busy
}

// With the decision delay over tune_ttl every record arrives stale: none is
// applied, the base holds throughout.
TEST(SimTuner, AStaleSettingIsNeverApplied)
{
	const sim::Scenario sc = scenario("20mbit", "20ms", kMixedFlows);
	auto loop = scripted_tuner([](const float *) { return 35; });
	sim::RunOptions opt;
	opt.tuner = loop.get();
	opt.decision_delay_ns = 600000000; // over the 500 ms TTL
	const sim::RunResult r = run(sc, opt);
	EXPECT_EQ(r.tune_applied, 0u);
	EXPECT_GT(r.tune_stale, 40u);
	ASSERT_EQ(r.tune_held_ns.size(), 37u);
	EXPECT_EQ(r.tune_held_ns[35], 0u);
	EXPECT_EQ(r.tune_held_ns[36], 6000000000ull);
}

// One decision, then non-finite outputs: the setting holds until its state
// is tune_ttl old, then the base returns.
TEST(SimTuner, TheBaseReturnsOnExpiry)
{
	const sim::Scenario sc = scenario("20mbit", "20ms", kMixedFlows);
	int calls = 0;
	policy::TuneConfig tune;
	tune.harm_classic_factor = 100; // target 30 ms over a base of 5 ms: not what this test is about
	auto loop = scripted_tuner([&](const float *) { return calls++ == 0 ? 35 : -1; }, tune);
	sim::RunOptions opt;
	opt.tuner = loop.get();
	opt.tune = tune;
	opt.decision_delay_ns = 39000000;
	const sim::RunResult r = run(sc, opt);
	EXPECT_EQ(r.tune_applied, 1u);
	EXPECT_EQ(r.tune_expired, 1u);
	EXPECT_EQ(loop->stats().invalid_outputs, 59u);
	// In force from 100 ms + 39 ms to 100 ms + 500 ms, counted in 10 ms steps.
	EXPECT_NEAR(static_cast<double>(r.tune_held_ns[35]), 460e6, 10e6);
}

// Flows that start 2 s into the run: the idle intervals before them are not
// given to the model (it never saw an idle link), and the base holds until
// the link is loaded; from then on the model decides every interval.
TEST(SimTuner, AnIdlePortIsNotDecidedOn)
{
	const sim::Scenario sc =
		scenario("20mbit", "20ms", "[[flows]]\ncc = \"cubic\"\ncount = 2\nrtt = \"RTT\"\nstart = \"2s\"\n");
	policy::TuneConfig tune;
	tune.harm_classic_factor = 100; // target 30 ms over a base of 5 ms: not what this test is about
	auto loop = scripted_tuner([](const float *) { return 35; }, tune);
	sim::RunOptions opt;
	opt.tuner = loop.get();
	opt.tune = tune;
	const sim::RunResult r = run(sc, opt);
	const policy::TuneStats &s = loop->stats();
	EXPECT_EQ(s.intervals, 60u);
	EXPECT_EQ(s.idle_intervals + s.decisions, s.intervals);
	EXPECT_GE(s.idle_intervals, 19u); // 0-2 s, and the first interval of the flows' slow start at most
	EXPECT_LE(s.idle_intervals, 21u);
	ASSERT_EQ(r.tune_held_ns.size(), 37u);
	EXPECT_GE(r.tune_held_ns[36], 2000000000ull); // the base, while idle
	EXPECT_GE(r.tune_held_ns[35], 3500000000ull); // the model's choice, once loaded
	// idle_load 0: every interval is decided, the idle ones included.
	tune.idle_load = 0;
	auto always = scripted_tuner([](const float *) { return 35; }, tune);
	opt.tuner = always.get();
	opt.tune = tune;
	(void)run(sc, opt);
	EXPECT_EQ(always->stats().idle_intervals, 0u);
	EXPECT_EQ(always->stats().decisions, 60u);
}

// A model that drives the target to its rail under a Classic load: the
// Classic queue stands far above the base's 5 ms and the guard sends the
// port back to its base, counted.
TEST(SimTuner, TheHarmGuardBacksOffATargetAtItsMaximum)
{
	const sim::Scenario sc = scenario("10mbit", "20ms",
					  "[[flows]]\ncc = \"cubic\"\ncount = 4\nrtt = \"RTT\"\n");
	policy::TuneConfig tune;
	tune.targets_ns = {5000000, 45000000};
	auto loop = scripted_tuner([](const float *) { return 12; }, tune); // target 45 ms
	ASSERT_EQ(policy::tune_actions(tune)[12].target_ns, 45000000u);
	sim::RunOptions opt;
	opt.tuner = loop.get();
	opt.tune = tune;
	const sim::RunResult r = run(sc, opt);
	EXPECT_GE(loop->stats().pilot_backoffs, 1u);
	EXPECT_GE(r.tune_withdrawn, 1u);
	EXPECT_GT(r.tune_held_ns.back(), 1000000000u); // the base, for the back-off at least
}

namespace {

// A model torn between two settings: each interval it leans, 52 to 48, to
// the other one.
class TornTuner final : public policy::Backend {
public:
	TornTuner(uint32_t a, uint32_t b, size_t actions) : a_(a), b_(b), config_(testkit::scripted_tuner_config(actions))
	{
	}
	const char *name() const override { return "torn"; }
	const policy::ModelConfig &config() const override { return config_; }
	bool submit(const policy::Window *, size_t) override
	{
		out_ = {};
		const bool lean_a = calls_++ % 2 == 0;
		out_.p[lean_a ? a_ : b_] = 0.52f;
		out_.p[lean_a ? b_ : a_] = 0.48f;
		return true;
	}
	bool collect(policy::Probs *out) override
	{
		*out = out_;
		return true;
	}

private:
	uint32_t a_, b_, calls_ = 0;
	policy::ModelConfig config_;
	policy::Probs out_;
};

// The settings published and the changes among them.
std::pair<uint64_t, uint64_t> changes_with_margin(double margin)
{
	const sim::Scenario sc = scenario("20mbit", "20ms", kMixedFlows);
	policy::TuneConfig tune;
	tune.switch_margin = margin;
	aqm::DualPi2Params base;
	EXPECT_EQ(aqm::dualpi2_finalize(base), "");
	policy::TuneLoop loop;
	policy::TuneLoopConfig c;
	c.tune = tune;
	EXPECT_EQ(loop.init(c, {{base, 0}}, std::make_unique<TornTuner>(3, 9, policy::tune_actions(tune).size())), "");
	sim::RunOptions opt;
	opt.tuner = &loop;
	opt.tune = tune;
	const sim::RunResult r = run(sc, opt);
	EXPECT_EQ(loop.stats().decisions, 60u);
	return {loop.stats().published, loop.stats().changes};
}

} // namespace

// switch_margin: a model torn between two settings flips the PI's settings
// every interval without it; with it, the first choice holds (one change,
// from the base), since neither beats the other by the margin.
TEST(SimTuner, TheSwitchMarginHoldsANearTie)
{
	const auto [published, changes] = changes_with_margin(0);
	EXPECT_GE(published, 40u);
	EXPECT_EQ(changes, published);
	const auto [held_published, held_changes] = changes_with_margin(0.1);
	EXPECT_GE(held_published, published);
	EXPECT_EQ(held_changes, 1u);
	policy::TuneConfig bad;
	bad.switch_margin = 1;
	EXPECT_NE(policy::check_tune_config(bad).find("switch_margin"), std::string::npos);
}

// The tuner's limits (issue 27), against the base's figures: the L queue's
// p99 at most + 0.1 ms, utilisation at most a point under, the rate balance
// within 0.5-2 where both classes run long flows.
TEST(TuneData, TheLimitsAreTheIssuesAgainstTheBase)
{
	EXPECT_TRUE(sim::within_tuner_limits(1.05, 0.95, 1.0, 1.0, 0.955));
	EXPECT_FALSE(sim::within_tuner_limits(1.11, 0.95, 1.0, 1.0, 0.95));  // L p99
	EXPECT_FALSE(sim::within_tuner_limits(1.0, 0.93, 1.0, 1.0, 0.95));   // utilisation
	EXPECT_FALSE(sim::within_tuner_limits(1.0, 0.95, 2.5, 1.0, 0.95));   // balance
	EXPECT_TRUE(sim::within_tuner_limits(1.0, 0.95, 2.5, 1.0, 0.95, false));
	EXPECT_TRUE(sim::within_tuner_limits(1.0, 0.95, -1, 1.0, 0.95)); // one class only
}

// Two cells, four settings: the base is one the search can pick, every
// interval of every behaviour run is an entry, the labels are not all one
// setting, and every label names a setting that, run whole on its cell,
// keeps the L queue's p99 and the utilisation within the limits against
// the base.
TEST(TuneData, LabelsNameSettingsWithinTheLimits)
{
	sim::TuneDataConfig c;
	c.tune.targets_ns = {5000000, 30000000};
	c.tune.max_rtts_ns = {50000000};
	c.tune.step_threshs_ns = {1000000, 2000000};
	c.tune.couplings = {3};
	c.behaviour_runs = 1;
	c.decision_delays_ns = {20000};
	const std::vector<sim::Scenario> cells{scenario("20mbit", "20ms", kMixedFlows), scenario("12mbit", "80ms", kMixedFlows)};
	sim::TuneData d;
	ASSERT_EQ(sim::make_tune_data(c, cells, {3, 4}, d), "");
	EXPECT_EQ(d.size(), 120u);
	EXPECT_EQ(std::count(d.dones.begin(), d.dones.end(), 1), 2);
	EXPECT_FALSE(d.base_label.empty());
	// Not the base everywhere: the 80 ms cell's Classic flows want a longer target.
	EXPECT_GE(std::count_if(d.label_counts.begin(), d.label_counts.end(), [](uint32_t n) { return n > 0; }), 2);
	const std::vector<policy::TuneSetting> table = policy::tune_actions(c.tune);
	auto figures = [&](size_t cell, const std::vector<aqm::Setting> &settings) {
		auto built = aqm::make_aqm("dualpi2", settings, cell + 3);
		sim::RunOptions o;
		o.seed = cell + 3;
		o.objective = cells[cell].objective;
		return sim::tally_inputs(sim::run_scenario(cells[cell], std::move(*built.aqm), o).measured);
	};
	for (size_t cell = 0; cell < 2; cell++) {
		const auto base = figures(cell, d.base);
		for (size_t i = cell * 60; i < cell * 60 + 60; i++) {
			const policy::TuneSetting &s = table[d.labels[i]];
			const auto x = figures(cell, sim::settings_of(s));
			EXPECT_TRUE(sim::within_tuner_limits(x.queue[1].p99_ms, x.utilisation, x.rate_balance,
							     base.queue[1].p99_ms, base.utilisation, false))
				<< "cell " << cell << " interval " << i << ": " << policy::describe(s);
		}
	}
}
