// dualpilot-baselines: the held-out table (README "Baselines and the
// held-out table"). The policies a learned pilot must beat, judged by the
// objective on the held-out scenarios (configs/heldout/):
//  (a) DualPI2 with tc's defaults;
//  (b) the tuned default: the one static DualPI2 configuration of a grid
//      with the best mean score over the training grid's scenarios (the
//      training sweep's cells: never a held-out scenario);
//  (c) the per-scenario oracle: the configuration of the same grid with the
//      best score on each held-out scenario itself;
// and, with --policy, DualPI2 + the pilot in enforce mode (guard rails, harm
// guard) at decision delays of 20 us and 39 ms. Prints the table (scenario
// x policy x decision delay -> score, L/C delay p50/p99, utilisation, Jain)
// and the ratios; writes OUT/table.md, OUT/table.csv, OUT/search.csv.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "sim/heldout.hpp"
#include "sim/objective.hpp"
#include "sim/scenario.hpp"
#include "sim/sim_policy.hpp"
#include "sim/simulation.hpp"
#include "sim/sweep.hpp"

using namespace dualpilot;

namespace {

struct Candidate {
	std::string label;
	std::vector<aqm::Setting> settings;
};

// The static configurations searched: DualPI2's target, step threshold and
// coupling factor, the parameters an operator tunes (alpha, beta and
// tupdate stay tc's). "full": 5 x 4 x 3 = 60; "small" (CI): 3 x 2 x 1 = 6.
std::vector<Candidate> candidate_grid(const std::string &size)
{
	const bool small = size == "small";
	const std::vector<std::string> targets = small ? std::vector<std::string>{"10ms", "15ms", "25ms"}
						       : std::vector<std::string>{"5ms", "10ms", "15ms", "20ms", "30ms"};
	const std::vector<std::string> steps = small ? std::vector<std::string>{"1ms", "2ms"}
						     : std::vector<std::string>{"500us", "1ms", "2ms", "4ms"};
	const std::vector<std::string> ks = small ? std::vector<std::string>{"2"} : std::vector<std::string>{"1", "2", "3"};
	std::vector<Candidate> out;
	for (const auto &t : targets)
		for (const auto &s : steps)
			for (const auto &k : ks)
				out.push_back({"target " + t + " step " + s + " k " + k,
					       {{"target", t}, {"step_thresh", s}, {"coupling_factor", k}}});
	return out;
}

struct Figures {
	double score = 0, l50 = 0, l99 = 0, c50 = 0, c99 = 0, util = 0, jain = 0, backoffs = 0;
	uint32_t runs = 0;
	void add(const sim::RunResult &r, const sim::Objective &o)
	{
		const sim::ObjectiveInputs in = sim::as_printed(r.objective_inputs());
		score += sim::score(in, o).score;
		l50 += in.queue[1].p50_ms;
		l99 += in.queue[1].p99_ms;
		c50 += in.queue[0].p50_ms;
		c99 += in.queue[0].p99_ms;
		util += in.utilisation;
		jain += in.jain;
		backoffs += static_cast<double>(r.pilot_backoffs);
		runs++;
	}
	Figures mean() const
	{
		Figures m = *this;
		const double n = runs ? runs : 1;
		for (double *v : {&m.score, &m.l50, &m.l99, &m.c50, &m.c99, &m.util, &m.jain, &m.backoffs})
			*v /= n;
		return m;
	}
};

struct PilotSpec {
	sim::SimPolicy *policy = nullptr;
	uint64_t decision_delay_ns = 0;
	uint32_t inference_interval = 10;
};

// The scenario once per seed (seed, seed + 1, ...), means of the figures.
Figures run_mean(const sim::Scenario &sc, const std::vector<aqm::Setting> &settings, uint32_t seeds, uint64_t seed,
		 const PilotSpec *pilot)
{
	Figures f;
	for (uint32_t i = 0; i < seeds; i++) {
		auto built = aqm::make_aqm("dualpi2", settings, seed + i);
		sim::RunOptions opt;
		opt.seed = seed + i;
		opt.objective = sc.objective;
		if (pilot) {
			opt.policy = pilot->policy->function(sc.objective);
			opt.decision_delay_ns = pilot->decision_delay_ns;
			opt.inference_interval = pilot->inference_interval;
			opt.override_ttl_ns = 20000000;
		}
		f.add(sim::run_scenario(sc, std::move(*built.aqm), opt), sc.objective);
	}
	return f.mean();
}

std::string row_md(const std::string &scenario, const std::string &policy, const std::string &delay, const Figures &f)
{
	return fmt::format("| {} | {} | {} | {:.4f} | {:.2f} / {:.2f} | {:.2f} / {:.2f} | {:.1f} % | {:.3f} |\n", scenario,
			   policy, delay, f.score, f.l50, f.l99, f.c50, f.c99, 100 * f.util, f.jain);
}

std::string row_csv(const std::string &scenario, const std::string &policy, const std::string &delay, const Figures &f)
{
	return fmt::format("{},{},{},{:.6f},{:.4f},{:.4f},{:.4f},{:.4f},{:.6f},{:.4f},{:.2f}\n", scenario, policy, delay,
			   f.score, f.l50, f.l99, f.c50, f.c99, f.util, f.jain, f.backoffs);
}

} // namespace

