// dualpilot-train: trains the policy on experience pools and writes a model
// file the router's backends run.
//   dualpilot-train runs/paper/seed-1/pool.dpp ... -o policy.dpm [options]
//   dualpilot-train POOL... -o p.dpm --backbone gpt2/model.safetensors --lora-rank 8
//   dualpilot-train distill --teacher teacher.dpm POOL... -o student.dpm [options]
// The pools are positional (or --pools, as before), the model -o/--out (common/cli.hpp).
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <unistd.h>

#include <memory>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>

#include "common/cli.hpp"
#include "policy/model_file.hpp"
#include "policy/training/distributed.hpp"
#include "policy/training/shard.hpp"
#include "policy/training/train.hpp"
#include "experience/heldout.hpp"
#include "experience/pool_paths.hpp"

using namespace dualpilot;

namespace {

// Pools under this many decisions get the small-pool rule by default.
constexpr uint64_t kSmallPoolDecisions = 20000;

std::string join(const std::vector<std::string> &parts, const char *sep)
{
	std::string out;
	for (const std::string &p : parts)
		out += (out.empty() ? "" : sep) + p;
	return out;
}

// --class-weights: auto, none or a non-negative number per action of the
// pools (training checks the count against them).
std::string parse_class_weights(const std::string &text, policy::TrainOptions &opt)
{
	opt.class_weights_auto = text == "auto";
	opt.class_weights.clear();
	if (text == "auto" || text == "none")
		return {};
	std::stringstream in(text);
	std::string part;
	double sum = 0;
	while (std::getline(in, part, ',')) {
		char *end = nullptr;
		const double v = std::strtod(part.c_str(), &end);
		if (part.empty() || *end || !(v >= 0) || !std::isfinite(v))
			return "expected auto, none or a non-negative number per action (W_enqueue,W_drop,W_mark for a verdict "
			       "pool)";
		opt.class_weights.push_back(v);
		sum += v;
	}
	if (opt.class_weights.size() < 2 || sum <= 0)
		return "expected auto, none or a non-negative number per action (W_enqueue,W_drop,W_mark for a verdict "
		       "pool), not all zero";
	return {};
}

// The actions' names in reports and in the metrics' columns: a verdict
// pool's, else their numbers.
std::vector<std::string> action_names(size_t actions)
{
	if (actions == policy::kVerdictActions)
		return {"enqueue", "drop", "mark"};
	std::vector<std::string> names;
	for (size_t a = 0; a < actions; a++)
		names.push_back(fmt::format("action{}", a));
	return names;
}

// "NAME VALUE" per action, VALUE = scale * the value, formatted by value_fmt
// (e.g. "{:.1f}"), separated by sep.
template <class T>
std::string per_action(const std::vector<T> &values, double scale, const char *value_fmt, const char *sep)
{
	const std::vector<std::string> names = action_names(values.size());
	std::string out;
	for (size_t a = 0; a < values.size(); a++)
		out += fmt::format("{}{} ", a ? sep : "", names[a]) +
		       fmt::format(fmt::runtime(value_fmt), scale * static_cast<double>(values[a]));
	return out;
}

// The small-pool rule (docs/training.md, "Training (libtorch)", "Small
// pools"): a pool of a few thousand decisions cannot feed the 110k-parameter
// default without it memorising the training split, so below
// kSmallPoolDecisions a model about a tenth of the size with dropout, stronger
// weight decay, light noise augmentation, frequent validation and early
// stopping. Each setting the
// command line gave stays as given. Returns what it set.
template <typename Given>
std::vector<std::string> apply_small_pool_rule(policy::TrainOptions &opt, Given given)
{
	std::vector<std::string> set;
	auto put = [&](const char *flag, auto &field, auto value) {
		if (given(flag))
			return;
		field = value;
		set.push_back(fmt::format("{} {}", flag, value));
	};
	policy::ModelConfig &c = opt.model;
	put("--d-model", c.d_model, 32u);
	put("--layers", c.layers, 1u);
	put("--heads", c.heads, 2u);
	put("--embed", c.feature_embed, 8u);
	put("--mlp", c.mlp_hidden, 64u);
	put("--dropout", opt.dropout, 0.1);
	put("--weight-decay", opt.weight_decay, 0.01);
	put("--noise", opt.noise, 0.01);
	put("--lr", opt.lr, 3e-3);
	put("--steps", opt.steps, 3000u);
	put("--eval-every", opt.eval_every, 50u);
	put("--patience", opt.patience, 12u);
	return set;
}

// HOST:PORT into the options.
std::string parse_master(const std::string &text, policy::DistributedOptions &dist)
{
	const size_t colon = text.rfind(':');
	if (colon == std::string::npos || colon == 0)
		return "expected HOST:PORT";
	char *end = nullptr;
	const unsigned long port = std::strtoul(text.c_str() + colon + 1, &end, 10);
	if (*end || port == 0 || port > 65535)
		return "the port must be 1 to 65535";
	dist.master_host = text.substr(0, colon);
	dist.master_port = static_cast<uint16_t>(port);
	return {};
}

// Reads pools, their corrupt entries reported (skipped); false after an error.
bool read_pools(const std::vector<std::string> &paths, std::vector<experience::Pool> &pools, uint64_t &entries)
{
	for (const std::string &p : paths) {
		experience::Pool pool;
		experience::PoolReadReport pool_report;
		if (std::string err = experience::read_pool(p, pool, &pool_report); !err.empty()) {
			fmt::print(stderr, "error: {}\n", err);
			return false;
		}
		for (const std::string &warning : pool_report.warnings(p))
			fmt::print(stderr, "warning: {}\n", warning);
		entries += pool.size();
		pools.push_back(std::move(pool));
	}
	return true;
}

// What main's steps share: the command line's choices, parsed into the
// training options where they have a place there.
struct Options {
	std::vector<std::string> pool_paths, test_paths, kernel_specs;
	std::string out_path, metrics_path, teacher_path;
	policy::TrainOptions train;
	bool per_feature = false, ring_time = false, constant_lr = false, distill = false;
	std::string method = "dt", select = "accuracy", class_weights = "auto", size = "auto";
	policy::DistributedOptions dist;
	std::string master = "127.0.0.1:29500";
	std::set<std::string> given; // the options the command line gave (the small-pool rule keeps them)
};

// The pools, split by what they are for; the training options point into it.
struct Data {
	std::vector<experience::Pool> pools, test_pools, val_pools;
	uint64_t entries = 0, test_entries = 0, all_entries = 0;
	uint32_t action_count = policy::kVerdictActions; // the (first) pool's: the metrics' columns
	std::unique_ptr<policy::DataParallel> dp;
};

// The model: its shape, its encoders, a pretrained backbone and its adapters.
void add_model_options(CLI::App &app, Options &o)
{
	policy::TrainOptions &opt = o.train;
	policy::ModelConfig &c = opt.model;
	app.add_option("--window", c.window, "context window w, steps")->capture_default_str();
	app.add_option("--d-model", c.d_model, "model width")->capture_default_str();
	app.add_option("--layers", c.layers, "transformer blocks")->capture_default_str();
	app.add_option("--heads", c.heads, "attention heads")->capture_default_str();
	app.add_option("--embed", c.feature_embed, "per-feature embedding width")->capture_default_str();
	app.add_option("--mlp", c.mlp_hidden, "MLP hidden width")->capture_default_str();
	app.add_flag("--per-feature", o.per_feature, "one token per state feature (the paper's layout)");
	app.add_flag("--head-residual", c.head_residual, "add the state embedding before the head");
	app.add_flag("--ring-time", o.ring_time,
		     "time embedding by ring slot (step index mod w): a one-block model's keys and values are then "
		     "computed once per step at run time");
	app.add_option("--kernel", o.kernel_specs,
		       "NAME=K: a causal Conv1d of odd kernel K over the window for feature NAME (repeatable; e.g. "
		       "current_queue_delay_us=5; the rest stay scalar Linear encoders)");
	app.add_option("--backbone", opt.backbone_path, "pretrained GPT-2 checkpoint (.safetensors) as the frozen backbone");
	app.add_option("--backbone-heads", opt.backbone_heads, "its attention heads, when no config.json is beside it");
	app.add_option("--lora-rank", opt.lora_rank, "LoRA rank on the backbone's projections (0: none)")->capture_default_str();
	app.add_option("--lora-alpha", opt.lora_alpha, "LoRA alpha (adapter scale alpha / rank)")->capture_default_str();
}

// The optimiser and its schedule.
void add_optimiser_options(CLI::App &app, Options &o)
{
	policy::TrainOptions &opt = o.train;
	app.add_option("--steps", opt.steps, "optimiser steps")->capture_default_str();
	app.add_option("--max-seconds", opt.max_seconds, "stop once training has taken this long (0: no limit)")
		->capture_default_str();
	app.add_option("--batch", opt.batch, "windows per batch")->capture_default_str();
	app.add_option("--accumulate", opt.accumulate, "batches per optimiser step")->capture_default_str();
	app.add_option("--lr", opt.lr, "peak learning rate (AdamW)")->capture_default_str();
	app.add_option("--weight-decay", opt.weight_decay, "AdamW weight decay")->capture_default_str();
	app.add_option("--warmup", opt.warmup, "learning-rate warm-up steps")->capture_default_str();
	app.add_flag("--constant-lr", o.constant_lr, "keep the peak learning rate after the warm-up (default: cosine decay to a "
						   "tenth of it at the last step)");
	app.add_option("--gamma", opt.gamma, "return discount")->capture_default_str();
}

// The learning method and the augmentation of its data.
void add_method_options(CLI::App &app, Options &o)
{
	policy::TrainOptions &opt = o.train;
	app.add_option("--method", o.method,
		       "dt (the decision transformer), bc (plain behaviour cloning, returns zeroed) or awr "
		       "(advantage-weighted: beats its data; docs/training.md, \"Offline RL: beating the data\")")
		->check(CLI::IsMember({"dt", "bc", "awr"}))
		->capture_default_str();
	app.add_option("--target-quantile", opt.target_quantile,
		       "dt, awr: ask at run time for this quantile of the training returns-to-go (0: the best seen)")
		->check(CLI::Range(0.0, 1.0))
		->capture_default_str();
	app.add_option("--awr-beta", opt.awr_beta, "awr temperature, in standard deviations of the advantage")
		->check(CLI::Range(1e-3, 1e3))
		->capture_default_str();
	app.add_option("--noise", opt.noise, "relative noise on the states (augmentation)")->capture_default_str();
	app.add_option("--offset-noise", opt.offset_noise, "random offset per window and feature, in stds (augmentation)")
		->capture_default_str();
	app.add_option("--temporal-dropout", opt.temporal_dropout, "probability a step is hidden from later steps")
		->capture_default_str();
}

// Validation, and the choice of the exported checkpoint.
void add_validation_options(CLI::App &app, Options &o)
{
	policy::TrainOptions &opt = o.train;
	app.add_option("--val-fraction", opt.val_fraction, "episodes held out for validation")->capture_default_str();
	app.add_option("--eval-every", opt.eval_every, "steps between validation passes")->capture_default_str();
	app.add_option("--val-windows", opt.val_windows, "at most this many held-out decisions scored per pass (evenly spaced)")
		->check(CLI::PositiveNumber)
		->capture_default_str();
	app.add_option("--select", o.select,
		       "which validation score picks the exported checkpoint: accuracy, or macro (the mean of the "
		       "per-action recalls)")
		->check(CLI::IsMember({"accuracy", "macro"}))
		->capture_default_str();
	app.add_option("--patience", opt.patience, "stop after this many validation passes without a better one (0: never)")
		->capture_default_str();
}

// The loss's class weights, dropout, and the size preset.
void add_regularisation_options(CLI::App &app, Options &o)
{
	policy::TrainOptions &opt = o.train;
	app.add_option("--class-weights", o.class_weights,
		       "loss weight per action: auto (inverse frequency when the rarest action is under a third as "
		       "common as the commonest), none, or one weight per action: W0,W1,W2 for a verdict pool")
		->capture_default_str();
	app.add_option("--dropout", opt.dropout, "dropout in the blocks while training")->capture_default_str();
	app.add_option("--size", o.size,
		       "model and regularisation: auto (small below 20000 decisions, else default), small, default; "
		       "options given explicitly always win")
		->check(CLI::IsMember({"auto", "small", "default"}))
		->capture_default_str();
}

// The run: its seed, its threads, and the data-parallel ranks.
void add_run_options(CLI::App &app, Options &o)
{
	policy::TrainOptions &opt = o.train;
	app.add_option("--seed", opt.seed, "seed")->capture_default_str();
	app.add_option("--threads", opt.threads, "torch and OpenBLAS threads (0: all cores)")->capture_default_str();
	app.add_option("--world-size", o.dist.world_size, "data-parallel: ranks in all (c10d, Gloo)")
		->check(CLI::Range(1u, 4096u))
		->capture_default_str();
	app.add_option("--rank", o.dist.rank, "data-parallel: this process's rank, 0 to world-size - 1")->capture_default_str();
	app.add_option("--master", o.master, "data-parallel: HOST:PORT where rank 0 serves the rendezvous store")
		->capture_default_str();
	app.add_option("--dist-timeout", o.dist.timeout_s, "data-parallel: seconds to wait for a rank to join or answer")
		->check(CLI::Range(1.0, 86400.0))
		->capture_default_str();
	app.add_option("--emulate-ranks", opt.emulate_ranks,
		       "one process, the global batch of N ranks (the reference a data-parallel run is checked against)")
		->capture_default_str();
}

// The model's shape and the training's optimiser, method and data-parallel
// options, in the order --help lists them.
void add_training_options(CLI::App &app, Options &o)
{
	add_model_options(app, o);
	add_optimiser_options(app, o);
	add_method_options(app, o);
	add_validation_options(app, o);
	add_regularisation_options(app, o);
	add_run_options(app, o);
}

// An exit status when the process should stop here (--help, a parse error).
std::optional<int> parse_command_line(int argc, char **argv, Options &o)
{
	policy::TrainOptions &opt = o.train;
	opt.model.window = 20;
	CLI::App app{"dualpilot-train: train the L4S policy on experience pools (libtorch, CPU)"};
	CLI::App *distill = app.add_subcommand("distill", "train a small student on a teacher's soft labels");
	distill->fallthrough();
	distill->add_option("--teacher", o.teacher_path, "the teacher model file (.dpm)")->required();
	distill->add_option("--distill-weight", opt.distill_weight, "weight of the teacher's KL term (the rest: CE)")
		->capture_default_str();
	distill->add_option("--temperature", opt.temperature, "softmax temperature of the soft labels")->capture_default_str();
	distill->footer(common::example({"dualpilot-train distill --teacher teacher.dpm runs/sweep/ -o student.dpm --d-model 16"}));
	// Required, but checked after the parse: a required positional on the
	// app sends `distill --help` to the app's help (CLI11 2.1).
	app.add_option("pools,--pools", o.pool_paths,
		       "experience pools (.dpp or .json), directories of them, or glob patterns (required)");
	app.add_option("-o,--out", o.out_path, "model file to write (.dpm)")->required();
	app.footer(common::example({"dualpilot-train runs/paper/ -o policy.dpm --steps 4000 --metrics train.csv"}));
	app.add_option("--metrics", o.metrics_path, "CSV of step, losses and accuracies");
	app.add_option("--test-pools", o.test_paths,
		       "pools scored once with the exported model: never trained on, never used to pick the checkpoint");
	add_training_options(app, o);
	opt.max_seconds = 600;
	CLI11_PARSE(app, argc, argv);
	if (o.pool_paths.empty()) {
		fmt::print(stderr, "error: no pools: name them (files, directories or glob patterns) before -o\n");
		return 2;
	}
	o.distill = distill->parsed();
	for (const CLI::Option *option : app.get_options())
		if (option->count() > 0)
			for (const std::string &name : option->get_lnames())
				o.given.insert("--" + name);
	return std::nullopt;
}

// Directories and glob patterns name their pools (sorted). Training and
// checkpoint selection never see a held-out scenario (configs/heldout/);
// --test-pools only report. Error text or empty.
[[nodiscard]] std::string find_pools(Options &o)
{
	for (std::vector<std::string> *paths : {&o.pool_paths, &o.test_paths}) {
		std::vector<std::string> expanded;
		if (std::string err = experience::expand_pool_paths(*paths, expanded); !err.empty())
			return err;
		*paths = std::move(expanded);
	}
	for (const std::string &p : o.pool_paths)
		if (std::string why = experience::heldout_pool_refusal(p); !why.empty())
			return "--pools " + why;
	return {};
}

// --kernel NAME=K for each feature named. Error text or empty.
[[nodiscard]] std::string parse_kernels(const std::vector<std::string> &specs, policy::ModelConfig &c)
{
	c.kernels.assign(experience::kFeatureCount, 1);
	for (const std::string &spec : specs) {
		const size_t eq = spec.find('=');
		const std::string name = spec.substr(0, eq);
		const auto it = std::find(experience::kFeatureNames.begin(), experience::kFeatureNames.end(), name);
		unsigned long k = 0;
		if (eq != std::string::npos)
			k = std::strtoul(spec.c_str() + eq + 1, nullptr, 10);
		if (it == experience::kFeatureNames.end() || k == 0 || k % 2 == 0)
			return fmt::format("--kernel {}: expected FEATURE=K with an odd K and one of the pools' features", spec);
		c.kernels[static_cast<size_t>(it - experience::kFeatureNames.begin())] = static_cast<uint32_t>(k);
	}
	return {};
}

// The choices given as words into the training options: the data-parallel
// master and rank, the schedule, selection, method, class weights and the
// model's layout and kernels. Error text or empty.
[[nodiscard]] std::string apply_choices(Options &o)
{
	policy::TrainOptions &opt = o.train;
	if (std::string err = parse_master(o.master, o.dist); !err.empty())
		return fmt::format("--master {}: {}", o.master, err);
	if (o.dist.rank >= o.dist.world_size)
		return fmt::format("--rank {} is not below --world-size {}", o.dist.rank, o.dist.world_size);
	opt.cosine_decay = !o.constant_lr;
	opt.select = o.select == "macro" ? policy::Selection::macro_recall : policy::Selection::accuracy;
	opt.method = o.method == "bc" ? policy::Method::bc : o.method == "awr" ? policy::Method::awr : policy::Method::dt;
	if (std::string err = parse_class_weights(o.class_weights, opt); !err.empty())
		return fmt::format("--class-weights {}: {}", o.class_weights, err);
	if (o.per_feature)
		opt.model.state_layout = policy::StateLayout::per_feature;
	if (o.ring_time)
		opt.model.time_embedding = policy::TimeEmbedding::ring_position;
	return parse_kernels(o.kernel_specs, opt.model);
}

// A data-parallel rank's shard of the pools (training episodes, and the
// validation ones on rank 0), then the rendezvous with the other ranks.
// False after an error, which it prints.
bool read_shard(Options &o, Data &d)
{
	policy::TrainOptions &opt = o.train;
	const bool lead = o.dist.rank == 0;
	policy::Shard shard;
	if (std::string err = policy::load_shard(o.pool_paths, o.dist.world_size, o.dist.rank, opt.val_fraction, shard);
	    !err.empty()) {
		fmt::print(stderr, "error: rank {}: {}\n", o.dist.rank, err);
		return false;
	}
	for (const std::string &warning : shard.warnings)
		fmt::print(stderr, "warning: {}\n", warning);
	d.all_entries = shard.entries; // the small-pool rule must choose the same model on every rank
	d.action_count = shard.action_count;
	d.pools = std::move(shard.train);
	d.val_pools = std::move(shard.val);
	for (const experience::Pool &p : d.pools)
		d.entries += p.size();
	fmt::print("rank {} of {}: {} of {} training episodes ({} entries){}\n", o.dist.rank, o.dist.world_size,
		   d.pools.size(), shard.train_episodes, d.entries,
		   lead ? fmt::format(", and the {} validation episodes", shard.val_episodes) : "");
	if (std::string err = policy::DataParallel::join(o.dist, d.dp); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return false;
	}
	opt.dp = d.dp.get();
	opt.val_pools = &d.val_pools;
	if (!lead)
		o.metrics_path.clear();
	return true;
}

// The training pools (this rank's shard when data-parallel) and, on rank 0,
// the test pools. False after an error, which it prints.
bool read_data(Options &o, Data &d)
{
	if (o.dist.world_size > 1) {
		if (!read_shard(o, d))
			return false;
	} else if (!read_pools(o.pool_paths, d.pools, d.entries)) {
		return false;
	} else {
		d.all_entries = d.entries;
		if (!d.pools.empty())
			d.action_count = d.pools.front().action_count;
	}
	if (o.dist.rank == 0 && !read_pools(o.test_paths, d.test_pools, d.test_entries))
		return false;
	if (!o.test_paths.empty())
		o.train.test_pools = &d.test_pools;
	return true;
}

// --size small, or auto on a small pool: the small-pool rule, and what it set.
void choose_size(Options &o, uint64_t all_entries)
{
	if (o.size == "small" || (o.size == "auto" && all_entries < kSmallPoolDecisions)) {
		const std::vector<std::string> set =
			apply_small_pool_rule(o.train, [&](const char *flag) { return o.given.contains(flag); });
		fmt::print("small pool (under {} decisions): {}\n", kSmallPoolDecisions,
			   set.empty() ? std::string("every setting given explicitly") : join(set, ", "));
	}
}

// --metrics: the CSV, its header written (a recall column per action). False
// (and said) when it cannot be opened.
bool open_metrics(const std::string &path, uint32_t actions, std::ofstream &metrics)
{
	if (path.empty())
		return true;
	metrics.open(path);
	if (!metrics) {
		fmt::print(stderr, "error: {}: cannot open for writing\n", path);
		return false;
	}
	metrics << "step,epoch,train_loss,train_accuracy,val_loss,val_accuracy,val_macro_recall,";
	for (const std::string &name : action_names(actions))
		metrics << "val_recall_" << name << ",";
	metrics << "best_step\n";
	return true;
}

// Rank 0's progress: on a terminal, a progress bar redrawn in place;
// otherwise (a log file, a pipe) one line per validation pass; each pass a
// line of the metrics CSV.
std::function<void(const policy::TrainProgress &)> progress_printer(const Options &o, bool terminal,
								    std::ofstream &metrics)
{
	const bool lead = o.dist.rank == 0;
	const uint32_t steps = o.train.steps;
	auto last_print = std::chrono::steady_clock::now();
	return [lead, steps, terminal, last_print, &metrics](const policy::TrainProgress &p) mutable {
		if (!lead)
			return;
		const auto now = std::chrono::steady_clock::now();
		const policy::ValidationScore &v = p.val;
		const std::string figures = fmt::format(
			"step {}/{}  epoch {:.2f}  loss {:.4f}  acc {:.2f} %  val loss {:.4f}  val acc {:.2f} %  macro {:.2f} % "
			"({})  best @{}  {:.0f} windows/s",
			p.step, steps, p.epoch, p.train_loss, 100 * p.train_accuracy, v.loss, 100 * v.accuracy,
			100 * v.macro_recall, per_action(v.recall, 100, "{:.1f}", " "), p.best_step, p.windows_per_second);
		if (terminal && (p.validated || now - last_print > std::chrono::milliseconds(500))) {
			last_print = now;
			const int filled = static_cast<int>(24.0 * p.step / steps);
			fmt::print(stderr, "\r[{:<24}] {} ", std::string(static_cast<size_t>(filled), '#'), figures);
		} else if (!terminal && p.validated) {
			fmt::print(stderr, "{}{}\n", figures, p.improved ? "  (kept)" : "");
		}
		if (p.validated && metrics.is_open()) {
			metrics << fmt::format("{},{:.4f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},", p.step, p.epoch, p.train_loss,
					       p.train_accuracy, v.loss, v.accuracy, v.macro_recall);
			for (double recall : v.recall)
				metrics << fmt::format("{:.6f},", recall);
			metrics << p.best_step << "\n";
		}
	};
}

// The run: episodes, features, size, losses, the checkpoint kept, and what
// the method, the class weights, a backbone or a teacher add.
void print_training(const Options &o, const policy::TrainReport &r)
{
	const policy::TrainOptions &opt = o.train;
	fmt::print("episodes: {} ({} training, {} validation, {} shorter than the window left out)\n", r.episodes,
		   r.train_episodes, r.val_episodes, r.skipped_episodes);
	fmt::print("features: {}\n", join(r.features, ", "));
	fmt::print("{} parameters, {} steps in {:.1f} s{}; loss {:.4f} -> {:.4f} (validation {:.4f})\n",
		   r.exported_parameters, r.steps_done, r.seconds, r.stopped_early ? " (stopped early: no better validation)" : "",
		   r.first_loss, r.final_train_loss, r.final_val_loss);
	fmt::print("exported the checkpoint of step {} (best validation {})\n", r.best_step,
		   opt.select == policy::Selection::macro_recall ? "macro recall" : "accuracy");
	if (opt.method == policy::Method::awr)
		fmt::print("method awr: value R^2 {:.3f} on the training split, beta {:g} std, largest weight {:.2f}\n",
			   r.value_r2, opt.awr_beta, r.awr_weight_max);
	std::string weights;
	for (double w : r.class_weights)
		weights += fmt::format("{}{:.3f}", weights.empty() ? "" : ", ", w);
	fmt::print("class weights: {} ({})\n", weights,
		   o.class_weights == "auto" ? (r.class_weighted ? "auto: inverse frequency, the pool is imbalanced"
								 : "auto: equal, the pool is balanced enough")
					     : "as given");
	if (!opt.backbone_path.empty())
		fmt::print("parameters while training: {} in all ({} in the frozen backbone), {} trainable ({:.2f} %: "
			   "LoRA adapters of rank {}, encoders, embeddings, head); adapters merged for export\n",
			   r.parameters, r.backbone_parameters, r.trainable_parameters,
			   100.0 * static_cast<double>(r.trainable_parameters) / static_cast<double>(r.parameters), opt.lora_rank);
	if (opt.teacher) {
		const double ratio = static_cast<double>(r.exported_parameters) / static_cast<double>(r.teacher_parameters);
		fmt::print("student/teacher size: {} / {} parameters = {:.2f} %{}\n", r.exported_parameters,
			   r.teacher_parameters, 100 * ratio, ratio > 0.05 ? " (over the 5 % a student should stay under)" : "");
		fmt::print("agreement with the teacher on validation: {:.2f} % (the teacher's own accuracy {:.2f} %)\n",
			   100 * r.teacher_agreement, 100 * r.teacher_accuracy);
	}
}

// The exported model's scores: validation (accuracy, recalls, confusion) and
// the test pools'.
void print_scores(const policy::TrainReport &r, bool test_pools)
{
	const policy::ValidationScore &v = r.val;
	const std::vector<std::string> names = action_names(v.recall.size());
	std::string recalls;
	for (size_t a = 0; a < names.size(); a++)
		recalls += fmt::format("{}{} {:.2f} % of {}", a ? ", " : "", names[a], 100 * v.recall[a], v.count[a]);
	fmt::print("validation accuracy {:.2f} % over {} held-out decisions (always the majority action: {:.2f} %); "
		   "macro recall {:.2f} %; recall per action: {}\n",
		   100 * v.accuracy, v.decisions, 100 * r.majority_accuracy, 100 * v.macro_recall, recalls);
	fmt::print("confusion (rows: true action, columns: predicted)\n         ");
	for (const std::string &name : names)
		fmt::print(" {:>8}", name);
	fmt::print("\n");
	for (size_t a = 0; a < names.size(); a++) {
		fmt::print("  {:<8}", names[a]);
		for (uint64_t c : v.confusion[a])
			fmt::print(" {:>8}", c);
		fmt::print("\n");
	}
	if (test_pools)
		fmt::print("test pools ({} decisions, never trained on nor used for selection): accuracy {:.2f} %, macro "
			   "recall {:.2f} % ({})\n",
			   r.test.decisions, 100 * r.test.accuracy, 100 * r.test.macro_recall,
			   per_action(r.test.recall, 100, "{:.2f}", ", "));
}

// The closing `name: value` lines scripts read.
void print_figures(const policy::TrainReport &r, bool test_pools)
{
	if (test_pools) {
		fmt::print("test_accuracy: {:.4f}\n", r.test.accuracy);
		fmt::print("test_macro_recall: {:.4f}\n", r.test.macro_recall);
	}
	fmt::print("best_step: {}\n", r.best_step);
	fmt::print("heldout_macro_recall: {:.4f}\n", r.val.macro_recall);
	fmt::print("heldout_accuracy: {:.4f}\n", r.val.accuracy);
}

} // namespace

