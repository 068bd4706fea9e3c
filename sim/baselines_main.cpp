// dualpilot-baselines: the held-out benchmark (issue 26; docs/benchmarks.md,
// "The held-out benchmark"). On every scenario of a family (configs/heldout/),
// with the same report seeds for every policy (a seed fixes the traffic):
//  tc       DualPI2 with tc's defaults;
//  tuned    the tuned default: the static setting of the grid with the best
//           mean score on training cells (never a held-out scenario or a
//           near twin), among those that keep the L4S promise;
//  oracle   the static oracle: per scenario, the grid's best on selection
//           seeds that are not report seeds;
//  piecewise the best grid setting per 2 s segment, chosen with hindsight:
//           an upper bound for a pilot that only changes DualPI2's settings;
//  pilot    with --policy, DualPI2 + the pilot in enforce mode over the
//           tuned default (or tc's, --pilot-base tc, or the pilot profile's
//           base, --pilot-base profile) at the pilot profile's decision
//           delays (configs/pilot/profile.toml). Where this search's tuned
//           default is another DualPI2 than the profile's base (the one the
//           pilot was trained over), a line says so.
// Every comparison is against the tuned default through sim/stats.hpp, with
// the utilisation floor and without it. Prints the tables and name: value
// lines; writes OUT/table.md, per_seed.csv, ratios.csv, search.csv.
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>

#include "common/cli.hpp"
#include "policy/pilot_profile.hpp"
#include "sim/heldout.hpp"
#include "sim/heldout_bench.hpp"
#include "sim/stats.hpp"
#include "sim/sweep.hpp"

using namespace dualpilot;
namespace profile = dualpilot::policy::pilot_profile;

