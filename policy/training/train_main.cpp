// dualpilot-train: trains the policy on experience pools and writes a model
// file the router's backends run.
//   dualpilot-train --pools runs/paper/seed-1/pool.dpp ... --out policy.dpm [options]
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <cstdio>
#include <fstream>

#include "policy/model_file.hpp"
#include "policy/training/train.hpp"

using namespace dualpilot;

int main(int argc, char **argv)
{
	std::vector<std::string> pool_paths;
	std::string out_path, metrics_path;
	policy::TrainOptions opt;
	policy::ModelConfig &c = opt.model;
	c.window = 20;
	bool per_feature = false;
	CLI::App app{"dualpilot-train: train the L4S policy on experience pools (libtorch, CPU)"};
	app.add_option("--pools", pool_paths, "experience pools (.dpp or .json)")->required();
	app.add_option("--out", out_path, "model file to write (.dpm)")->required();
	app.add_option("--metrics", metrics_path, "CSV of step, losses and accuracies");
	app.add_option("--window", c.window, "context window w, steps")->capture_default_str();
	app.add_option("--d-model", c.d_model, "model width")->capture_default_str();
	app.add_option("--layers", c.layers, "transformer blocks")->capture_default_str();
	app.add_option("--heads", c.heads, "attention heads")->capture_default_str();
	app.add_option("--embed", c.feature_embed, "per-feature embedding width")->capture_default_str();
	app.add_option("--mlp", c.mlp_hidden, "MLP hidden width")->capture_default_str();
	app.add_flag("--per-feature", per_feature, "one token per state feature (the paper's layout)");
	app.add_flag("--head-residual", c.head_residual, "add the state embedding before the head");
	app.add_option("--steps", opt.steps, "optimiser steps")->capture_default_str();
	app.add_option("--batch", opt.batch, "windows per batch")->capture_default_str();
	app.add_option("--accumulate", opt.accumulate, "batches per optimiser step")->capture_default_str();
	app.add_option("--lr", opt.lr, "peak learning rate (AdamW)")->capture_default_str();
	app.add_option("--weight-decay", opt.weight_decay, "AdamW weight decay")->capture_default_str();
	app.add_option("--warmup", opt.warmup, "learning-rate warm-up steps")->capture_default_str();
	app.add_option("--gamma", opt.gamma, "return discount")->capture_default_str();
	app.add_option("--noise", opt.noise, "relative noise on the states (augmentation)")->capture_default_str();
	app.add_option("--val-fraction", opt.val_fraction, "episodes held out for validation")->capture_default_str();
	app.add_option("--eval-every", opt.eval_every, "steps between validation passes")->capture_default_str();
	app.add_option("--seed", opt.seed, "seed")->capture_default_str();
	app.add_option("--threads", opt.threads, "torch threads (0: all cores)")->capture_default_str();
	CLI11_PARSE(app, argc, argv);
	if (per_feature)
		c.state_layout = policy::StateLayout::per_feature;

	std::vector<sim::Pool> pools;
	uint64_t entries = 0;
	for (const std::string &p : pool_paths) {
		sim::Pool pool;
		if (std::string err = sim::read_pool(p, pool); !err.empty()) {
			fmt::print(stderr, "error: {}\n", err);
			return 1;
		}
		entries += pool.size();
		pools.push_back(std::move(pool));
	}
	fmt::print("dualpilot-train: {} pools, {} entries\n", pools.size(), entries);
	std::ofstream metrics;
	if (!metrics_path.empty()) {
		metrics.open(metrics_path);
		if (!metrics) {
			fmt::print(stderr, "error: {}: cannot open for writing\n", metrics_path);
			return 1;
		}
		metrics << "step,train_loss,train_accuracy,val_loss,val_accuracy\n";
	}
	const auto start = std::chrono::steady_clock::now();
	opt.on_eval = [&](uint32_t step, double tl, double ta, double vl, double va) {
		const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
		fmt::print(stderr, "\rstep {:>6}/{}  loss {:.4f}  acc {:.2f} %  val loss {:.4f}  val acc {:.2f} %  {:.0f} windows/s ",
			   step, opt.steps, tl, 100 * ta, vl, 100 * va, step * opt.batch * opt.accumulate / std::max(secs, 1e-9));
		if (metrics.is_open())
			metrics << fmt::format("{},{:.6f},{:.6f},{:.6f},{:.6f}\n", step, tl, ta, vl, va);
	};
	policy::Model model;
	policy::TrainReport r;
	if (std::string err = policy::train_policy(pools, opt, model, r); !err.empty()) {
		fmt::print(stderr, "\nerror: {}\n", err);
		return 1;
	}
	fmt::print(stderr, "\n");
	if (std::string err = policy::write_model(model, out_path); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 1;
	}
	fmt::print("episodes: {} ({} training, {} validation, {} shorter than the window left out)\n", r.episodes,
		   r.train_episodes, r.val_episodes, r.skipped_episodes);
	fmt::print("{} parameters, {:.1f} s; loss {:.4f} -> {:.4f} (validation {:.4f})\n", r.parameters, r.seconds,
		   r.first_loss, r.final_train_loss, r.final_val_loss);
	fmt::print("validation accuracy {:.2f} % (always the majority action: {:.2f} %); per action: enqueue {:.2f} % "
		   "of {}, drop {:.2f} % of {}, mark {:.2f} % of {}\n",
		   100 * r.val_accuracy, 100 * r.majority_accuracy, 100 * r.val_class_accuracy[0], r.val_class_count[0],
		   100 * r.val_class_accuracy[1], r.val_class_count[1], 100 * r.val_class_accuracy[2], r.val_class_count[2]);
	fmt::print("wrote {}\n", out_path);
	fmt::print("heldout_accuracy: {:.4f}\n", r.val_accuracy);
	return 0;
}