int main(int argc, char **argv)
{
	Options o;
	if (std::optional<int> exit_status = parse_command_line(argc, argv, o))
		return *exit_status;
	std::string err = find_pools(o);
	if (err.empty())
		err = apply_choices(o);
	policy::Model teacher;
	if (err.empty() && o.distill) {
		err = policy::read_model(o.teacher_path, teacher);
		o.train.teacher = &teacher;
	}
	if (!err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 1;
	}

	Data data;
	if (!read_data(o, data))
		return 1;
	fmt::print("dualpilot-train: {} pools, {} entries\n", data.pools.size(), data.entries);
	choose_size(o, data.all_entries);
	std::ofstream metrics;
	if (!open_metrics(o.metrics_path, data.action_count, metrics))
		return 1;
	const bool terminal = isatty(STDERR_FILENO);
	o.train.on_progress = progress_printer(o, terminal, metrics);

	const bool distributed = o.dist.world_size > 1;
	policy::Model model;
	policy::TrainReport r;
	if (std::string train_err = policy::train_policy(data.pools, o.train, model, r); !train_err.empty()) {
		fmt::print(stderr, "{}error: {}\n", terminal ? "\n" : "", train_err);
		if (distributed) { // the process group's threads may wait on a lost peer: do not wait for them
			std::fflush(stdout);
			std::fflush(stderr);
			std::_Exit(1);
		}
		return 1;
	}
	if (distributed)
		fmt::print("rank {}: {} steps in {:.1f} s, {:.1f} s of it in all-reduces ({:.2f} ms a step)\n", o.dist.rank,
			   r.steps_done, r.seconds, r.allreduce_seconds, r.steps_done ? 1000 * r.allreduce_seconds / r.steps_done : 0.0);
	if (o.dist.rank != 0) // rank 0 writes the model, the metrics and the report
		return 0;
	if (terminal)
		fmt::print(stderr, "\n");
	if (std::string write_err = policy::write_model(model, o.out_path); !write_err.empty()) {
		fmt::print(stderr, "error: {}\n", write_err);
		return 1;
	}
	print_training(o, r);
	print_scores(r, o.train.test_pools != nullptr);
	fmt::print("wrote {}\n", o.out_path);
	print_figures(r, o.train.test_pools != nullptr);
	return 0;
}
