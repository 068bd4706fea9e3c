// The objective (sim/objective.hpp): the score every reporter prints, the
// per-decision reward pools carry, and the [objective] table that sets them.
#include <gtest/gtest.h>

#include "sim/heldout.hpp"
#include "sim/objective.hpp"
#include "sim/scenario.hpp"

#include <filesystem>

using namespace dualpilot::sim;

namespace {

ObjectiveInputs both(double l50, double l99, double c50, double c99, double u, double jain)
{
	ObjectiveInputs in;
	in.queue[1] = {true, l50, l99};
	in.queue[0] = {true, c50, c99};
	in.utilisation = u;
	in.jain = jain;
	return in;
}

} // namespace

// An empty queue at full utilisation and perfect fairness is the best a
// run can do: 1. Each class's delay at its reference halves its power.
TEST(Objective, EmptyQueuesAtFullRateScoreOneAndEachReferenceHalves)
{
	const Objective o;
	EXPECT_DOUBLE_EQ(score(both(0, 0, 0, 0, 1, 1), o).score, 1.0);
	// L4S at its 1 ms reference (p50 and p99 both), Classic empty: (0.5 + 1) / 2.
	EXPECT_DOUBLE_EQ(score(both(1, 1, 0, 0, 1, 1), o).score, 0.75);
	// Classic at 15 ms: the same.
	EXPECT_DOUBLE_EQ(score(both(0, 0, 15, 15, 1, 1), o).score, 0.75);
}

// The tail counts: p99 has half the weight by default.
TEST(Objective, TailDelayCountsWithP99Weight)
{
	const Objective o;
	const ObjectiveScore s = score(both(0, 2, 0, 0, 1, 1), o);
	EXPECT_DOUBLE_EQ(s.delay_factor[1], 2.0); // 1 + 0.5 * 2 ms / 1 ms
}

// Below the floor utilisation costs more than in proportion: an AQM that
// empties its queue by starving the link does not win.
TEST(Objective, UtilisationBelowTheFloorFallsSteeply)
{
	const Objective o; // floor 0.85, exponent 4
	const double at_floor = score(both(0, 0, 0, 0, 0.85, 1), o).score;
	const double below = score(both(0, 0, 0, 0, 0.6, 1), o).score;
	EXPECT_DOUBLE_EQ(at_floor, 0.85);
	EXPECT_NEAR(below, 0.6 * std::pow(0.6 / 0.85, 4), 1e-12);
	EXPECT_LT(below / at_floor, 0.6 / 0.85 * 0.5);
}

// A class with no packets is left out of the mean, and an unknown Jain
// (the router sees no flows) leaves the fairness term at 1.
TEST(Objective, AbsentClassAndUnknownJainAreLeftOut)
{
	const Objective o;
	ObjectiveInputs in = both(0, 0, 15, 15, 1, -1);
	in.queue[1].present = false;
	EXPECT_DOUBLE_EQ(score(in, o).score, 0.5);
	in.jain = 0.5;
	EXPECT_DOUBLE_EQ(score(in, o).score, 0.25);
}

// The line every reporter prints carries the inputs it was scored on: read
// back and scored again, it gives the same number.
TEST(Objective, LineIsScoredOnItsPrintedInputs)
{
	const Objective o;
	const ObjectiveInputs exact = both(0.123456789, 2.3456789, 14.87654321, 30.1234567, 0.987654321, 0.912345678);
	const std::string line = objective_line(exact, o);
	double s = 0, l50 = 0, l99 = 0, c50 = 0, c99 = 0, u = 0, j = 0;
	ASSERT_EQ(std::sscanf(line.c_str(),
			      "objective: score %lf (L p50 %lf p99 %lf ms, C p50 %lf p99 %lf ms, utilisation %lf %%, Jain %lf)",
			      &s, &l50, &l99, &c50, &c99, &u, &j),
		  7)
		<< line;
	EXPECT_NEAR(s, score(both(l50, l99, c50, c99, u / 100, j), o).score, 5e-5); // the line prints 4 decimals
	EXPECT_DOUBLE_EQ(score(as_printed(exact), o).score, score(both(l50, l99, c50, c99, u / 100, j), o).score);
}

// The per-decision reward is the score's per-packet share: a drop delivers
// nothing, delay divides as in the delay factor; the paper's reward stays
// available by name.
TEST(Objective, DecisionRewardDerivesFromTheScoreAndThePaperRewardIsAnOption)
{
	Objective o;
	EXPECT_DOUBLE_EQ(decision_reward(o, true, 1500, 0, 0), 0.5);      // L4S share 1/2, one MTU, no delay
	EXPECT_DOUBLE_EQ(decision_reward(o, true, 1500, 1000, 2), 0.25);  // marked, delivered, 1 ms = the L4S reference
	EXPECT_DOUBLE_EQ(decision_reward(o, false, 1500, 15000, 0), 0.25); // Classic at 15 ms
	EXPECT_DOUBLE_EQ(decision_reward(o, false, 1500, 0, 1), 0.0);     // dropped
	o.reward = RewardKind::paper;
	EXPECT_DOUBLE_EQ(decision_reward(o, false, 1500, 999, 1), 1.5);   // 1500 / (999 + 1)
	EXPECT_EQ(reward_definition(o), "packet_length / (current_queue_delay_us + 1)");
}

TEST(Objective, TableSetsWeightsAndRefusesUnknownKeysWithTheirLine)
{
	Scenario sc;
	const std::string base = "name = \"t\"\n[bottleneck]\nrate = \"10mbit\"\n[[flows]]\ncc = \"reno\"\n";
	ASSERT_EQ(parse_scenario(base + "[objective]\nl4s_weight = 2\nclassic_delay_ref_ms = 5\nreward = \"paper\"\n", "t.toml", sc),
		  "");
	EXPECT_EQ(sc.objective.l4s_weight, 2);
	EXPECT_EQ(sc.objective.classic_delay_ref_ms, 5);
	EXPECT_EQ(sc.objective.reward, RewardKind::paper);
	const std::string err = parse_scenario(base + "[objective]\nl4s_wieght = 2\n", "t.toml", sc);
	EXPECT_NE(err.find("t.toml:7: l4s_wieght: unknown key in [objective]"), std::string::npos) << err;
	EXPECT_NE(parse_scenario(base + "[objective]\nutilisation_floor = 1.5\n", "t.toml", sc).find("utilisation_floor"),
		  std::string::npos);
	EXPECT_NE(parse_scenario(base + "[objective]\nreward = \"other\"\n", "t.toml", sc).find("\"objective\" or \"paper\""),
		  std::string::npos);
}

// configs/heldout/: every scenario parses and is known as held out by its
// name; a pool under a held-out run's directory is refused.
TEST(Heldout, EveryHeldoutScenarioIsNamedSoAndItsPoolsAreRefused)
{
	int n = 0;
	for (const auto &e : std::filesystem::directory_iterator(DUALPILOT_SOURCE_DIR "/configs/heldout")) {
		if (e.path().extension() != ".toml")
			continue;
		Scenario sc;
		ASSERT_EQ(load_scenario(e.path().string(), sc), "");
		EXPECT_TRUE(is_heldout_name(sc.name)) << e.path();
		EXPECT_EQ(e.path().stem().string(), sc.name) << "file and scenario names differ";
		n++;
	}
	EXPECT_GE(n, 5);
	EXPECT_NE(heldout_pool_refusal("runs/heldout-30m-onoff-dualpi2/seed-1/pool.dpp"), "");
	EXPECT_EQ(heldout_pool_refusal("runs/paper-testbed-dualpi2/seed-1/pool.dpp"), "");
}
