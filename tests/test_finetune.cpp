// Closed-loop fine-tuning (sim/finetune.hpp): it must improve a pilot that
// harms, select by validation, be reproducible, and never touch a held-out
// scenario.
#include <gtest/gtest.h>

#include <cmath>

#include "small_model.hpp"
#include "sim/finetune.hpp"

using namespace dualpilot;

namespace {

sim::Scenario scenario(const std::string &name, const std::string &rate, const std::string &rtt)
{
	const std::string text = "name = \"" + name + "\"\nduration = \"4s\"\nwarmup = \"1s\"\n[bottleneck]\nrate = \"" +
				 rate + "\"\n[[flows]]\ncc = \"cubic\"\ncount = 2\nrtt = \"" + rtt +
				 "\"\n[[flows]]\ncc = \"scalable\"\nrtt = \"" + rtt + "\"\n";
	sim::Scenario sc;
	EXPECT_EQ(sim::parse_scenario(text, name, sc), "");
	return sc;
}

std::vector<sim::Scenario> training()
{
	return {scenario("t1", "10mbit", "10ms"), scenario("t2", "20mbit", "20ms"), scenario("t3", "8mbit", "40ms")};
}

std::vector<sim::Scenario> validation()
{
	return {scenario("v1", "15mbit", "15ms"), scenario("v2", "25mbit", "30ms")};
}

sim::FinetuneConfig config(uint32_t threads)
{
	sim::FinetuneConfig c;
	c.base = {{"target", "5ms"}, {"step_thresh", "2ms"}, {"coupling_factor", "3"}};
	c.population = 8;
	c.per_generation = 3;
	c.generations = 8;
	c.eval_every = 2;
	c.sigma = 0.1;
	c.lr = 0.05;
	c.threads = threads;
	c.seed = 7;
	c.decision_delays_ns = {20000}; // one delay: the test is of the search, not of the delays' mix
	return c;
}

} // namespace

// A pilot that drops all it may (half of every queue's packets above the
// guard rails' sojourn floor) scores far below DualPI2 alone; a few
// generations of the search must win back a good part of that (a test that
// fails if the search follows noise, or if losses stop steering it), and the
// result is the best validated model, never worse than the start.
TEST(Finetune, ImprovesAPilotThatDropsTooMuch)
{
	const policy::Model bad = dataplane::testing::leaning_model(1, 3.0f);
	sim::FinetuneResult r;
	ASSERT_EQ(sim::finetune(bad, training(), validation(), config(2), r), "");
	EXPECT_LT(r.start_validation, 0.3); // measured 0.050 of DualPI2 alone
	EXPECT_GT(r.best_generation, 0u);
	// Measured 0.070 after 8 generations under issue 26's objective, where
	// each drop also counts as a delay (0.62 when drops only cut
	// utilisation): a third more is beyond what noise gives over 8
	// generations of a fixed seed.
	EXPECT_GT(r.best_validation, 1.3 * r.start_validation);
	EXPECT_EQ(r.model.parameter_count(), bad.parameter_count());
}

// The same seed gives the same model, whatever the number of threads.
TEST(Finetune, SameSeedSameModelOnOneOrTwoThreads)
{
	const policy::Model start = dataplane::testing::leaning_model(1, 3.0f);
	sim::FinetuneConfig c = config(1);
	c.generations = 2;
	sim::FinetuneResult one, two;
	ASSERT_EQ(sim::finetune(start, training(), validation(), c, one), "");
	c.threads = 2;
	ASSERT_EQ(sim::finetune(start, training(), validation(), c, two), "");
	ASSERT_EQ(one.model.tensors.size(), two.model.tensors.size());
	for (size_t t = 0; t < one.model.tensors.size(); t++)
		EXPECT_EQ(one.model.tensors[t].values, two.model.tensors[t].values) << one.model.tensors[t].name;
	EXPECT_EQ(one.best_validation, two.best_validation);
}

// With a limit penalty, a pilot that breaks the tuner's limits against the
// base on every run (dropping half of each queue cuts utilisation far more
// than a point) loses exactly the penalty from every validation log ratio,
// so that the search and the checkpoint's selection both count it.
TEST(Finetune, ALimitPenaltyCountsAgainstRunsThatBreakTheTunersLimits)
{
	const policy::Model bad = dataplane::testing::leaning_model(1, 3.0f);
	sim::FinetuneConfig c = config(2);
	c.generations = 1;
	c.eval_every = 1;
	sim::FinetuneResult plain, penalised;
	ASSERT_EQ(sim::finetune(bad, training(), validation(), c, plain), "");
	c.limit_penalty = 1;
	ASSERT_EQ(sim::finetune(bad, training(), validation(), c, penalised), "");
	EXPECT_NEAR(penalised.start_validation, plain.start_validation * std::exp(-1.0), 1e-9);
}

// Held-out scenarios are never trained on or used for selection; bad
// settings are named.
TEST(Finetune, RefusesHeldOutScenariosAndBadSettings)
{
	const policy::Model start = dataplane::testing::small_model(1);
	sim::FinetuneResult r;
	std::vector<sim::Scenario> val = validation();
	val.push_back(scenario("heldout-x", "30mbit", "35ms"));
	EXPECT_NE(sim::finetune(start, training(), val, config(1), r).find("held-out"), std::string::npos);
	std::vector<sim::Scenario> train = training();
	train.push_back(scenario("heldout-y", "30mbit", "35ms"));
	EXPECT_NE(sim::finetune(start, train, validation(), config(1), r).find("held-out"), std::string::npos);
	sim::FinetuneConfig c = config(1);
	c.population = 1;
	EXPECT_NE(sim::finetune(start, training(), validation(), c, r).find("population"), std::string::npos);
	c = config(1);
	c.base = {{"target", "-5ms"}};
	EXPECT_NE(sim::finetune(start, training(), validation(), c, r).find("base DualPI2"), std::string::npos);
	EXPECT_NE(sim::finetune(start, {}, validation(), config(1), r), "");
}

// A sweep that touches a held-out rate is refused as dualpilot-sim refuses
// it; the training sweep gives one scenario per (rate, RTT, mix).
TEST(Finetune, SweepScenariosAreTheDistinctScenariosOfATrainingSweep)
{
	std::vector<sim::Scenario> s;
	ASSERT_EQ(sim::sweep_scenarios(DUALPILOT_SOURCE_DIR "/configs/sweeps/train-filtered.toml",
				       DUALPILOT_SOURCE_DIR "/configs/heldout", 0, 1, s),
		  "");
	EXPECT_EQ(s.size(), 5u * 6 * 5);
	s.clear();
	ASSERT_EQ(sim::sweep_scenarios(DUALPILOT_SOURCE_DIR "/configs/sweeps/train-filtered.toml",
				       DUALPILOT_SOURCE_DIR "/configs/heldout", 12, 1, s),
		  "");
	EXPECT_EQ(s.size(), 12u);
	std::vector<sim::Scenario> v;
	ASSERT_EQ(sim::directory_scenarios(DUALPILOT_SOURCE_DIR "/configs/validation", DUALPILOT_SOURCE_DIR "/configs/heldout", v), "");
	EXPECT_GE(v.size(), 3u);
	std::vector<sim::Scenario> h;
	EXPECT_NE(sim::directory_scenarios(DUALPILOT_SOURCE_DIR "/configs/heldout", DUALPILOT_SOURCE_DIR "/configs/heldout", h), "");
}
