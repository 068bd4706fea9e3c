// dualpilot-train: trains the policy on experience pools and writes a model
// file the router's backends run.
//   dualpilot-train --pools runs/paper/seed-1/pool.dpp ... --out policy.dpm [options]
//   dualpilot-train --pools ... --out p.dpm --backbone gpt2/model.safetensors --lora-rank 8
//   dualpilot-train distill --teacher teacher.dpm --pools ... --out student.dpm [options]
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
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
	std::vector<std::string> kernel_specs;
	std::string teacher_path;
	CLI::App app{"dualpilot-train: train the L4S policy on experience pools (libtorch, CPU)"};
	CLI::App *distill = app.add_subcommand("distill", "train a small student on a teacher's soft labels");
	distill->fallthrough();
	distill->add_option("--teacher", teacher_path, "the teacher model file (.dpm)")->required();
	distill->add_option("--distill-weight", opt.distill_weight, "weight of the teacher's KL term (the rest: CE)")
		->capture_default_str();
	distill->add_option("--temperature", opt.temperature, "softmax temperature of the soft labels")->capture_default_str();
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
	bool ring_time = false;
	app.add_flag("--ring-time", ring_time,
		     "time embedding by ring slot (step index mod w): a one-block model's keys and values are then "
		     "computed once per step at run time");
	app.add_option("--kernel", kernel_specs,
		       "NAME=K: a causal Conv1d of odd kernel K over the window for feature NAME (repeatable; e.g. "
		       "current_queue_delay_us=5; the rest stay scalar Linear encoders)");
	app.add_option("--backbone", opt.backbone_path, "pretrained GPT-2 checkpoint (.safetensors) as the frozen backbone");
	app.add_option("--backbone-heads", opt.backbone_heads, "its attention heads, when no config.json is beside it");
	app.add_option("--lora-rank", opt.lora_rank, "LoRA rank on the backbone's projections (0: none)")->capture_default_str();
	app.add_option("--lora-alpha", opt.lora_alpha, "LoRA alpha (adapter scale alpha / rank)")->capture_default_str();
	app.add_option("--steps", opt.steps, "optimiser steps")->capture_default_str();
	app.add_option("--max-seconds", opt.max_seconds, "stop once training has taken this long (0: no limit)")
		->capture_default_str();
	app.add_option("--batch", opt.batch, "windows per batch")->capture_default_str();
	app.add_option("--accumulate", opt.accumulate, "batches per optimiser step")->capture_default_str();
	app.add_option("--lr", opt.lr, "peak learning rate (AdamW)")->capture_default_str();
	app.add_option("--weight-decay", opt.weight_decay, "AdamW weight decay")->capture_default_str();
	app.add_option("--warmup", opt.warmup, "learning-rate warm-up steps")->capture_default_str();
	app.add_option("--gamma", opt.gamma, "return discount")->capture_default_str();
	app.add_option("--noise", opt.noise, "relative noise on the states (augmentation)")->capture_default_str();
	app.add_option("--offset-noise", opt.offset_noise, "random offset per window and feature, in stds (augmentation)")
		->capture_default_str();
	app.add_option("--temporal-dropout", opt.temporal_dropout, "probability a step is hidden from later steps")
		->capture_default_str();
	app.add_option("--val-fraction", opt.val_fraction, "episodes held out for validation")->capture_default_str();
	app.add_option("--eval-every", opt.eval_every, "steps between validation passes")->capture_default_str();
	app.add_option("--seed", opt.seed, "seed")->capture_default_str();
	app.add_option("--threads", opt.threads, "torch threads (0: all cores)")->capture_default_str();
	CLI11_PARSE(app, argc, argv);
	if (per_feature)
		c.state_layout = policy::StateLayout::per_feature;
	if (ring_time)
		c.time_embedding = policy::TimeEmbedding::ring_position;
	c.kernels.assign(sim::kFeatureCount, 1);
	for (const std::string &spec : kernel_specs) {
		const size_t eq = spec.find('=');
		const std::string name = spec.substr(0, eq);
		const auto it = std::find(sim::kFeatureNames.begin(), sim::kFeatureNames.end(), name);
		unsigned long k = 0;
		if (eq != std::string::npos)
			k = std::strtoul(spec.c_str() + eq + 1, nullptr, 10);
		if (it == sim::kFeatureNames.end() || k == 0 || k % 2 == 0) {
			fmt::print(stderr, "error: --kernel {}: expected FEATURE=K with an odd K and one of the pools' features\n",
				   spec);
			return 1;
		}
		c.kernels[static_cast<size_t>(it - sim::kFeatureNames.begin())] = static_cast<uint32_t>(k);
	}
	policy::Model teacher;
	if (distill->parsed()) {
		if (std::string err = policy::read_model(teacher_path, teacher); !err.empty()) {
			fmt::print(stderr, "error: {}\n", err);
			return 1;
		}
		opt.teacher = &teacher;
	}

	std::vector<sim::Pool> pools;
	uint64_t entries = 0;
	for (const std::string &p : pool_paths) {
		sim::Pool pool;
		sim::PoolReadReport pool_report;
		if (std::string err = sim::read_pool(p, pool, &pool_report); !err.empty()) {
			fmt::print(stderr, "error: {}\n", err);
			return 1;
		}
		for (const std::string &warning : pool_report.warnings(p))
			fmt::print(stderr, "warning: {}\n", warning);
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
		metrics << "step,epoch,train_loss,train_accuracy,val_loss,val_accuracy\n";
	}
	auto last_print = std::chrono::steady_clock::now();
	opt.on_progress = [&](const policy::TrainProgress &p) {
		const auto now = std::chrono::steady_clock::now();
		if (p.validated || now - last_print > std::chrono::milliseconds(500)) {
			last_print = now;
			const int filled = static_cast<int>(24.0 * p.step / opt.steps);
			fmt::print(stderr,
				   "\r[{:<24}] epoch {:.2f}  step {}/{}  loss {:.4f}  acc {:.2f} %  val loss {:.4f}  val acc "
				   "{:.2f} %  {:.0f} windows/s ",
				   std::string(static_cast<size_t>(filled), '#'), p.epoch, p.step, opt.steps, p.train_loss,
				   100 * p.train_accuracy, p.val_loss, 100 * p.val_accuracy, p.windows_per_second);
		}
		if (p.validated && metrics.is_open())
			metrics << fmt::format("{},{:.4f},{:.6f},{:.6f},{:.6f},{:.6f}\n", p.step, p.epoch, p.train_loss,
					       p.train_accuracy, p.val_loss, p.val_accuracy);
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
	fmt::print("{} parameters, {} steps in {:.1f} s; loss {:.4f} -> {:.4f} (validation {:.4f})\n",
		   r.exported_parameters, r.steps_done, r.seconds, r.first_loss, r.final_train_loss, r.final_val_loss);
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
	fmt::print("validation accuracy {:.2f} % (always the majority action: {:.2f} %); per action: enqueue {:.2f} % "
		   "of {}, drop {:.2f} % of {}, mark {:.2f} % of {}\n",
		   100 * r.val_accuracy, 100 * r.majority_accuracy, 100 * r.val_class_accuracy[0], r.val_class_count[0],
		   100 * r.val_class_accuracy[1], r.val_class_count[1], 100 * r.val_class_accuracy[2], r.val_class_count[2]);
	fmt::print("wrote {}\n", out_path);
	fmt::print("heldout_accuracy: {:.4f}\n", r.val_accuracy);
	return 0;
}
