// dualpilot-pool: experience pool tools.
//   import SRC... -o FILE      the paper's kernel logs, pickled ExperiencePools or
//                              7-feature JSON -> a pool (.json or .dpp)
//   info FILE                  entries, action mix, feature ranges
//   convert IN -o OUT          between .json and .dpp
//   merge IN... -o OUT         pools concatenated (each input's end ends an episode)
//   shard N IN... -o DIR       the inputs' episodes dealt to N pools: episode i to i mod N
// Inputs positional, outputs -o/--out (common/cli.hpp).
// Where a command takes several pools, each argument is a file, a directory
// (its *.dpp and *.json) or a glob pattern (sim/pool_paths.hpp).
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <filesystem>

#include "experience/pool.hpp"
#include "sim/pool_import.hpp"
#include "experience/pool_paths.hpp"
#include "sim/pool_tools.hpp"
#include "common/cli.hpp"

using namespace dualpilot::sim;
namespace experience = dualpilot::experience;

namespace {

int cmd_import(const std::vector<std::string> &sources, const std::string &out, double offset, bool recompute,
	       size_t max_errors)
{
	experience::Pool pool;
	const experience::RewardSpec reward{offset};
	pool.reward_definition = reward.definition();
	ImportReport total;
	for (const std::string &path : sources) {
		if (std::string err = import_file(path, reward, recompute, pool, total, max_errors); !err.empty()) {
			fmt::print(stderr, "error: {}\n", err);
			return 1;
		}
	}
	for (const std::string &note : total.notes)
		fmt::print("{}\n", note);
	for (const std::string &e : total.errors)
		fmt::print(stderr, "skipped {}\n", e);
	if (total.malformed > total.errors.size())
		fmt::print(stderr, "... and {} more malformed records\n", total.malformed - total.errors.size());
	fmt::print("{} records, {} imported, {} malformed (skipped)\n", total.records, total.imported, total.malformed);
	if (std::string err = experience::write_pool(pool, out); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 1;
	}
	fmt::print("wrote {} entries to {}\n", pool.size(), out);
	return 0;
}

// Reads a pool, reporting its corrupt entries (skipped) on stderr.
bool read_reporting(const std::string &path, experience::Pool &pool)
{
	experience::PoolReadReport report;
	if (std::string err = experience::read_pool(path, pool, &report); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return false;
	}
	for (const std::string &warning : report.warnings(path))
		fmt::print(stderr, "warning: {}\n", warning);
	return true;
}

// The pool files the arguments name; false (said on stderr) on an error.
bool expand(const std::vector<std::string> &args, std::vector<std::string> &paths)
{
	if (std::string err = experience::expand_pool_paths(args, paths); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return false;
	}
	return true;
}

int cmd_merge(const std::vector<std::string> &args, const std::string &out)
{
	std::vector<std::string> paths;
	if (!expand(args, paths))
		return 1;
	experience::Pool merged;
	for (const std::string &path : paths) {
		experience::Pool pool;
		if (!read_reporting(path, pool))
			return 1;
		if (pool.size() == 0)
			fmt::print(stderr, "warning: {}: no entries\n", path);
		if (std::string err = kind_mismatch(merged, pool); !err.empty()) {
			fmt::print(stderr, "error: {}: {}; nothing written\n", path, err);
			return 1;
		}
		if (std::string warning = append_episodes(merged, pool); !warning.empty())
			fmt::print(stderr, "warning: {}: {}\n", path, warning);
	}
	if (merged.size() == 0) {
		fmt::print(stderr, "error: the pools hold no entries; nothing written\n");
		return 1;
	}
	if (std::string err = experience::write_pool(merged, out); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 1;
	}
	fmt::print("merged {} pools: {} entries, {} episodes -> {}\n", paths.size(), merged.size(),
		   count_episodes(merged), out);
	return 0;
}

int cmd_shard(size_t n, const std::vector<std::string> &args, const std::string &dir)
{
	std::vector<std::string> paths;
	if (!expand(args, paths))
		return 1;
	std::vector<experience::Pool> pools(paths.size());
	for (size_t i = 0; i < paths.size(); i++) {
		if (!read_reporting(paths[i], pools[i]))
			return 1;
		if (pools[i].reward_definition != pools[0].reward_definition)
			fmt::print(stderr, "warning: {}: reward '{}' differs from {}'s '{}' (the shards say the first's)\n",
				   paths[i], pools[i].reward_definition, paths[0], pools[0].reward_definition);
	}
	std::vector<experience::Pool> shards;
	if (std::string err = shard_episodes(pools, n, shards); !err.empty()) {
		fmt::print(stderr, "error: {}; nothing written\n", err);
		return 1;
	}
	std::error_code ec;
	std::filesystem::create_directories(dir, ec);
	if (ec || !std::filesystem::is_directory(dir)) {
		fmt::print(stderr, "error: {}: cannot make the directory{}\n", dir, ec ? ": " + ec.message() : "");
		return 1;
	}
	for (size_t k = 0; k < n; k++) {
		const std::string path = fmt::format("{}/shard-{}-of-{}.dpp", dir, k, n);
		if (std::string err = experience::write_pool(shards[k], path); !err.empty()) {
			fmt::print(stderr, "error: {}\n", err);
			return 1;
		}
		fmt::print("shard {} of {}: {} episodes, {} entries -> {}\n", k, n, count_episodes(shards[k]),
			   shards[k].size(), path);
	}
	return 0;
}

int cmd_info(const std::string &path)
{
	experience::Pool pool;
	if (!read_reporting(path, pool))
		return 1;
	const size_t n = pool.size();
	std::vector<uint64_t> counts(pool.action_count, 0); // the reader keeps every action below the count
	for (size_t i = 0; i < n; i++)
		counts[pool.actions[i]]++;
	const size_t episodes = count_episodes(pool); // the last entry ends one, done flag or not
	fmt::print("{}: {} entries, {} episodes, {} actions, {} features, reward = {}\n", path, n, episodes,
		   pool.action_count, pool.table == experience::FeatureTable::tuner ? "the tuner's" : "the decisions'",
		   pool.reward_definition);
	const bool verdicts = pool.action_count == experience::kVerdictActionCount;
	for (uint32_t a = 0; a < pool.action_count; a++)
		if (verdicts || counts[a] > 0)
			fmt::print("  action {} ({:<8}) {:>10} ({:.2f} %)\n", a,
				   !verdicts ? "" : a == 0 ? "enqueue" : a == 1 ? "drop" : "ecn_mark", counts[a],
				   n ? 100.0 * counts[a] / n : 0.0);
	const size_t f = static_cast<size_t>(pool.feature_count());
	for (int k = 0; k < pool.feature_count(); k++) {
		if (!pool.has_feature(k)) {
			fmt::print("  {:<24} absent (not recorded by the source; training leaves it out)\n", pool.feature_name(k));
			continue;
		}
		float lo = 0, hi = 0;
		double sum = 0;
		for (size_t i = 0; i < n; i++) {
			const float v = pool.states[i * f + static_cast<size_t>(k)];
			lo = i == 0 ? v : std::min(lo, v);
			hi = i == 0 ? v : std::max(hi, v);
			sum += v;
		}
		fmt::print("  {:<24} min {:>12.4g} max {:>12.4g} mean {:>12.4g}\n", pool.feature_name(k), lo, hi,
			   n ? sum / n : 0.0);
	}
	return 0;
}

int cmd_convert(const std::string &in, const std::string &out)
{
	experience::Pool pool;
	if (!read_reporting(in, pool))
		return 1;
	if (std::string err = experience::write_pool(pool, out); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 1;
	}
	fmt::print("wrote {} entries to {}\n", pool.size(), out);
	return 0;
}

// How well any policy can agree with DualPI2's logged decisions. DualPI2
// marks or drops at random, with the probability the state records
// (drop_probability: p'^2 for Classic, k p' for L4S), except that an L4S
// packet whose sojourn passes the step threshold is always marked. The best
// predictor answers the likelier outcome, so its expected accuracy is the
// mean of max(q, 1 - q) with q that probability: an imitation ceiling no
// model can pass on these labels, however large.
int cmd_ceiling(const std::vector<std::string> &args, double step_us)
{
	std::vector<std::string> paths;
	if (!expand(args, paths))
		return 1;
	double sum = 0;
	uint64_t n = 0;
	for (const std::string &path : paths) {
		experience::Pool pool;
		if (!read_reporting(path, pool))
			return 1;
		if (pool.table != experience::FeatureTable::decisions) {
			fmt::print(stderr, "error: {}: not a pool of DualPI2's decisions (the ceiling reads their probabilities)\n",
				   path);
			return 1;
		}
		for (size_t i = 0; i < pool.size(); i++) {
			const float *s = &pool.states[i * experience::kFeatureCount];
			const bool l4s = s[0] == 1.0f;
			const double q = l4s && s[experience::kQueueDelayFeature] > step_us ? 1.0 : std::clamp<double>(s[2], 0.0, 1.0);
			sum += std::max(q, 1 - q);
			n++;
		}
	}
	if (!n) {
		fmt::print(stderr, "error: the pools hold no entries\n");
		return 1;
	}
	fmt::print("{} entries; DualPI2 label ceiling (expected accuracy of the best predictor of its random "
		   "decisions): {:.4f}\n",
		   n, sum / static_cast<double>(n));
	fmt::print("label_ceiling: {:.4f}\n", sum / static_cast<double>(n));
	return 0;
}

} // namespace