namespace {

constexpr size_t kDelays = profile::kDecisionDelaysNs.size();

struct Options {
	std::string sweep_path = DUALPILOT_SOURCE_DIR "/configs/sweeps/train.toml";
	std::string heldout_dir = DUALPILOT_SOURCE_DIR "/configs/heldout";
	std::string grid = "full", out_dir = "build/baselines", policy_path, tuner_path, pilot_base = "tuned";
	uint32_t train_cells = 40, report_seeds = 5, selection_seeds = 2, every = 1, threads = 2,
		 inference_interval = profile::kInferenceInterval;
	uint64_t seed = 1001;
	double switch_margin = policy::TuneConfig{}.switch_margin;
};

std::optional<int> parse_command_line(int argc, char **argv, Options &o)
{
	CLI::App app{"dualpilot-baselines: the held-out benchmark: tc's defaults, the tuned default, the static and "
		     "piecewise oracles and the pilot on paired seeds, with confidence intervals"};
	app.add_option("--train-sweep", o.sweep_path, "the training sweep whose cells the tuned default is searched on")
		->capture_default_str();
	app.add_option("--train-cells", o.train_cells, "training cells for the search (drawn by the sweep's seed)")
		->capture_default_str();
	app.add_option("--heldout-dir", o.heldout_dir, "the family reported on (configs/dev for development)")
		->capture_default_str();
	app.add_option("--grid", o.grid, "the static settings searched: full (37) or small (4, CI)")
		->check(CLI::IsMember({"full", "small"}))
		->capture_default_str();
	app.add_option("--report-seeds", o.report_seeds, "report seeds per scenario, seed .. seed + N - 1")
		->check(CLI::Range(1, 100))
		->capture_default_str();
	app.add_option("--selection-seeds", o.selection_seeds, "the static oracle's selection seeds, after the report seeds")
		->check(CLI::Range(1, 100))
		->capture_default_str();
	app.add_option("--seed", o.seed, "the first report seed")->capture_default_str();
	app.add_option("--every", o.every, "every Nth scenario of the family only (a quick subset)")
		->check(CLI::Range(1, 1000))
		->capture_default_str();
	app.add_option("--threads", o.threads, "simulation threads (figures do not depend on it)")
		->check(CLI::Range(1, 256))
		->capture_default_str();
	app.add_option("--policy", o.policy_path, "a model file: DualPI2 + this pilot in enforce mode");
	app.add_option("--tuner", o.tuner_path,
		       "a tuner model file (action = \"tune\"): DualPI2 over the same base with this tuner setting it");
	app.add_option("--tuner-switch-margin", o.switch_margin,
		       "the tuner's hysteresis ([policy.tune] switch_margin): keep the setting in force unless the best "
		       "beats it by this probability")
		->check(CLI::Range(0.0, 0.999))
		->capture_default_str();
	app.add_option("--inference-interval", o.inference_interval, "the pilot's decisions per call")->capture_default_str();
	app.add_option("--pilot-base", o.pilot_base,
		       "the DualPI2 the pilot overrides: tuned (this search's tuned default), tc, or profile (the pilot "
		       "profile's base, configs/pilot/profile.toml)")
		->check(CLI::IsMember({"tc", "tuned", "profile"}))
		->capture_default_str();
	app.add_option("-o,--out", o.out_dir, "table.md, per_seed.csv, ratios.csv and search.csv go here")
		->capture_default_str();
	app.footer(common::example({"dualpilot-baselines --grid small --every 4 --policy configs/models/paper-student.dpm "
				    "-o build/baselines"}));
	CLI11_PARSE(app, argc, argv);
	return std::nullopt;
}

[[nodiscard]] std::string read_family(const Options &o, std::vector<sim::Scenario> &family)
{
	std::vector<sim::Scenario> all;
	if (std::string err = sim::load_scenario_dir(o.heldout_dir, all); !err.empty())
		return err;
	for (size_t i = 0; i < all.size(); i += o.every)
		family.push_back(all[i]);
	return family.empty() ? o.heldout_dir + ": no scenarios" : std::string{};
}

// The comparisons reported, each policy over the tuned default.
struct Comparison {
	std::string key, label;
	int policy;
	std::string kind; // the learned ones: "pilot" or "tuner"
	std::string delay;
};

// The learned policies' rows: the pilot's per decision delay, then the tuner's.
std::vector<Comparison> learned_rows(const sim::BenchConfig &c)
{
	std::vector<Comparison> out;
	for (bool tuner : {false, true}) {
		if ((tuner ? c.tuner_path : c.model_path).empty())
			continue;
		const char *kind = tuner ? "tuner" : "pilot";
		for (size_t d = 0; d < kDelays; d++)
			out.push_back({fmt::format("{}_{}", kind, profile::kDecisionDelayNames[d]),
				       fmt::format("{} at {}", kind, profile::kDecisionDelayWords[d]), sim::learned_index(c, tuner, d),
				       kind, profile::kDecisionDelayNames[d]});
	}
	return out;
}

std::vector<Comparison> comparisons(const std::vector<Comparison> &learned)
{
	std::vector<Comparison> c = learned;
	c.push_back({"oracle", "static oracle", sim::kOracle});
	c.push_back({"piecewise", "piecewise oracle", sim::kPiecewise});
	c.push_back({"tc", "tc defaults", sim::kTc});
	return c;
}

// log(policy / tuned) per seed; a score of 0 (nothing delivered) is held at
// 1e-6 so that the log stays finite and such a run counts as a heavy loss.
std::vector<double> log_ratios(const sim::ScenarioResult &r, int policy, bool floor, int over = sim::kTuned)
{
	std::vector<double> out;
	for (size_t k = 0; k < r.runs[over].size(); k++) {
		const auto &p = r.runs[policy][k], &t = r.runs[over][k];
		const double a = floor ? p.score : p.score_nofloor, b = floor ? t.score : t.score_nofloor;
		out.push_back(std::log(std::max(a, 1e-6) / std::max(b, 1e-6)));
	}
	return out;
}

bool chaotic(const sim::ScenarioResult &r)
{
	std::vector<double> s;
	for (const auto &f : r.runs[sim::kTuned])
		s.push_back(f.score);
	return sim::coefficient_of_variation(s) > sim::kChaoticCv;
}

double mean_score(const std::vector<sim::RunFigures> &runs, bool floor = true)
{
	double s = 0;
	for (const auto &f : runs)
		s += floor ? f.score : f.score_nofloor;
	return runs.empty() ? 0 : s / static_cast<double>(runs.size());
}

void write_per_seed(const Options &o, const std::vector<sim::ScenarioResult> &res, const std::vector<uint64_t> &seeds,
		    const std::vector<Comparison> &learned)
{
	std::vector<std::string> names{"tc", "tuned", "oracle", "piecewise"};
	for (const Comparison &l : learned)
		names.push_back(l.kind + "-" + l.delay);
	std::string csv = "scenario,policy,seed,score,score_nofloor,l4s_p50_ms,l4s_p99_ms,classic_p50_ms,classic_p99_ms,"
			  "utilisation,jain,balance\n";
	for (const auto &r : res)
		for (size_t p = 0; p < r.runs.size() && p < names.size(); p++)
			for (size_t k = 0; k < r.runs[p].size(); k++) {
				const auto &f = r.runs[p][k];
				csv += fmt::format("{},{},{},{:.6f},{:.6f},{:.4f},{:.4f},{:.4f},{:.4f},{:.6f},{:.4f},{:.4f}\n", r.name,
						   names[p], seeds[k], f.score, f.score_nofloor, f.l50, f.l99, f.c50, f.c99, f.util,
						   f.jain, f.balance);
			}
	std::ofstream(o.out_dir + "/per_seed.csv") << csv;
}

// Per scenario: the mean scores and the pilot's and piecewise oracle's
// ratios to the tuned default with their CIs, with the utilisation floor or
// without it.
std::string scenario_table(const std::vector<sim::ScenarioResult> &res, const std::vector<sim::Candidate> &grid,
			   const std::vector<Comparison> &learned, bool floor)
{
	std::string pilot_head, pilot_rule;
	for (const Comparison &l : learned) {
		pilot_head += l.label + " | ";
		pilot_rule += "---|---|";
	}
	for (const Comparison &l : learned)
		pilot_head += fmt::format("{}/tuned {} [95 % CI] | ", l.kind, l.label.substr(l.kind.size() + 4));
	std::string md = "| scenario | tc | tuned | oracle (setting) | piecewise | " + pilot_head +
			 "piecewise/tuned | chaotic |\n|---|---|---|---|---|" + pilot_rule + "---|---|\n";
	for (const auto &r : res) {
		auto ci = [&](int p) {
			const sim::MeanCi c = sim::mean_ci95(log_ratios(r, p, floor));
			return fmt::format("{:.3f} [{:.3f}, {:.3f}]", std::exp(c.mean), std::exp(c.low), std::exp(c.high));
		};
		md += fmt::format("| {} | {:.4f} | {:.4f} | {:.4f} ({}) | {:.4f} | ", r.name, mean_score(r.runs[sim::kTc], floor),
				  mean_score(r.runs[sim::kTuned], floor), mean_score(r.runs[sim::kOracle], floor),
				  grid[r.oracle].label, mean_score(r.runs[sim::kPiecewise], floor));
		for (const Comparison &l : learned)
			md += fmt::format("{:.4f} | ", mean_score(r.runs[l.policy], floor));
		for (const Comparison &l : learned)
			md += fmt::format("{} | ", ci(l.policy));
		md += fmt::format("{} | {} |\n", ci(sim::kPiecewise), chaotic(r) ? "yes" : "");
	}
	return md;
}

struct Subset {
	std::string name;
	std::vector<const sim::ScenarioResult *> members;
};

sim::RatioSummary summary_of(const Subset &set, int policy, bool floor, int over = sim::kTuned)
{
	std::vector<std::vector<double>> logs;
	for (const auto *r : set.members)
		logs.push_back(log_ratios(*r, policy, floor, over));
	return sim::summarize_log_ratios(logs);
}

std::string summary_table(const std::vector<Subset> &subsets, const std::vector<Comparison> &cmp)
{
	std::string md = "| over the tuned default | scenarios | floor | geometric mean [95 % CI] | median | worst (scenario) | "
			 "win share |\n|---|---|---|---|---|---|---|\n";
	for (const Subset &set : subsets) {
		if (set.members.empty())
			continue;
		for (const Comparison &c : cmp)
			for (bool floor : {true, false}) {
				const sim::RatioSummary s = summary_of(set, c.policy, floor);
				md += fmt::format("| {} | {} ({}) | {} | {:.4f} [{:.4f}, {:.4f}] | {:.4f} | {:.4f} ({}) | {:.2f} |\n",
						  c.label, set.name, s.scenarios, floor ? "on" : "off", s.geomean, s.ci_low,
						  s.ci_high, s.median, s.worst, set.members[s.worst_index]->name, s.win_share);
			}
	}
	return md;
}

void write_ratios(const Options &o, const Subset &all, const std::vector<Comparison> &cmp)
{
	std::string csv = "comparison,floor,scenario,mean_log_ratio,ci_low_log,ci_high_log\n";
	for (const Comparison &c : cmp)
		for (bool floor : {true, false})
			for (const auto *r : all.members) {
				const sim::MeanCi m = sim::mean_ci95(log_ratios(*r, c.policy, floor));
				csv += fmt::format("{},{},{},{:.6f},{:.6f},{:.6f}\n", c.key, floor ? "on" : "off", r->name, m.mean, m.low,
						   m.high);
			}
	std::ofstream(o.out_dir + "/ratios.csv") << csv;
}

// The longest base RTT of a scenario's flows.
uint64_t max_base_rtt_ns(const sim::Scenario &s)
{
	uint64_t m = 0;
	for (const sim::FlowSpec &f : s.flows)
		m = std::max(m, f.rtt_ns);
	return m;
}

// The tuner's own goals (issue 27): against the static oracle, on long RTTs,
// and the per-scenario limits on what it may trade (the L queue's p99, the
// utilisation, the coupling's rate balance).
void print_tuner_figures(const Subset &all, const Subset &long_rtt, const Comparison &l)
{
	fmt::print("tuner_vs_oracle_geomean_{}: {:.4f}\n", l.delay, summary_of(all, l.policy, true, sim::kOracle).geomean);
	if (!long_rtt.members.empty()) {
		double worst_seed = 1e300;
		for (const auto *r : long_rtt.members)
			for (double x : log_ratios(*r, l.policy, true))
				worst_seed = std::min(worst_seed, std::exp(x));
		fmt::print("tuner_long_rtt_geomean_{0}: {1:.4f}\ntuner_long_rtt_worst_seed_{0}: {2:.4f}\n", l.delay,
			   summary_of(long_rtt, l.policy, true).geomean, worst_seed);
	}
	size_t l99_over = 0, util_under = 0, balance_out = 0;
	for (const auto *r : all.members) {
		const auto &t = r->runs[sim::kTuned], &x = r->runs[l.policy];
		double tl = 0, xl = 0, tu = 0, xu = 0, xb = 0;
		size_t nb = 0;
		for (size_t k = 0; k < t.size(); k++) {
			tl += t[k].l99 / t.size();
			xl += x[k].l99 / t.size();
			tu += t[k].util / t.size();
			xu += x[k].util / t.size();
			if (x[k].balance > 0) {
				xb += std::log(x[k].balance);
				nb++;
			}
		}
		l99_over += xl > tl + 0.1;
		util_under += xu < tu - 0.01;
		balance_out += nb > 0 && (std::exp(xb / nb) < 0.5 || std::exp(xb / nb) > 2);
	}
	fmt::print("tuner_l4s_p99_over_tuned_scenarios_{0}: {1}\ntuner_util_under_tuned_scenarios_{0}: {2}\n"
		   "tuner_balance_outside_scenarios_{0}: {3}\n",
		   l.delay, l99_over, util_under, balance_out);
}

// The name: value lines (issue 26's figures).
void print_figures(const Subset &all, const Subset &long_rtt, const std::vector<Comparison> &learned, size_t seeds)
{
	fmt::print("heldout_scenarios: {}\nheldout_seeds: {}\n", all.members.size(), seeds);
	for (const Comparison &l : learned) {
		const sim::RatioSummary s = summary_of(all, l.policy, true);
		fmt::print("{0}_vs_tuned_geomean_{1}: {2:.4f}\n{0}_vs_tuned_ci_low_{1}: {3:.4f}\n"
			   "{0}_vs_tuned_ci_high_{1}: {4:.4f}\n{0}_vs_tuned_median_{1}: {5:.4f}\n"
			   "{0}_worst_vs_tuned_{1}: {6:.4f}\n{0}_win_share_{1}: {7:.4f}\n",
			   l.kind, l.delay, s.geomean, s.ci_low, s.ci_high, s.median, s.worst, s.win_share);
		const sim::RatioSummary off = summary_of(all, l.policy, false);
		fmt::print("{0}_vs_tuned_geomean_nofloor_{1}: {2:.4f}\n{0}_vs_tuned_ci_low_nofloor_{1}: {3:.4f}\n"
			   "{0}_vs_tuned_ci_high_nofloor_{1}: {4:.4f}\n",
			   l.kind, l.delay, off.geomean, off.ci_low, off.ci_high);
		if (l.kind == "tuner")
			print_tuner_figures(all, long_rtt, l);
	}
	fmt::print("tc_vs_tuned_geomean: {:.4f}\n", summary_of(all, sim::kTc, true).geomean);
	fmt::print("oracle_vs_tuned_geomean: {:.4f}\n", summary_of(all, sim::kOracle, true).geomean);
	fmt::print("oracle_vs_tuned_geomean_nofloor: {:.4f}\n", summary_of(all, sim::kOracle, false).geomean);
	fmt::print("piecewise_oracle_vs_tuned_geomean: {:.4f}\n", summary_of(all, sim::kPiecewise, true).geomean);
	fmt::print("piecewise_oracle_vs_tuned_geomean_nofloor: {:.4f}\n", summary_of(all, sim::kPiecewise, false).geomean);
}

void report(const Options &o, const sim::BenchConfig &c, const std::vector<sim::Scenario> &family,
	    const std::vector<sim::ScenarioResult> &res, const std::vector<uint64_t> &seeds)
{
	Subset all{"all", {}}, calm{"not chaotic", {}}, wild{"chaotic", {}}, long_rtt{"base RTT >= 100 ms", {}};
	for (size_t i = 0; i < res.size(); i++) {
		const auto &r = res[i];
		all.members.push_back(&r);
		(chaotic(r) ? wild : calm).members.push_back(&r);
		if (max_base_rtt_ns(family[i]) >= 100000000)
			long_rtt.members.push_back(&r);
	}
	const std::vector<Comparison> learned = learned_rows(c);
	const std::vector<Comparison> cmp = comparisons(learned);
	const std::string md = "## Per scenario, utilisation floor on (mean scores over the report seeds; ratios are "
			       "geometric means over them)\n\n" + scenario_table(res, c.grid, learned, true) +
			       "\n## Per scenario, utilisation floor off (the oracles chosen as above)\n\n" +
			       scenario_table(res, c.grid, learned, false) +
			       "\n## Over the tuned default, with the utilisation floor and without it\n\n" +
			       summary_table({all, calm, wild, long_rtt}, cmp);
	std::ofstream(o.out_dir + "/table.md") << md;
	write_per_seed(o, res, seeds, learned);
	write_ratios(o, all, cmp);
	fmt::print("\n{}\n", md);
	fmt::print("chaotic scenarios (the tuned default's score varies by more than {:.0f} % of its mean over the "
		   "seeds): {}\n",
		   100 * sim::kChaoticCv, wild.members.size());
	for (const auto *r : wild.members)
		fmt::print("  {}\n", r->name);
	print_figures(all, long_rtt, learned, seeds.size());
}

// The pilot profile's base (what the pilot was trained over) against this
// search's tuned default: the same DualPI2 where make_aqm describes them
// alike, whatever the keys that set them; a line on stdout where they are not.
void say_if_not_the_profile(const sim::Candidate &tuned, const std::string &pilot_base)
{
	auto described = [](const std::vector<aqm::Setting> &s) {
		aqm::AqmOrError built = aqm::make_aqm("dualpi2", s);
		return built.aqm ? aqm::describe(*built.aqm) : built.error;
	};
	if (described(profile::base_settings()) == described(tuned.settings))
		return;
	fmt::print("pilot profile ({}): its base, {}, is not this search's tuned default, {}; the pilot runs over {}\n",
		   profile::kFile, fmt::join(profile::base_sets(), " "), tuned.label,
		   pilot_base == "profile" ? "the profile's (--pilot-base profile)"
		   : pilot_base == "tc"    ? "tc's defaults (--pilot-base tc)"
					   : "the search's (--pilot-base profile for the profile's)");
}

} // namespace

