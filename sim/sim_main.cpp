// dualpilot-sim: runs a scenario through one AQM and reports, per run, the
// queue-delay percentiles, utilisation, goodputs and an experience pool.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "common/cli.hpp"
#include "common/toml_reader.hpp"
#include "policy/pilot_profile.hpp"
#include "sim/report.hpp"
#include "sim/scenario.hpp"
#include "sim/sim_policy.hpp"
#include "sim/simulation.hpp"
#include "sim/sweep.hpp"

using namespace dualpilot;

namespace {

// A one-line bar on stderr, redrawn when the whole percent changes.
struct ProgressBar {
	bool enabled;
	uint32_t run, runs;
	int last = -1;
	void operator()(double frac)
	{
		if (!enabled)
			return;
		const int pct = static_cast<int>(frac * 100);
		if (pct == last)
			return;
		last = pct;
		const int filled = pct * 30 / 100;
		fmt::print(stderr, "\r  run {}/{} [{:<30}] {:3}%", run, runs, std::string(filled, '#'), pct);
		if (pct >= 100)
			fmt::print(stderr, "\r{:60}\r", "");
	}
};

std::string opt_pool_text(bool no_pool, bool json, bool dpp)
{
	if (no_pool)
		return "";
	return std::string(", pool") + (json ? ".json" : "") + (json && dpp ? " and" : "") + (dpp ? " pool.dpp" : "");
}

// The plots come from perf/plot (python3-matplotlib); a machine without it
// still gets every data file, and a warning.
void draw_plots(const std::string &out_dir, bool quiet)
{
	const std::string cmd = "'" DUALPILOT_SOURCE_DIR "/scripts/python3' '" DUALPILOT_SOURCE_DIR "/perf/plot' '" + out_dir + "' --out '" +
				out_dir + "/plots'" + (quiet ? " >/dev/null" : "");
	if (std::system(cmd.c_str()) != 0)
		fmt::print(stderr, "warning: plots not drawn ({} failed); the data files are written\n", cmd);
}

// --compare: the scenario once per AQM (same seed), one table. Each AQM
// gets the scenario's parameters for it; --set key=value applies to all
// AQMs that know the key, AQM:key=value to one.
int run_compare(const sim::Scenario &sc, const std::vector<std::string> &aqms, const std::vector<std::string> &sets,
		uint64_t seed, const std::string &out_dir, bool quiet)
{
	std::string table = sim::compare_header();
	for (const std::string &name : aqms) {
		std::vector<aqm::Setting> settings;
		if (auto it = sc.aqm_params.find(name); it != sc.aqm_params.end())
			settings = it->second;
		for (const std::string &s : sets) {
			const size_t colon = s.find(':');
			if (colon == std::string::npos)
				settings.push_back(aqm::parse_setting(s));
			else if (s.substr(0, colon) == name)
				settings.push_back(aqm::parse_setting(s.substr(colon + 1)));
		}
		auto built = aqm::make_aqm(name, settings, seed);
		if (!built.error.empty()) {
			fmt::print(stderr, "error: {}\n", built.error);
			return 2;
		}
		sim::RunOptions opt;
		opt.seed = seed;
		ProgressBar bar{!quiet && isatty(STDERR_FILENO) != 0, 1, 1};
		opt.progress = [&bar](double f) { bar(f); };
		const sim::RunResult r = sim::run_scenario(sc, std::move(*built.aqm), opt);
		table += sim::compare_row(name, r, sc.objective);
		if (!out_dir.empty()) {
			const std::string dir = out_dir + "/" + name + "/seed-" + std::to_string(seed);
			if (std::string err = sim::write_run_dir(sc, r, seed, dir, false, false); !err.empty()) {
				fmt::print(stderr, "error: {}\n", err);
				return 1;
			}
		}
	}
	fmt::print("{}\n{}", sc.description.empty() ? sc.name : sc.description, table);
	fmt::print("L = the L4S queue (ECT(1) and CE), C = the Classic queue; single-queue AQMs put all in C.\n"
		   "Delays are sojourn times after the warm-up; goodput by traffic class (ECT(1) flows = L4S).\n");
	return 0;
}

// --sweep (or a scenario with a [sweep] table): every cell once per seed,
// its run files and pool.dpp in OUT/CELL/seed-N/, one line per run in
// OUT/sweep.csv. Held-out rates, RTTs and names are refused first.
int run_sweep(const sim::Sweep &sw, const std::string &out_dir, const std::string &heldout_dir, uint32_t cells_override,
	      bool no_pool, bool quiet)
{
	if (std::string err = sim::check_sweep_against_heldout(sw, heldout_dir); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 2;
	}
	sim::Sweep grid = sw;
	if (cells_override)
		grid.cells = cells_override;
	std::vector<sim::SweepCell> cells;
	if (std::string err = sim::sweep_cells(grid, cells); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 2;
	}
	std::vector<double> scores;
	const bool terminal = common::stderr_is_terminal();
	std::string csv = "cell,rate_bps,rtt_us,mix,behaviour,epsilon,seed,aqm,l4s_p50_ms,l4s_p99_ms,classic_p50_ms,"
			  "classic_p99_ms,utilisation,jain,score,pool_entries\n";
	for (size_t i = 0; i < cells.size(); i++) {
		const sim::SweepCell &c = cells[i];
		auto built = aqm::make_aqm(c.aqm, c.settings, c.seed);
		if (!built.error.empty()) {
			fmt::print(stderr, "error: cell {}: {}\n", c.name, built.error);
			return 2;
		}
		sim::RunOptions opt;
		opt.seed = c.seed;
		opt.record_pool = !no_pool;
		opt.objective = c.scenario.objective;
		opt.epsilon = c.epsilon;
		const sim::RunResult r = sim::run_scenario(c.scenario, std::move(*built.aqm), opt);
		const std::string dir = out_dir + "/" + c.name;
		if (std::string err = sim::write_run_dir(c.scenario, r, c.seed, dir, false, !no_pool); !err.empty()) {
			fmt::print(stderr, "error: {}\n", err);
			return 1;
		}
		const experience::ObjectiveInputs in = experience::as_printed(r.objective_inputs());
		scores.push_back(experience::score(in, c.scenario.objective).score);
		csv += fmt::format("{},{},{},{},{},{:g},{},\"{}\",{:.4f},{:.4f},{:.4f},{:.4f},{:.6f},{:.4f},{:.6f},{}\n", c.name,
				   c.scenario.rate_bps, c.rtt_ns / 1000, c.mix, c.behaviour, c.epsilon, c.seed, r.aqm_description,
				   in.queue[1].p50_ms, in.queue[1].p99_ms, in.queue[0].p50_ms, in.queue[0].p99_ms, in.utilisation,
				   in.jain, scores.back(), r.pool.size());
		// Redrawn in place on a terminal; into a log, a line each tenth of the grid.
		if (!quiet && terminal)
			fmt::print(stderr, "\r  sweep {}: cell {}/{} {:<60}", sw.name, i + 1, cells.size(), c.name);
		else if (!quiet && ((i + 1) % std::max<size_t>(1, cells.size() / 10) == 0 || i + 1 == cells.size()))
			fmt::print(stderr, "  sweep {}: cell {}/{}\n", sw.name, i + 1, cells.size());
	}
	if (!quiet && terminal)
		fmt::print(stderr, "\n");
	std::FILE *f = std::fopen((out_dir + "/sweep.csv").c_str(), "w");
	if (!f || std::fputs(csv.c_str(), f) < 0) {
		fmt::print(stderr, "error: {}/sweep.csv: cannot write\n", out_dir);
		if (f)
			std::fclose(f);
		return 1;
	}
	std::fclose(f);
	// best.txt: the pool of each scenario's best-scoring cell, one path a
	// line, for filtered behaviour cloning (scripts/train-pilot).
	std::string best;
	if (!no_pool)
		for (size_t i : sim::best_cell_per_scenario(cells, scores))
			best += out_dir + "/" + cells[i].name + "/pool.dpp\n";
	if (!(f = std::fopen((out_dir + "/best.txt").c_str(), "w")) || std::fputs(best.c_str(), f) < 0) {
		fmt::print(stderr, "error: {}/best.txt: cannot write\n", out_dir);
		if (f)
			std::fclose(f);
		return 1;
	}
	std::fclose(f);
	if (!quiet)
		fmt::print("sweep {}: {} runs into {}/ (CELL/ with pool.dpp; sweep.csv; best.txt: each scenario's best pool)\n",
			   sw.name, cells.size(), out_dir);
	return 0;
}

// What main's steps share: the command line's choices.
struct Options {
	std::string scenario_path, aqm_name, out_dir, pool_formats = "json,dpp";
	std::vector<std::string> sets, compare;
	uint64_t seed = 1;
	uint32_t runs = 0;
	double reward_offset_us = 0;
	bool quiet = false, no_pool = false, no_plots = false;
	std::string sweep_path, heldout_dir = DUALPILOT_SOURCE_DIR "/configs/heldout";
	uint32_t sweep_cells = 0;
	std::string policy_path, policy_mode = "enforce";
	// The closed loop's defaults: the pilot profile's (configs/pilot/profile.toml).
	double decision_delay_us = static_cast<double>(policy::pilot_profile::kDecisionDelaysNs[0]) / 1e3;
	double override_ttl_us = static_cast<double>(policy::pilot_profile::kOverrideTtlNs) / 1e3;
	uint32_t inference_interval = policy::pilot_profile::kInferenceInterval;
	policy::GuardRails guard;
	bool no_harm_guard = false;
};

// The runs of one scenario under one AQM, as the options and the scenario
// decide them.
struct Plan {
	std::string aqm_name;
	std::vector<aqm::Setting> settings;
	bool json = false, dpp = false; // the pool's files
	uint32_t runs = 0;
	std::string out_dir;
};

// An exit status when the process should stop here (--help, a parse error,
// neither --scenario nor --sweep).
std::optional<int> parse_command_line(int argc, char **argv, Options &o)
{
	CLI::App app{"dualpilot-sim: a packet-level simulator of one bottleneck under an aqm/ AQM"};
	app.add_option("--scenario", o.scenario_path, "scenario TOML (configs/scenarios/*.toml); one with a [sweep] "
						      "table runs as a sweep of its flows");
	app.add_option("--sweep", o.sweep_path, "a sweep file (configs/sweeps/*.toml): pools over a grid of rates, "
						"RTTs, mixes and behaviour policies, into --out");
	app.add_option("--sweep-cells", o.sweep_cells, "draw this many cells of the sweep's grid (default: its cells)");
	app.add_option("--heldout-dir", o.heldout_dir, "the held-out scenarios a sweep must not touch")
		->capture_default_str();
	app.add_option("--aqm", o.aqm_name, "fifo, pie, codel or dualpi2 (default: the scenario's)");
	app.add_option("--compare", o.compare, "run each of these AQMs once and print them side by side "
					       "(e.g. fifo,pie,codel,dualpi2); --out gets one folder per AQM")
		->delimiter(',');
	app.add_option("--set", o.sets, "AQM parameter key=value (tc names), repeatable; later ones win");
	app.add_option("--seed", o.seed, "seed of the first run; run i uses seed + i");
	app.add_option("--runs", o.runs, "runs (default: the scenario's repetitions)")->check(CLI::Range(1, 1000));
	app.add_option("-o,--out", o.out_dir, "directory for the run files, seed-N/ per run (default runs/SCENARIO-AQM)");
	app.add_flag("--no-plots", o.no_plots, "do not draw the PNG plots (perf/plot) into OUT/plots");
	app.add_option("--pool-formats", o.pool_formats, "experience pool files to write: json, dpp or both");
	app.add_flag("--no-pool", o.no_pool, "do not record an experience pool");
	app.add_option("--reward-offset-us", o.reward_offset_us,
		       "pools get the paper's reward, packet_length / (queue_delay_us + this), instead of the "
		       "objective's (the scenario's [objective] reward)")->check(CLI::Range(1e-9, 1e12));
	app.add_flag("--quiet,-q", o.quiet, "no progress bar and no tables");
	app.add_option("--policy", o.policy_path,
		       "a model file (.dpm) deciding beside the AQM, in closed loop: a verdict pilot, or a tuner of a "
		       "DualPI2's settings (told apart by the model's features)");
	app.add_option("--policy-mode", o.policy_mode, "enforce (the policy's overrides act)")
		->check(CLI::IsMember({"enforce"}));
	app.add_option("--decision-delay-us", o.decision_delay_us, "inference latency modelled, us")
		->check(CLI::Range(0.0, 1e7));
	app.add_option("--override-ttl-us", o.override_ttl_us, "an override not refreshed within this expires, us")
		->check(CLI::Range(0.0, 1e9));
	app.add_option("--inference-interval", o.inference_interval, "decisions of a queue between policy calls")
		->check(CLI::Range(1, 1000000));
	double min_delay_us = static_cast<double>(o.guard.min_delay_ns) / 1e3;
	app.add_option("--min-delay-us", min_delay_us, "guard rail: no policy drop or mark below this sojourn, us")
		->check(CLI::Range(0.0, 1e9))
		->capture_default_str();
	app.add_option("--max-prob", o.guard.max_prob, "guard rail: cap on the policy's drop and mark probabilities")
		->check(CLI::Range(0.0, 1.0))
		->capture_default_str();
	app.add_flag("--no-harm-guard", o.no_harm_guard,
		     "never back a hurting policy off to the AQM (docs/pilot.md, \"The harm guard\")");
	app.footer(common::example({"dualpilot-sim --scenario configs/scenarios/paper-testbed.toml --compare fifo,dualpi2",
				    "dualpilot-sim --sweep configs/sweeps/train.toml --sweep-cells 8 -o runs/sweep"}));
	CLI11_PARSE(app, argc, argv);
	if (o.sweep_path.empty() && o.scenario_path.empty()) {
		fmt::print(stderr, "error: --scenario or --sweep is required\n");
		return 2;
	}
	o.guard.min_delay_ns = static_cast<uint64_t>(min_delay_us * 1e3);
	return std::nullopt;
}

// A sweep file, or a scenario with a [sweep] table, runs as a sweep: its exit
// status. Nothing when the scenario is not one.
std::optional<int> run_if_sweep(const Options &o)
{
	const bool given_as_sweep = !o.sweep_path.empty();
	const std::string &path = given_as_sweep ? o.sweep_path : o.scenario_path;
	std::string text;
	if (std::string err = common::read_file(path, given_as_sweep ? "sweep file" : "scenario file", text);
	    !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 2;
	}
	sim::Sweep sw;
	bool plain_scenario = false;
	if (std::string err = sim::parse_sweep(text, path, sw, &plain_scenario); !err.empty()) {
		if (plain_scenario && !given_as_sweep)
			return std::nullopt; // --scenario without a [sweep] table: one scenario, read next
		fmt::print(stderr, "error: {}\n", err);
		return 2;
	}
	if (!o.policy_path.empty() || !o.compare.empty()) {
		fmt::print(stderr, "error: a sweep runs its own behaviours: no --policy or --compare\n");
		return 2;
	}
	return run_sweep(sw, o.out_dir.empty() ? "runs/sweep-" + sw.name : o.out_dir, o.heldout_dir, o.sweep_cells,
			 o.no_pool, o.quiet);
}

// --policy's model, when one is given. Exit status 2 on an error, else 0.
int load_policy(const Options &o, sim::SimModel &policy)
{
	if (o.policy_path.empty())
		return 0;
	if (!o.compare.empty()) {
		fmt::print(stderr, "error: --policy runs with one --aqm, not with --compare\n");
		return 2;
	}
	if (std::string err = policy.load(o.policy_path); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 2;
	}
	return 0;
}

// The AQM (checked by building it once), its settings, the pool's files, the
// number of runs and the output folder. Exit status 2 on an error, else 0.
int plan_runs(const Options &o, sim::Scenario &sc, Plan &plan)
{
	plan.aqm_name = o.aqm_name.empty() ? sc.aqm : o.aqm_name;
	plan.settings = sc.aqm_params[plan.aqm_name];
	for (const std::string &s : o.sets)
		plan.settings.push_back(aqm::parse_setting(s));
	if (auto probe = aqm::make_aqm(plan.aqm_name, plan.settings, o.seed); !probe.error.empty()) {
		fmt::print(stderr, "error: {}\n", probe.error);
		return 2;
	}
	plan.json = o.pool_formats.find("json") != std::string::npos;
	plan.dpp = o.pool_formats.find("dpp") != std::string::npos;
	if (!plan.json && !plan.dpp && !o.no_pool) {
		fmt::print(stderr, "error: --pool-formats: expected json, dpp or json,dpp\n");
		return 2;
	}
	plan.runs = o.runs ? o.runs : sc.repetitions;
	plan.out_dir = o.out_dir;
	if (plan.out_dir.empty())
		plan.out_dir = "runs/" + (sc.name.empty() ? std::string("scenario") : sc.name) + "-" + plan.aqm_name +
			       (o.policy_path.empty() ? "" : "-policy");
	return 0;
}

// One run's options: the seed, the pool and its reward, and the policy beside
// the AQM when there is one.
sim::RunOptions run_options(const Options &o, const sim::Scenario &sc, sim::SimModel &policy, uint64_t run_seed)
{
	sim::RunOptions opt;
	opt.seed = run_seed;
	opt.record_pool = !o.no_pool;
	opt.objective = sc.objective;
	if (o.reward_offset_us > 0) {
		opt.objective.reward = experience::RewardKind::paper;
		opt.objective.paper_delay_offset_us = o.reward_offset_us;
	}
	if (!o.policy_path.empty()) {
		policy.attach(opt, static_cast<uint64_t>(o.decision_delay_us * 1e3));
		opt.inference_interval = o.inference_interval;
		opt.override_ttl_ns = static_cast<uint64_t>(o.override_ttl_us * 1e3);
		opt.guard = o.guard;
		opt.harm_guard.enabled = !o.no_harm_guard;
	}
	return opt;
}

// The tuner's line: what became of its settings and the ones held longest.
std::string tuner_line(const sim::RunResult &r, const sim::SimModel &m, double delay_us)
{
	const policy::TuneLoop &loop = m.tune_loop();
	std::string held;
	std::vector<size_t> order(r.tune_held_ns.size());
	for (size_t i = 0; i < order.size(); i++)
		order[i] = i;
	std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return r.tune_held_ns[a] > r.tune_held_ns[b]; });
	for (size_t i = 0; i < std::min<size_t>(3, order.size()) && r.tune_held_ns[order[i]] > 0; i++)
		held += fmt::format("{}{} {:.1f} s", i ? ", " : "",
				    order[i] < loop.actions().size() ? policy::describe(loop.actions()[order[i]]) : "the base",
				    static_cast<double>(r.tune_held_ns[order[i]]) / 1e9);
	return fmt::format("tuner: {} decisions ({} idle intervals not decided), {} settings applied, {} stale, {} "
			   "expired, {} pilot_backoffs, {} outputs not finite (decision delay {:g} us); held longest: {}",
			   loop.stats().decisions, loop.stats().idle_intervals, r.tune_applied, r.tune_stale, r.tune_expired,
			   loop.stats().pilot_backoffs, m.invalid_outputs(), delay_us, held);
}

