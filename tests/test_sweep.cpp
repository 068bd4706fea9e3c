// Sweeps (sim/sweep.hpp): the grid of cells, the behaviour policies and
// exploration, determinism, and the held-out family kept out.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <tuple>
#include <cmath>

#include "experience/pool.hpp"
#include "sim/simulation.hpp"
#include "sim/sweep.hpp"

using namespace dualpilot::sim;
namespace experience = dualpilot::experience;

namespace {

const char *kSweep = R"(
[sweep]
name = "t"
rates = ["8mbit", "20mbit"]
rtts = ["10ms", "40ms"]
behaviours = ["dualpi2", "dualpi2-random", "pie", "codel"]
epsilon = [0, 0.1]
duration = "3s"
warmup = "1s"
seed = 5

[[mix]]
name = "mixed"
flows = [{name = "cubic", cc = "cubic", count = 2}, {name = "l", cc = "scalable", start = "1s", stop = "2s"},
         {name = "far", cc = "reno", rtt = "80ms"}]

[[mix]]
name = "udp"
flows = [{cc = "udp", ecn = "ect1", rate = "1mbit"}, {cc = "reno"}]
)";

RunResult run_cell(const SweepCell &c, double epsilon)
{
	auto built = dualpilot::aqm::make_aqm(c.aqm, c.settings, c.seed);
	EXPECT_EQ(built.error, "");
	RunOptions opt;
	opt.seed = c.seed;
	opt.record_pool = true;
	opt.epsilon = epsilon;
	return run_scenario(c.scenario, std::move(*built.aqm), opt);
}

std::string pool_bytes(const SweepCell &c) { return experience::encode_pool_binary(run_cell(c, c.epsilon).pool); }

} // namespace

TEST(Sweep, GridHasEveryCombinationWithTheCellsRttAndRandomisedDualpi2)
{
	Sweep sw;
	ASSERT_EQ(parse_sweep(kSweep, "t.toml", sw), "");
	std::vector<SweepCell> cells;
	ASSERT_EQ(sweep_cells(sw, cells), "");
	ASSERT_EQ(cells.size(), 2u * 2 * 2 * 4 * 2);
	const SweepCell &c = cells[0];
	EXPECT_EQ(c.scenario.rate_bps, 8000000u);
	EXPECT_EQ(c.scenario.flows[0].rtt_ns, 10000000u);
	EXPECT_EQ(c.scenario.flows[2].rtt_ns, 80000000u); // its own RTT kept
	EXPECT_EQ(c.scenario.flows[1].start_ns, 1000000000u);
	EXPECT_EQ(c.scenario.duration_ns, 3000000000u);
	int random = 0;
	for (const SweepCell &x : cells) {
		if (x.behaviour != "dualpi2-random")
			continue;
		random++;
		ASSERT_EQ(x.aqm, "dualpi2");
		ASSERT_EQ(x.settings.size(), 6u);
		EXPECT_EQ(dualpilot::aqm::make_aqm(x.aqm, x.settings).error, "");
	}
	EXPECT_EQ(random, 16);
	// Two random cells draw different parameters.
	std::vector<std::string> targets;
	for (const SweepCell &x : cells)
		if (x.behaviour == "dualpi2-random")
			targets.push_back(x.settings[0].value);
	std::sort(targets.begin(), targets.end());
	EXPECT_GT(std::unique(targets.begin(), targets.end()) - targets.begin(), 8);
}

// The same sweep and seed give byte-identical pools, exploration and
// randomised parameters included; another seed gives other pools.
TEST(Sweep, SameSeedGivesByteIdenticalPools)
{
	Sweep sw;
	ASSERT_EQ(parse_sweep(kSweep, "t.toml", sw), "");
	std::vector<SweepCell> a, b;
	ASSERT_EQ(sweep_cells(sw, a), "");
	ASSERT_EQ(sweep_cells(sw, b), "");
	for (size_t i : {size_t{3}, size_t{5}, size_t{20}}) { // pie e0.1, dualpi2-random e0.1, ...
		ASSERT_EQ(a[i].name, b[i].name);
		const std::string pa = pool_bytes(a[i]);
		EXPECT_EQ(pa, pool_bytes(b[i])) << a[i].name;
		EXPECT_GT(pa.size(), 1000u);
	}
	sw.seed = 6;
	std::vector<SweepCell> c;
	ASSERT_EQ(sweep_cells(sw, c), "");
	EXPECT_NE(pool_bytes(a[5]), pool_bytes(c[5]));
}

// Exploration re-draws a share epsilon of the decisions, and so changes
// what the pool holds.
TEST(Sweep, ExplorationRedrawsAboutEpsilonOfTheDecisions)
{
	Sweep sw;
	ASSERT_EQ(parse_sweep(kSweep, "t.toml", sw), "");
	std::vector<SweepCell> cells;
	ASSERT_EQ(sweep_cells(sw, cells), "");
	const SweepCell &explored = cells[1]; // 8m-10ms-mixed-dualpi2-e0.1
	ASSERT_EQ(explored.epsilon, 0.1);
	const RunResult with = run_cell(explored, 0.1);
	const RunResult without = run_cell(explored, 0);
	EXPECT_EQ(without.explored, 0u);
	// Binomial: n is in the thousands, so 5 standard deviations are well
	// under 10 % of epsilon * n.
	const double n = static_cast<double>(with.dequeue_decisions);
	ASSERT_GT(n, 2000);
	EXPECT_NEAR(static_cast<double>(with.explored), 0.1 * n, 5 * std::sqrt(n * 0.1 * 0.9));
	EXPECT_NE(experience::encode_pool_binary(with.pool), experience::encode_pool_binary(without.pool));
}