int main(int argc, char **argv)
{
	Options opt;
	if (std::optional<int> exit_status = parse_command_line(argc, argv, opt))
		return *exit_status;
	sim::BenchConfig c;
	c.grid = sim::candidate_grid(opt.grid);
	for (uint32_t i = 0; i < opt.report_seeds; i++)
		c.report_seeds.push_back(opt.seed + i);
	for (uint32_t i = 0; i < opt.selection_seeds; i++)
		c.selection_seeds.push_back(opt.seed + opt.report_seeds + i);
	c.model_path = opt.policy_path;
	c.tuner_path = opt.tuner_path;
	c.tune.switch_margin = opt.switch_margin;
	c.pilot_base = opt.pilot_base == "tuned" ? sim::PilotBase::tuned
		       : opt.pilot_base == "tc"  ? sim::PilotBase::tc
						 : sim::PilotBase::settings;
	c.pilot_base_settings = profile::base_settings();
	c.inference_interval = opt.inference_interval;
	c.threads = opt.threads;

	std::vector<sim::Scenario> training, family;
	std::vector<uint64_t> training_seeds;
	std::string err = sim::training_cells(opt.sweep_path, opt.heldout_dir, opt.train_cells, training, training_seeds);
	if (err.empty())
		err = read_family(opt, family);
	sim::SearchResult search;
	if (err.empty()) {
		std::error_code ec;
		std::filesystem::create_directories(opt.out_dir, ec);
		fmt::print(stderr, "search: {} settings on {} training cells\n", c.grid.size(), training.size());
		err = sim::search_tuned(c, training, training_seeds, search);
	}
	if (err.empty()) {
		std::string csv = "setting,mean_score_over_training_cells,keeps_l4s_promise\n";
		for (size_t k = 0; k < c.grid.size(); k++)
			csv += fmt::format("\"{}\",{:.6f},{}\n", c.grid[k].label, search.mean_score[k], search.admissible[k] ? 1 : 0);
		std::ofstream(opt.out_dir + "/search.csv") << csv;
		fmt::print("tuned default (best mean score {:.4f} over {} training cells among {} settings, {} of them keeping "
			   "the L4S promise): {}\n",
			   search.mean_score[search.best], training.size(), c.grid.size(),
			   std::count(search.admissible.begin(), search.admissible.end(), true), c.grid[search.best].label);
		say_if_not_the_profile(c.grid[search.best], opt.pilot_base);
		std::vector<sim::ScenarioResult> res;
		// Redrawn in place on a terminal; into a log, a line each tenth of the runs.
		err = sim::run_family(c, family, search.best, res, [](size_t done, size_t total) {
			if (common::stderr_is_terminal()) {
				if (done % 50 == 0 || done == total)
					fmt::print(stderr, "\r  runs: {}/{}", done, total);
			} else if (done % std::max<size_t>(1, total / 10) == 0 || done == total) {
				fmt::print(stderr, "  runs: {}/{}\n", done, total);
			}
		});
		if (err.empty()) {
			if (common::stderr_is_terminal())
				fmt::print(stderr, "\n");
			report(opt, c, family, res, c.report_seeds);
		}
	}
	if (!err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 2;
	}
	return 0;
}
