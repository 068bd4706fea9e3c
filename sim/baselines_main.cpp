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
#include <optional>

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

// What main's steps share: the command line's choices.
struct Options {
	std::string sweep_path = DUALPILOT_SOURCE_DIR "/configs/sweeps/train.toml";
	std::string heldout_dir = DUALPILOT_SOURCE_DIR "/configs/heldout";
	std::string grid = "full", out_dir = "build/baselines", policy_path;
	uint32_t train_cells = 40, seeds = 0, inference_interval = 10;
	uint64_t seed = 101;
	std::string pilot_base = "tc";
};

// The baselines' figures on one held-out scenario.
struct Baselines {
	Figures tc, tuned, oracle;
	std::string oracle_label;
};

// The table as it fills, row by row, and the sums of the ratios printed under it.
struct Table {
	std::string md = "| scenario | policy | decision delay | score | L p50 / p99 ms | C p50 / p99 ms | utilisation | Jain |\n"
			 "|---|---|---|---|---|---|---|---|\n";
	std::string csv = "scenario,policy,decision_delay,score,l4s_p50_ms,l4s_p99_ms,classic_p50_ms,classic_p99_ms,"
			  "utilisation,jain,pilot_backoffs\n";
	double sum_vs_tuned = 0, sum_vs_tc = 0, sum_vs_oracle = 0, worst = 1e9, sum_tuned_vs_tc = 0,
	       sum_oracle_vs_tuned = 0;
	std::string worst_name, goal_misses;
};

// An exit status when the process should stop here (--help, a parse error).
std::optional<int> parse_command_line(int argc, char **argv, Options &o)
{
	CLI::App app{"dualpilot-baselines: tc defaults, the tuned default and the per-scenario oracle on the held-out "
		     "scenarios, and the pilot beside them"};
	app.add_option("--train-sweep", o.sweep_path, "the training sweep whose scenarios the tuned default is searched on")
		->capture_default_str();
	app.add_option("--train-cells", o.train_cells, "scenarios of the training grid for the search (drawn by its seed)")
		->capture_default_str();
	app.add_option("--heldout-dir", o.heldout_dir, "the held-out scenarios")->capture_default_str();
	app.add_option("--grid", o.grid, "the configurations searched: full (60) or small (6, CI)")
		->check(CLI::IsMember({"full", "small"}))
		->capture_default_str();
	app.add_option("--seeds", o.seeds, "runs per held-out scenario (default: each one's repetitions)");
	app.add_option("--seed", o.seed, "first seed of the held-out runs")->capture_default_str();
	app.add_option("--policy", o.policy_path, "a model file: DualPI2 + this pilot in enforce mode, beside the baselines");
	app.add_option("--inference-interval", o.inference_interval, "the pilot's decisions per call")->capture_default_str();
	app.add_option("--pilot-base", o.pilot_base,
		       "the DualPI2 the pilot overrides: tc (tc's defaults, the router's) or tuned (the tuned default)")
		->check(CLI::IsMember({"tc", "tuned"}))
		->capture_default_str();
	app.add_option("--out", o.out_dir, "table.md, table.csv and search.csv go here")->capture_default_str();
	CLI11_PARSE(app, argc, argv);
	return std::nullopt;
}

// The training grid's scenarios the tuned default is searched on (a sweep
// that touches a held-out scenario is refused). Error text or empty.
[[nodiscard]] std::string training_scenarios(const Options &o, std::vector<sim::SweepCell> &cells)
{
	sim::Sweep sweep;
	if (std::string err = sim::load_sweep(o.sweep_path, sweep); !err.empty())
		return err;
	if (std::string err = sim::check_sweep_against_heldout(sweep, o.heldout_dir); !err.empty())
		return err;
	// One behaviour, no exploration (only the scenario of each cell is used here).
	sweep.behaviours = {"dualpi2"};
	sweep.epsilons = {0};
	sweep.seeds = 1;
	sweep.cells = o.train_cells;
	return sim::sweep_cells(sweep, cells);
}

// The held-out scenarios, in file-name order. Error text or empty.
[[nodiscard]] std::string read_heldout(const std::string &dir, std::vector<sim::Scenario> &heldout)
{
	if (std::string err = sim::load_scenario_dir(dir, heldout); !err.empty())
		return err;
	return heldout.empty() ? dir + ": no held-out scenarios" : std::string{};
}

// (b) The tuned default: the grid's best mean score over the training
// scenarios; the search in OUT/search.csv. The best one's index.
size_t search_tuned_default(const Options &o, const std::vector<Candidate> &grid_configs,
			    const std::vector<sim::SweepCell> &cells)
{
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
	std::ofstream(o.out_dir + "/search.csv") << search_csv;
	fmt::print("tuned default (best mean score {:.4f} over {} training scenarios of {} configurations): {}\n",
		   means[best], cells.size(), grid_configs.size(), grid_configs[best].label);
	return best;
}