TEST(Sweep, BadKeysAreNamedWithTheirLine)
{
	Sweep sw;
	std::string err = parse_sweep("[sweep]\nrates = [\"8mbit\"]\nrtts = [\"1ms\"]\nbehaviours = [\"red\"]\n"
				      "[[mix]]\nname = \"m\"\nflows = [{cc = \"reno\"}]\n",
				      "s.toml", sw);
	EXPECT_NE(err.find("s.toml:4: behaviours: unknown behaviour 'red'"), std::string::npos) << err;
	err = parse_sweep("[sweep]\nrates = [\"8mbit\"]\nrtts = [\"1ms\"]\nbehaviours = [\"pie\"]\nepsilon = [2]\n"
			  "[[mix]]\nname = \"m\"\nflows = [{cc = \"reno\"}]\n",
			  "s.toml", sw);
	EXPECT_NE(err.find("s.toml:5: epsilon"), std::string::npos) << err;
	err = parse_sweep("[sweep]\nrates = [\"8mbit\"]\nrtts = [\"1ms\"]\nbehaviours = [\"pie\"]\n"
			  "[[mix]]\nname = \"m\"\nflows = [{cc = \"bbr\"}]\n",
			  "s.toml", sw);
	ASSERT_EQ(err, "");
	std::vector<SweepCell> cells;
	err = sweep_cells(sw, cells);
	EXPECT_NE(err.find("unknown congestion control 'bbr'"), std::string::npos) << err;
}

// Training never sees the held-out family's rates or RTTs, nor a mix named
// held-out, nor a near twin of a held-out scenario; the training sweep
// itself passes.
TEST(Sweep, HeldoutRatesRttsAndNamesAreRefused)
{
	const std::string dir = DUALPILOT_SOURCE_DIR "/configs/heldout";
	Sweep sw;
	ASSERT_EQ(load_sweep(DUALPILOT_SOURCE_DIR "/configs/sweeps/train.toml", sw), "");
	EXPECT_EQ(check_sweep_against_heldout(sw, dir), "");
	Sweep bad = sw;
	bad.rates_bps.push_back(140000000); // heldout-01's
	EXPECT_NE(check_sweep_against_heldout(bad, dir).find("rate 140mbit is held-out scenario"), std::string::npos);
	bad = sw;
	bad.rtts_ns.push_back(42000000);
	EXPECT_NE(check_sweep_against_heldout(bad, dir).find("held-out RTT"), std::string::npos);
	bad = sw;
	bad.mixes.push_back({"heldout-01-140m-42ms-cubic-vs-scalable", ""});
	EXPECT_NE(check_sweep_against_heldout(bad, dir), "");
	// heldout-01's mix (one Cubic, one scalable) at training rates and RTTs
	// within 2x of its 140 Mbit/s and 42 ms: a near twin, named.
	bad = sw;
	bad.mixes.push_back({"one-each", "[[flows]]\ncc = \"cubic\"\n[[flows]]\ncc = \"scalable\"\n"});
	const std::string why = check_sweep_against_heldout(bad, dir);
	EXPECT_NE(why.find("near twin of held-out scenario heldout-01-140m-42ms-cubic-vs-scalable"), std::string::npos) << why;
}

// Filtered cloning keeps, per scenario (rate, RTT, mix), the one cell that
// scored best, whichever behaviour ran it; every scenario keeps one.
TEST(Sweep, BestCellPerScenarioIsTheHighestScoringBehaviourOfEachScenario)
{
	Sweep sw;
	ASSERT_EQ(parse_sweep(kSweep, "t.toml", sw), "");
	std::vector<SweepCell> cells;
	ASSERT_EQ(sweep_cells(sw, cells), "");
	// Score each cell by a value that makes the best of each scenario known:
	// the dualpi2-random cell with exploration 0.1.
	std::vector<double> scores;
	for (const SweepCell &c : cells)
		scores.push_back(c.behaviour == "dualpi2-random" && c.epsilon > 0 ? 0.9 : 0.1 * c.epsilon + 0.2);
	const std::vector<size_t> best = best_cell_per_scenario(cells, scores);
	ASSERT_EQ(best.size(), 2u * 2 * 2);
	std::set<std::tuple<uint64_t, uint64_t, std::string>> seen;
	for (size_t i : best) {
		EXPECT_EQ(cells[i].behaviour, "dualpi2-random");
		EXPECT_GT(cells[i].epsilon, 0);
		EXPECT_TRUE(seen.emplace(cells[i].scenario.rate_bps, cells[i].rtt_ns, cells[i].mix).second);
	}
	// Fewer scores than cells: the cells without one are not candidates.
	EXPECT_EQ(best_cell_per_scenario(cells, {0.5}).size(), 1u);
}