int main(int argc, char **argv)
{
	using dualpilot::common::example;
	CLI::App app{"dualpilot-pool: experience pool tools"};
	app.require_subcommand(1);
	app.footer(example({"dualpilot-pool import paper-pool.pkl -o pool.dpp", "dualpilot-pool info runs/"}));
	std::vector<std::string> logs;
	std::string out, conv_in, conv_out;
	double offset = 1;
	size_t max_errors = 100;
	bool recompute = false;
	auto *imp = app.add_subcommand("import", "the paper's kernel logs, pickled pools or 7-feature JSON to a pool");
	imp->add_option("sources", logs, "kernel logs, .pkl pools (read without running anything), JSON")
		->required()
		->check(CLI::ExistingFile);
	imp->add_flag("--recompute-reward", recompute,
		      "compute each reward from its state (packet_length / (delay_us + offset)) instead of keeping "
		      "the recorded one (kernel logs always compute it)");
	imp->add_option("-o,--out", out, "pool file, .json or .dpp")->required();
	imp->add_option("--reward-offset-us", offset, "reward = packet_length / (delay_us + this)")
		->check(CLI::Range(1e-9, 1e12));
	imp->add_option("--max-errors", max_errors, "malformed lines listed one by one (the rest are counted)");
	imp->footer(example({"dualpilot-pool import kernel.log paper-pool.pkl -o pool.dpp"}));
	std::vector<std::string> info_paths;
	auto *info = app.add_subcommand("info", "summarise pools");
	info->add_option("pools", info_paths, "pool files, directories or glob patterns")->required();
	info->footer(example({"dualpilot-pool info runs/dualpi2/seed-1/pool.dpp 'pools/*.json'"}));
	auto *conv = app.add_subcommand("convert", "convert between .json and .dpp");
	conv->add_option("in", conv_in, "input pool")->required();
	conv->add_option("-o,--out", conv_out, "output pool (its extension picks the encoding)")->required();
	conv->footer(example({"dualpilot-pool convert pool.json -o pool.dpp"}));
	std::vector<std::string> ceiling_paths;
	double step_us = 1000;
	auto *ceiling = app.add_subcommand("ceiling", "the best accuracy any policy can reach imitating DualPI2's pools");
	ceiling->add_option("pools", ceiling_paths, "pool files, directories or glob patterns (DualPI2-labelled)")
		->required();
	ceiling->add_option("--step-us", step_us, "DualPI2's L4S step threshold, us")->capture_default_str();
	ceiling->footer(example({"dualpilot-pool ceiling runs/dualpi2/"}));
	std::vector<std::string> merge_in;
	std::string merge_out;
	auto *merge = app.add_subcommand("merge", "concatenate pools (each input's last entry ends an episode)");
	merge->add_option("pools", merge_in, "pool files, directories or glob patterns, in order")->required();
	merge->add_option("-o,--out", merge_out, "pool file to write, .json or .dpp")->required();
	merge->footer(example({"dualpilot-pool merge day1.dpp day2.dpp -o week.dpp"}));
	size_t shard_n = 0;
	std::vector<std::string> shard_in;
	std::string shard_dir;
	auto *shard = app.add_subcommand("shard", "deal the pools' episodes to N pools: episode i to shard i mod N");
	shard->add_option("n", shard_n, "number of shards")->required()->check(CLI::Range(size_t{1}, size_t{1} << 20));
	shard->add_option("pools", shard_in, "pool files, directories or glob patterns, in order")->required();
	shard->add_option("-o,--out,--out-dir", shard_dir, "directory for shard-K-of-N.dpp (made if missing)")
		->required();
	shard->footer(example({"dualpilot-pool shard 8 collected/ -o shards   # shards/shard-0-of-8.dpp ..."}));
	CLI11_PARSE(app, argc, argv);
	if (*merge)
		return cmd_merge(merge_in, merge_out);
	if (*shard)
		return cmd_shard(shard_n, shard_in, shard_dir);
	if (*ceiling)
		return cmd_ceiling(ceiling_paths, step_us);
	if (*imp)
		return cmd_import(logs, out, offset, recompute, max_errors);
	if (*info) {
		std::vector<std::string> paths;
		if (!expand(info_paths, paths))
			return 1;
		for (const std::string &path : paths)
			if (int rc = cmd_info(path); rc != 0)
				return rc;
		return 0;
	}
	return cmd_convert(conv_in, conv_out);
}