// One run's line of runs.csv.
std::string runs_csv_row(const sim::Scenario &sc, const sim::RunResult &r, uint64_t run_seed)
{
	auto p = [&](int q, double quant) { return r.queues[q].delay.percentile_ns(quant) / 1e6; };
	return fmt::format("{},{:.4f},{:.4f},{:.4f},{:.4f},{:.4f},{:.4f},{},{:.6f}\n", run_seed, p(1, 0.5), p(1, 0.99),
			   p(0, 0.5), p(0, 0.99), r.utilisation_measured, r.jain_fairness(), r.pool.size(),
			   experience::score(experience::as_printed(r.objective_inputs()), sc.objective).score);
}

// The plan's runs, seed, seed + 1, ...: each one's table (unless --quiet) and
// run folder, then runs.csv. Exit status 1 when a file cannot be written.
int run_all(const Options &o, const sim::Scenario &sc, const Plan &plan, sim::SimModel &policy)
{
	std::string runs_csv =
		"seed,l4s_p50_ms,l4s_p99_ms,classic_p50_ms,classic_p99_ms,utilisation,jain,pool_entries,score\n";
	for (uint32_t i = 0; i < plan.runs; i++) {
		const uint64_t run_seed = o.seed + i;
		auto built = aqm::make_aqm(plan.aqm_name, plan.settings, run_seed);
		sim::RunOptions opt = run_options(o, sc, policy, run_seed);
		ProgressBar bar{!o.quiet && isatty(STDERR_FILENO) != 0, i + 1, plan.runs};
		opt.progress = [&bar](double f) { bar(f); };
		const sim::RunResult r = sim::run_scenario(sc, std::move(*built.aqm), opt);
		if (!o.quiet)
			fmt::print("{}\n", sim::summary_table(sc, r, run_seed));
		if (!o.quiet && policy.is_tuner())
			fmt::print("{}\n", tuner_line(r, policy, o.decision_delay_us));
		else if (!o.quiet && !o.policy_path.empty())
			fmt::print("policy: {} calls, {} dequeue verdicts overridden, {} outputs not finite, {} pilot_backoffs "
				   "(decision delay {:g} us, a call every {} decisions of a queue)\n",
				   r.policy_calls, r.overridden, policy.invalid_outputs(), r.pilot_backoffs,
				   o.decision_delay_us, o.inference_interval);
		runs_csv += runs_csv_row(sc, r, run_seed);
		const std::string dir = plan.out_dir + "/seed-" + std::to_string(run_seed);
		if (std::string err = sim::write_run_dir(sc, r, run_seed, dir, plan.json && opt.record_pool,
							 plan.dpp && opt.record_pool);
		    !err.empty()) {
			fmt::print(stderr, "error: {}\n", err);
			return 1;
		}
	}
	std::FILE *f = std::fopen((plan.out_dir + "/runs.csv").c_str(), "w");
	if (!f || std::fputs(runs_csv.c_str(), f) < 0) {
		fmt::print(stderr, "error: {}/runs.csv: cannot write\n", plan.out_dir);
		return 1;
	}
	std::fclose(f);
	return 0;
}

} // namespace

int main(int argc, char **argv)
{
	Options opt;
	if (std::optional<int> exit_status = parse_command_line(argc, argv, opt))
		return *exit_status;
	if (std::optional<int> exit_status = run_if_sweep(opt))
		return *exit_status;
	sim::SimModel policy;
	if (int status = load_policy(opt, policy))
		return status;
	sim::Scenario sc;
	if (std::string err = sim::load_scenario(opt.scenario_path, sc); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 2;
	}
	if (!opt.compare.empty())
		return run_compare(sc, opt.compare, opt.sets, opt.seed, opt.out_dir, opt.quiet);
	Plan plan;
	if (int status = plan_runs(opt, sc, plan))
		return status;

	if (int status = run_all(opt, sc, plan, policy))
		return status;

	if (!opt.quiet)
		fmt::print("wrote {} run(s) to {}/ (runs.csv; seed-N/ with summary, delay CDF, utilisation, flows{})\n",
			   plan.runs, plan.out_dir, opt_pool_text(opt.no_pool, plan.json, plan.dpp));
	if (!opt.no_plots)
		draw_plots(plan.out_dir, opt.quiet);
	return 0;
}
