// dualpilot-tune-data: the tuner's training pool (issue 27; docs/training.md,
// "The tuner"). On cells of the training sweep (refused if it touches the
// held-out family or a near twin of it), every setting of the tune table
// runs whole for the labels, and behaviour runs with piecewise-random
// settings record the tuner's features (sim/tune_data.hpp). The pool holds
// one entry per decision interval: the features, the label (the setting
// best over the next 2 s of the same traffic), reward 0; one episode per
// behaviour run. dualpilot-train trains a tuner model on it.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "common/cli.hpp"
#include "experience/pool.hpp"
#include "policy/pilot_profile.hpp"
#include "sim/sweep.hpp"
#include "sim/tune_data.hpp"

using namespace dualpilot;
namespace profile = dualpilot::policy::pilot_profile;

namespace {

struct Options {
	std::string sweep_path = DUALPILOT_SOURCE_DIR "/configs/sweeps/train.toml";
	std::string heldout_dir = DUALPILOT_SOURCE_DIR "/configs/heldout";
	std::string out = "build/tune-data/tuner.dpp";
	uint32_t cells = 40, behaviour_runs = 2, threads = 2;
};

experience::Pool to_pool(const sim::TuneData &d, size_t actions)
{
	experience::Pool p;
	p.table = experience::FeatureTable::tuner;
	p.action_count = static_cast<uint32_t>(actions);
	p.reward_definition = "0 (labels: the best setting over the next 2 s)";
	p.states = d.states;
	p.actions = d.labels;
	p.rewards.assign(d.size(), 0.0f);
	p.dones = d.dones;
	return p;
}

} // namespace

int main(int argc, char **argv)
{
	Options o;
	CLI::App app{"dualpilot-tune-data: the tuner's training pool from the training sweep's cells"};
	app.add_option("--train-sweep", o.sweep_path, "the training sweep")->capture_default_str();
	app.add_option("--heldout-dir", o.heldout_dir, "the family the sweep must stay clear of")->capture_default_str();
	app.add_option("--cells", o.cells, "training cells (drawn by the sweep's seed)")
		->check(CLI::Range(1, 10000))
		->capture_default_str();
	app.add_option("--behaviour-runs", o.behaviour_runs, "piecewise-random behaviour runs per cell")
		->check(CLI::Range(1, 100))
		->capture_default_str();
	app.add_option("--threads", o.threads, "simulation threads (the pool does not depend on it)")
		->check(CLI::Range(1, 256))
		->capture_default_str();
	app.add_option("-o,--out", o.out, "the pool (.dpp)")->capture_default_str();
	app.footer(common::example({"dualpilot-tune-data --cells 4 -o build/tune-data/small.dpp"}));
	CLI11_PARSE(app, argc, argv);

	sim::TuneDataConfig c;
	c.behaviour_runs = o.behaviour_runs;
	c.decision_delays_ns.assign(profile::kDecisionDelaysNs.begin(), profile::kDecisionDelaysNs.end());
	c.threads = o.threads;
	std::vector<sim::Scenario> cells;
	std::vector<uint64_t> seeds;
	sim::TuneData data;
	std::string err = sim::training_cells(o.sweep_path, o.heldout_dir, o.cells, cells, seeds);
	if (err.empty()) {
		fmt::print(stderr, "tuner data: {} cells x ({} settings + tc's defaults + {} behaviours)\n", cells.size(),
			   policy::tune_actions(c.tune).size(), c.behaviour_runs);
		err = sim::make_tune_data(c, cells, seeds, data);
	}
	if (err.empty())
		err = experience::write_pool_binary(to_pool(data, policy::tune_actions(c.tune).size()), o.out);
	if (!err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 2;
	}
	fmt::print("{}: {} entries from {} runs\nbase (the tuned default of these cells): {}\n"
		   "cells where no setting met every limit (rate balance left out): {}\nlabels:",
		   o.out, data.size(), data.runs, data.base_label, data.cells_none_within);
	for (size_t a = 0; a < data.label_counts.size(); a++)
		if (data.label_counts[a])
			fmt::print(" {}={}", a, data.label_counts[a]);
	fmt::print("\n");
	return 0;
}