// (a), (b) and (c) on one held-out scenario, n seeds each: their rows.
Baselines run_baselines(Table &t, const sim::Scenario &sc, uint32_t n, uint64_t seed, const Candidate &tuned,
			const std::vector<Candidate> &grid_configs)
{
	Baselines b;
	b.tc = run_mean(sc, {}, n, seed, nullptr);
	b.tuned = run_mean(sc, tuned.settings, n, seed, nullptr);
	for (const Candidate &c : grid_configs) {
		const Figures f = run_mean(sc, c.settings, n, seed, nullptr);
		if (b.oracle_label.empty() || f.score > b.oracle.score) {
			b.oracle = f;
			b.oracle_label = c.label;
		}
	}
	t.md += row_md(sc.name, "DualPI2, tc defaults", "-", b.tc);
	t.md += row_md(sc.name, "DualPI2, tuned default", "-", b.tuned);
	t.md += row_md(sc.name, "DualPI2, oracle (" + b.oracle_label + ")", "-", b.oracle);
	t.csv += row_csv(sc.name, "tc-defaults", "-", b.tc) + row_csv(sc.name, "tuned", "-", b.tuned) +
		 row_csv(sc.name, "oracle", "-", b.oracle);
	t.sum_tuned_vs_tc += b.tuned.score / b.tc.score;
	t.sum_oracle_vs_tuned += b.oracle.score / b.tuned.score;
	return b;
}

// DualPI2 + the pilot on one held-out scenario at 20 us and 39 ms decisions:
// its rows, where it misses the tuned default's L4S p99 or utilisation, and
// (at 20 us) its ratios against the baselines.
void run_pilot(Table &t, const Options &o, const sim::Scenario &sc, uint32_t n, const Baselines &b,
	       sim::SimPolicy &policy, const Candidate &tuned)
{
	const Figures &tf = b.tuned;
	for (uint64_t delay_ns : {uint64_t{20000}, uint64_t{39000000}}) {
		const PilotSpec spec{&policy, delay_ns, o.inference_interval};
		const Figures p = run_mean(sc, o.pilot_base == "tuned" ? tuned.settings : std::vector<aqm::Setting>{}, n,
					   o.seed, &spec);
		const std::string delay = delay_ns < 1000000 ? "20 us" : "39 ms";
		t.md += row_md(sc.name, o.pilot_base == "tuned" ? "tuned DualPI2 + pilot" : "DualPI2 + pilot", delay, p);
		t.csv += row_csv(sc.name, "pilot", delay, p);
		if (p.l99 > tf.l99 + 1e-9 || p.util < tf.util - 0.01)
			t.goal_misses += fmt::format("  {} at {}: L4S p99 {:.2f} ms (tuned {:.2f}), utilisation {:.1f} % "
						     "(tuned {:.1f} %)\n",
						     sc.name, delay, p.l99, tf.l99, 100 * p.util, 100 * tf.util);
		if (delay_ns != 20000)
			continue;
		const double ratio = p.score / tf.score;
		t.sum_vs_tuned += ratio;
		t.sum_vs_tc += p.score / b.tc.score;
		t.sum_vs_oracle += p.score / b.oracle.score;
		if (ratio < t.worst) {
			t.worst = ratio;
			t.worst_name = sc.name;
		}
	}
}

// OUT/table.md and table.csv, the table, then the mean ratios.
void report(const Options &o, const Table &t, size_t heldout_count)
{
	std::ofstream(o.out_dir + "/table.md") << t.md;
	std::ofstream(o.out_dir + "/table.csv") << t.csv;
	fmt::print("\n{}\n", t.md);
	const double n = static_cast<double>(heldout_count);
	fmt::print("means over {} held-out scenarios (score ratios, 20 us decisions for the pilot):\n", heldout_count);
	fmt::print("tuned_vs_tc_defaults_score: {:.4f}\n", t.sum_tuned_vs_tc / n);
	fmt::print("oracle_vs_tuned_score: {:.4f}\n", t.sum_oracle_vs_tuned / n);
	if (o.policy_path.empty())
		return;
	if (!t.goal_misses.empty())
		fmt::print("where the pilot's L4S p99 exceeds the tuned default's or its utilisation falls more than 1 "
			   "point below it:\n{}",
			   t.goal_misses);
	fmt::print("pilot_vs_tc_defaults_score: {:.4f}\n", t.sum_vs_tc / n);
	fmt::print("pilot_vs_oracle_score: {:.4f}\n", t.sum_vs_oracle / n);
	fmt::print("pilot_worst_vs_tuned: {:.4f} ({})\n", t.worst, t.worst_name);
	fmt::print("pilot_vs_tuned_score: {:.4f}\n", t.sum_vs_tuned / n);
}

} // namespace

int main(int argc, char **argv)
{
	Options opt;
	if (std::optional<int> exit_status = parse_command_line(argc, argv, opt))
		return *exit_status;
	std::vector<sim::SweepCell> cells;
	std::vector<sim::Scenario> heldout;
	sim::SimPolicy policy;
	std::string err = training_scenarios(opt, cells);
	if (err.empty())
		err = read_heldout(opt.heldout_dir, heldout);
	if (err.empty() && !opt.policy_path.empty())
		err = policy.load(opt.policy_path);
	if (!err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 2;
	}
	std::error_code ec;
	std::filesystem::create_directories(opt.out_dir, ec);

	const std::vector<Candidate> grid_configs = candidate_grid(opt.grid);
	const Candidate &tuned = grid_configs[search_tuned_default(opt, grid_configs, cells)];
	Table table;
	for (const sim::Scenario &sc : heldout) {
		const uint32_t n = opt.seeds ? opt.seeds : sc.repetitions;
		const Baselines b = run_baselines(table, sc, n, opt.seed, tuned, grid_configs);
		if (!opt.policy_path.empty())
			run_pilot(table, opt, sc, n, b, policy, tuned);
	}
	report(opt, table, heldout.size());
	return 0;
}