int main(int argc, char **argv)
{
	std::string sweep_path = DUALPILOT_SOURCE_DIR "/configs/sweeps/train.toml";
	std::string heldout_dir = DUALPILOT_SOURCE_DIR "/configs/heldout";
	std::string grid = "full", out_dir = "build/baselines", policy_path;
	uint32_t train_cells = 40, seeds = 0, inference_interval = 10;
	uint64_t seed = 101;
	CLI::App app{"dualpilot-baselines: tc defaults, the tuned default and the per-scenario oracle on the held-out "
		     "scenarios, and the pilot beside them"};
	app.add_option("--train-sweep", sweep_path, "the training sweep whose scenarios the tuned default is searched on")
		->capture_default_str();
	app.add_option("--train-cells", train_cells, "scenarios of the training grid for the search (drawn by its seed)")
		->capture_default_str();
	app.add_option("--heldout-dir", heldout_dir, "the held-out scenarios")->capture_default_str();
	app.add_option("--grid", grid, "the configurations searched: full (60) or small (6, CI)")
		->check(CLI::IsMember({"full", "small"}))
		->capture_default_str();
	app.add_option("--seeds", seeds, "runs per held-out scenario (default: each one's repetitions)");
	app.add_option("--seed", seed, "first seed of the held-out runs")->capture_default_str();
	app.add_option("--policy", policy_path, "a model file: DualPI2 + this pilot in enforce mode, beside the baselines");
	app.add_option("--inference-interval", inference_interval, "the pilot's decisions per call")->capture_default_str();
	std::string pilot_base = "tc";
	app.add_option("--pilot-base", pilot_base,
		       "the DualPI2 the pilot overrides: tc (tc's defaults, the router's) or tuned (the tuned default)")
		->check(CLI::IsMember({"tc", "tuned"}))
		->capture_default_str();
	app.add_option("--out", out_dir, "table.md, table.csv and search.csv go here")->capture_default_str();
	CLI11_PARSE(app, argc, argv);

	sim::Sweep sweep;
	if (std::string err = sim::load_sweep(sweep_path, sweep); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 2;
	}
	if (std::string err = sim::check_sweep_against_heldout(sweep, heldout_dir); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 2;
	}
	// The training grid's scenarios: one behaviour, no exploration (only the
	// scenario of each cell is used here).
	sweep.behaviours = {"dualpi2"};
	sweep.epsilons = {0};
	sweep.seeds = 1;
	sweep.cells = train_cells;
	std::vector<sim::SweepCell> cells;
	if (std::string err = sim::sweep_cells(sweep, cells); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 2;
	}
	std::vector<sim::Scenario> heldout;
	std::vector<std::filesystem::path> files;
	std::error_code ec;
	for (const auto &e : std::filesystem::directory_iterator(heldout_dir, ec))
		if (e.path().extension() == ".toml")
			files.push_back(e.path());
	std::sort(files.begin(), files.end());
	for (const auto &p : files) {
		sim::Scenario sc;
		if (std::string err = sim::load_scenario(p.string(), sc); !err.empty()) {
			fmt::print(stderr, "error: {}\n", err);
			return 2;
		}
		heldout.push_back(std::move(sc));
	}
	if (heldout.empty()) {
		fmt::print(stderr, "error: {}: no held-out scenarios{}\n", heldout_dir, ec ? " (" + ec.message() + ")" : "");
		return 2;
	}
	sim::SimPolicy policy;
	if (!policy_path.empty())
		if (std::string err = policy.load(policy_path); !err.empty()) {
			fmt::print(stderr, "error: {}\n", err);
			return 2;
		}
	std::filesystem::create_directories(out_dir, ec);

	// (b) The tuned default: the grid's best mean score over the training scenarios.
	const std::vector<Candidate> grid_configs = candidate_grid(grid);
	std::string search_csv = "config,mean_score_over_training_grid\n";
	size_t best = 0;
	std::vector<double> means;
	for (size_t k = 0; k < grid_configs.size(); k++) {
		double sum = 0;
		for (const sim::SweepCell &c : cells)
			sum += run_mean(c.scenario, grid_configs[k].settings, 1, c.seed, nullptr).score;
		means.push_back(sum / static_cast<double>(cells.size()));
		search_csv += fmt::format("\"{}\",{:.6f}\n", grid_configs[k].label, means.back());
		if (means[k] > means[best])
			best = k;
		fmt::print(stderr, "\r  search: {}/{} configurations on {} training scenarios", k + 1, grid_configs.size(),
			   cells.size());
	}
	fmt::print(stderr, "\n");
	std::ofstream(out_dir + "/search.csv") << search_csv;
	const Candidate &tuned = grid_configs[best];
	fmt::print("tuned default (best mean score {:.4f} over {} training scenarios of {} configurations): {}\n",
		   means[best], cells.size(), grid_configs.size(), tuned.label);

	std::string md = "| scenario | policy | decision delay | score | L p50 / p99 ms | C p50 / p99 ms | utilisation | Jain |\n"
			 "|---|---|---|---|---|---|---|---|\n";
	std::string csv = "scenario,policy,decision_delay,score,l4s_p50_ms,l4s_p99_ms,classic_p50_ms,classic_p99_ms,"
			  "utilisation,jain,pilot_backoffs\n";
	double sum_vs_tuned = 0, sum_vs_tc = 0, sum_vs_oracle = 0, worst = 1e9, sum_tuned_vs_tc = 0, sum_oracle_vs_tuned = 0;
	std::string worst_name, goal_misses;
	for (const sim::Scenario &sc : heldout) {
		const uint32_t n = seeds ? seeds : sc.repetitions;
		const Figures tc = run_mean(sc, {}, n, seed, nullptr);
		const Figures tf = run_mean(sc, tuned.settings, n, seed, nullptr);
		Figures oracle;
		std::string oracle_label;
		for (const Candidate &c : grid_configs) {
			const Figures f = run_mean(sc, c.settings, n, seed, nullptr);
			if (oracle_label.empty() || f.score > oracle.score) {
				oracle = f;
				oracle_label = c.label;
			}
		}
		md += row_md(sc.name, "DualPI2, tc defaults", "-", tc);
		md += row_md(sc.name, "DualPI2, tuned default", "-", tf);
		md += row_md(sc.name, "DualPI2, oracle (" + oracle_label + ")", "-", oracle);
		csv += row_csv(sc.name, "tc-defaults", "-", tc) + row_csv(sc.name, "tuned", "-", tf) +
		       row_csv(sc.name, "oracle", "-", oracle);
		sum_tuned_vs_tc += tf.score / tc.score;
		sum_oracle_vs_tuned += oracle.score / tf.score;
		if (policy_path.empty())
			continue;
		for (uint64_t delay_ns : {uint64_t{20000}, uint64_t{39000000}}) {
			const PilotSpec spec{&policy, delay_ns, inference_interval};
			const Figures p = run_mean(sc, pilot_base == "tuned" ? tuned.settings : std::vector<aqm::Setting>{}, n,
						   seed, &spec);
			const std::string delay = delay_ns < 1000000 ? "20 us" : "39 ms";
			md += row_md(sc.name, pilot_base == "tuned" ? "tuned DualPI2 + pilot" : "DualPI2 + pilot", delay, p);
			csv += row_csv(sc.name, "pilot", delay, p);
			if (p.l99 > tf.l99 + 1e-9 || p.util < tf.util - 0.01)
				goal_misses += fmt::format("  {} at {}: L4S p99 {:.2f} ms (tuned {:.2f}), utilisation {:.1f} % "
							   "(tuned {:.1f} %)\n",
							   sc.name, delay, p.l99, tf.l99, 100 * p.util, 100 * tf.util);
			if (delay_ns != 20000)
				continue;
			const double ratio = p.score / tf.score;
			sum_vs_tuned += ratio;
			sum_vs_tc += p.score / tc.score;
			sum_vs_oracle += p.score / oracle.score;
			if (ratio < worst) {
				worst = ratio;
				worst_name = sc.name;
			}
		}
	}
	std::ofstream(out_dir + "/table.md") << md;
	std::ofstream(out_dir + "/table.csv") << csv;
	fmt::print("\n{}\n", md);
	const double n = static_cast<double>(heldout.size());
	fmt::print("means over {} held-out scenarios (score ratios, 20 us decisions for the pilot):\n", heldout.size());
	fmt::print("tuned_vs_tc_defaults_score: {:.4f}\n", sum_tuned_vs_tc / n);
	fmt::print("oracle_vs_tuned_score: {:.4f}\n", sum_oracle_vs_tuned / n);
	if (!policy_path.empty()) {
		if (!goal_misses.empty())
			fmt::print("where the pilot's L4S p99 exceeds the tuned default's or its utilisation falls more than 1 "
				   "point below it:\n{}",
				   goal_misses);
		fmt::print("pilot_vs_tc_defaults_score: {:.4f}\n", sum_vs_tc / n);
		fmt::print("pilot_vs_oracle_score: {:.4f}\n", sum_vs_oracle / n);
		fmt::print("pilot_worst_vs_tuned: {:.4f} ({})\n", worst, worst_name);
		fmt::print("pilot_vs_tuned_score: {:.4f}\n", sum_vs_tuned / n);
	}
	return 0;
}
