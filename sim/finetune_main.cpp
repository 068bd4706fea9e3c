// dualpilot-finetune: closed-loop fine-tuning of a pilot in the simulator
// (sim/finetune.hpp: evolution strategies over the model's weights, scored
// by the objective in closed loop over the base DualPI2, the checkpoint
// selected by its validation score). Training scenarios are the distinct
// scenarios of a sweep file (default configs/sweeps/train-filtered.toml);
// selection is on configs/validation/; held-out scenarios are refused.
//   dualpilot-finetune start.dpm -o tuned.dpm [--generations N] ...
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/ranges.h>

#include <optional>

#include "common/cli.hpp"
#include "policy/model_file.hpp"
#include "policy/pilot_profile.hpp"
#include "sim/finetune.hpp"

using namespace dualpilot;

namespace {

std::vector<double> profile_delays_us()
{
	std::vector<double> us;
	for (uint64_t ns : policy::pilot_profile::kDecisionDelaysNs)
		us.push_back(static_cast<double>(ns) / 1000);
	return us;
}

struct Options {
	std::string model_path, out_path;
	std::string sweep_path = DUALPILOT_SOURCE_DIR "/configs/sweeps/train-filtered.toml";
	std::string heldout_dir = DUALPILOT_SOURCE_DIR "/configs/heldout";
	std::string validation_dir = DUALPILOT_SOURCE_DIR "/configs/validation";
	std::vector<std::string> base_sets = policy::pilot_profile::base_sets();
	uint32_t scenarios = 0;
	std::vector<double> delays_us = profile_delays_us();
	sim::FinetuneConfig c;
	bool quiet = false;
};

std::optional<int> parse_options(int argc, char **argv, Options &o)
{
	CLI::App app{"dualpilot-finetune: closed-loop fine-tuning of a pilot in the simulator (evolution strategies), "
		     "the checkpoint selected by its validation score"};
	app.add_option("model,--model", o.model_path, "the model to start from (.dpm)")->required();
	app.add_option("-o,--out", o.out_path, "the fine-tuned model (.dpm)")->required();
	app.footer(common::example({"dualpilot-finetune configs/models/paper-student.dpm -o tuned.dpm --generations 20"}));
	app.add_option("--sweep", o.sweep_path, "training scenarios: the distinct scenarios of this sweep file")
		->capture_default_str();
	app.add_option("--heldout-dir", o.heldout_dir, "the held-out scenarios the sweep must not touch")
		->capture_default_str();
	app.add_option("--validation-dir", o.validation_dir, "the scenarios that select the checkpoint")
		->capture_default_str();
	app.add_option("--scenarios", o.scenarios, "draw this many of the sweep's scenarios (default: all)");
	app.add_option("--set", o.base_sets,
		       "the base DualPI2's parameters, key=value (default: the pilot profile's, configs/pilot/profile.toml)")
		->capture_default_str();
	app.add_option("--per-generation", o.c.per_generation, "training scenarios per generation")->capture_default_str();
	app.add_option("--population", o.c.population, "runs per generation (pairs of directions)")->capture_default_str();
	app.add_option("--generations", o.c.generations, "generations")->capture_default_str();
	app.add_option("--eval-every", o.c.eval_every, "generations between validation scores")->capture_default_str();
	app.add_option("--sigma", o.c.sigma, "the directions' scale")->capture_default_str();
	app.add_option("--lr", o.c.lr, "Adam's step")->capture_default_str();
	app.add_option("--limit-penalty", o.c.limit_penalty,
		       "subtracted from a run's log ratio where it breaks the tuner's limits against the base's run "
		       "(L p99 + 0.1 ms, utilisation - 1 point, rate balance 0.5-2); 0: the score alone")
		->check(CLI::Range(0.0, 10.0))
		->capture_default_str();
	app.add_option("--decision-delays-us", o.delays_us,
		       "the pilot's decision delays, taken in turn by the generations and all in validation (default: the "
		       "pilot profile's)")
		->capture_default_str();
	app.add_option("--threads", o.c.threads, "simulations at once")->check(CLI::Range(1, 256))->capture_default_str();
	app.add_option("--seed", o.c.seed, "the search's seed")->capture_default_str();
	app.add_flag("-q,--quiet", o.quiet, "only the result");
	CLI11_PARSE(app, argc, argv);
	o.c.base.clear();
	for (const std::string &s : o.base_sets) {
		const size_t eq = s.find('=');
		if (eq == std::string::npos || eq == 0) {
			fmt::print(stderr, "error: --set {}: expected key=value\n", s);
			return 2;
		}
		o.c.base.push_back({s.substr(0, eq), s.substr(eq + 1)});
	}
	o.c.decision_delays_ns.clear();
	for (double us : o.delays_us) {
		if (!(us >= 0 && us <= 1e7)) {
			fmt::print(stderr, "error: --decision-delays-us {}: expected 0 to 10000000\n", us);
			return 2;
		}
		o.c.decision_delays_ns.push_back(static_cast<uint64_t>(us * 1000));
	}
	o.c.log = o.quiet ? nullptr : stdout;
	return std::nullopt;
}

} // namespace

int main(int argc, char **argv)
{
	Options o;
	if (std::optional<int> status = parse_options(argc, argv, o))
		return *status;
	policy::Model start;
	if (std::string err = policy::read_model(o.model_path, start); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 1;
	}
	std::vector<sim::Scenario> train, val;
	if (std::string err = sim::sweep_scenarios(o.sweep_path, o.heldout_dir, o.scenarios, o.c.seed, train);
	    !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 2;
	}
	if (std::string err = sim::directory_scenarios(o.validation_dir, o.heldout_dir, val); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 2;
	}
	if (o.c.log)
		fmt::print("fine-tuning {} over DualPI2 {}: {} training scenarios from {}, {} validation scenarios\n",
			   o.model_path, fmt::join(o.base_sets, " "), train.size(), o.sweep_path, val.size());
	sim::FinetuneResult r;
	if (std::string err = sim::finetune(start, train, val, o.c, r); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 2;
	}
	if (std::string err = policy::write_model(r.model, o.out_path); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 1;
	}
	fmt::print("wrote {}: generation {} (0: the starting model), validation {:.4f} of the base DualPI2 alone "
		   "(the starting model {:.4f})\n",
		   o.out_path, r.best_generation, r.best_validation, r.start_validation);
	fmt::print("finetune_validation_vs_base: {:.4f}\n", r.best_validation);
	return 0;
}
