// Offline training of the policy from experience pools (libtorch), as the
// L4S-LLM paper's section II-E describes it: each pool entry is one step
// (state, action, reward, done); returns-to-go R_t = sum_{i>=t} gamma^(i-t) r_i
// are computed per episode; windows of w consecutive steps are the training
// sequences, and the loss is the cross-entropy of the action predicted at
// every step's state token (the paper's L_rl). Episodes are split into
// training and validation before anything is learnt from them (feature
// normalisation and return scale included), so validation is never seen.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "policy/model.hpp"
#include "policy/returns.hpp"
#include "experience/pool.hpp"

namespace dualpilot::policy {

struct PolicyNetImpl; // policy/training/torch_model.hpp
class DataParallel;   // policy/training/distributed.hpp

// One validation pass: every held-out decision scored once, at the last
// position of a window that ends on it (the first w - 1 decisions of an
// episode with what context the episode has), so each decision counts once
// and with the context the router would have had.
// Per action: the model's action_count of them (a verdict model's enqueue,
// drop, mark); zeros for the 3 verdicts before any pass.
struct ValidationScore {
	double loss = 0;                  // unweighted cross-entropy
	double accuracy = 0;
	double macro_recall = 0;          // mean of the recalls of the actions present
	std::vector<double> recall = std::vector<double>(kVerdictActions);   // per true action
	std::vector<uint64_t> count = std::vector<uint64_t>(kVerdictActions); // held-out decisions per true action
	std::vector<std::vector<uint64_t>> confusion =                        // [true][predicted]
		std::vector<std::vector<uint64_t>>(kVerdictActions, std::vector<uint64_t>(kVerdictActions));
	uint64_t decisions = 0;

	// Zeros for a model of `actions` actions.
	void size_for(uint32_t actions)
	{
		recall.assign(actions, 0);
		count.assign(actions, 0);
		confusion.assign(actions, std::vector<uint64_t>(actions));
	}
};

// How checkpoints are ranked.
enum class Selection : uint8_t { accuracy, macro_recall };

// What the loss asks of the data (docs/training.md, "Offline RL:
// beating the data"):
//  dt:  the decision transformer: the logged action, conditioned on the
//       return-to-go (the paper's L_rl);
//  bc:  plain behaviour cloning: the same net with every return zeroed
//       (rtg_scale so large that a run-time return reads as 0 too);
//  awr: advantage-weighted regression (Peng et al. 2019) on top of dt: each
//       decision's loss weighted by exp(A / beta), A = R_t - V(s_t), V a
//       ridge regression of the return-to-go on the normalised state fitted
//       on the training split, beta = awr_beta x std(A), weights capped at
//       awr_max_weight and scaled to mean 1: the decisions that did better
//       than their state's expectation count more, so the policy can improve
//       on its data instead of copying it.
enum class Method : uint8_t { dt, bc, awr };

// Where a run stands, after each optimiser step.
struct TrainProgress {
	uint32_t step = 0;
	double epoch = 0;            // windows drawn / windows the training split holds
	double train_loss = 0, train_accuracy = 0; // running means since the last validation pass
	bool validated = false;      // this step ran a validation pass
	ValidationScore val;         // the latest validation pass
	bool improved = false;       // that pass is the best so far (the checkpoint kept)
	uint32_t best_step = 0;      // the kept checkpoint's step
	double windows_per_second = 0;
};

struct TrainOptions {
	ModelConfig model;            // architecture; features, names, scales and action_count are filled in from the pools
	uint32_t batch = 64;          // windows per step
	uint32_t steps = 2000;        // optimiser steps
	double max_seconds = 0;       // stop after the step that passes this much time (0: no limit)
	uint32_t accumulate = 1;      // batches per optimiser step
	uint32_t warmup = 100;        // linear learning-rate warm-up, steps
	double lr = 1e-3;             // the peak
	bool cosine_decay = true;     // after the warm-up, down to lr / 10 at the last step (else constant)
	double weight_decay = 1e-4;
	double grad_clip = 1.0;
	double gamma = 0.95;
	double val_fraction = 0.1;    // of the episodes (of the steps, with a single episode)
	uint32_t val_windows = 2000;  // at most this many held-out decisions scored (evenly spaced)
	uint32_t eval_every = 200;    // steps between validation passes
	// The exported model is the checkpoint with the best validation score
	// (ties: the earlier); training stops after `patience` passes without
	// a better one (0: never early).
	Selection select = Selection::accuracy;
	uint32_t patience = 0;
	// Cross-entropy weight per true action. class_weights_auto: inverse
	// frequency over the training split (n / (K n_a), K actions), used when
	// the rarest action present is under a third as common as the commonest;
	// equal weights otherwise. Without it, class_weights as given: one per
	// action of the pools, or none for equal weights.
	bool class_weights_auto = true;
	std::vector<double> class_weights;
	double dropout = 0.0;         // on attention weights and residual branches, training only
	Method method = Method::dt;
	double awr_beta = 1.0;        // temperature, in units of the advantages' standard deviation
	double awr_max_weight = 20;
	double value_ridge = 1e-3;    // the value regression's ridge, relative to the entries
	// The return asked for at run time (dt, awr): 0 the best return-to-go of
	// the training split (the decision-transformer convention), else this
	// quantile of the training split's returns-to-go (e.g. 0.9: a return
	// the data shows often enough not to be out of distribution).
	double target_quantile = 0;
	// Regularisation (the paper's section II-D): stochastic temporal
	// augmentation and temporal dropout, training batches only.
	double noise = 0.0;           // relative Gaussian noise on each state value
	double offset_noise = 0.0;    // a random offset per window and feature, in units of the feature's std
	double temporal_dropout = 0.0; // probability that a step is hidden from the later steps' attention

	// Pretrained backbone: a GPT-2 safetensors checkpoint whose blocks are
	// loaded and frozen (its width, depth, heads and MLP width replace the
	// model's), with LoRA adapters of rank lora_rank (0: none) trained
	// beside the encoders, embeddings and head.
	std::string backbone_path;
	uint32_t backbone_heads = 0;  // when the checkpoint does not say
	uint32_t lora_rank = 0;
	double lora_alpha = 16;

	// Distillation: a teacher's soft labels. loss = distill_weight * T^2 *
	// KL(teacher_T || student_T) + (1 - distill_weight) * CE(true actions),
	// at temperature T. The returns-to-go use the teacher's gamma.
	const Model *teacher = nullptr;
	double distill_weight = 0.7;
	double temperature = 2.0;

	// Pools scored once with the exported model, never trained on nor used
	// to choose the checkpoint (TrainReport::test).
	const std::vector<experience::Pool> *test_pools = nullptr;

	// Data-parallel (policy/training/distributed.hpp): a joined group; the
	// pools are this rank's training shard and val_pools the validation
	// episodes (rank 0's; empty elsewhere), as load_shard() splits them.
	// batch is per rank. Only rank 0 validates, keeps checkpoints and
	// exports; out_of_time and patience are its decisions.
	DataParallel *dp = nullptr;
	const std::vector<experience::Pool> *val_pools = nullptr;
	// In one process, the global batch of this many ranks: the training
	// episodes split into shards as load_shard() does, one sampler per shard
	// with that rank's random stream (the reference a data-parallel run is
	// checked against).
	uint32_t emulate_ranks = 0;

	uint64_t seed = 1;
	uint32_t threads = 1;         // torch (and OpenBLAS) threads; 0 = all cores. One is fastest for
	                              // these small matrices on a shared 2-core machine (perf/RESULTS.md)
	std::function<void(const TrainProgress &)> on_progress; // after every step
	// When set, receives the trained module (adapters unmerged), for tests.
	std::shared_ptr<PolicyNetImpl> *trained_net = nullptr;
};

struct TrainReport {
	uint64_t episodes = 0, train_episodes = 0, val_episodes = 0, skipped_episodes = 0; // skipped: shorter than w
	uint64_t train_steps_in_pool = 0, val_steps_in_pool = 0;
	std::vector<std::string> features;        // the model's: the pools' features that no pool lacks
	uint32_t action_count = 0;                // the pools' and so the model's
	uint32_t steps_done = 0;
	uint32_t best_step = 0;                   // the exported checkpoint's step (0: before any)
	bool stopped_early = false;               // by patience
	double first_loss = 0, final_train_loss = 0;
	ValidationScore val;                      // the exported model's
	ValidationScore test;                     // on TrainOptions::test_pools, when given
	double value_r2 = 0;                      // awr: the value regression's R^2 on the training split
	double awr_weight_max = 0;                // awr: the largest weight after scaling
	double final_val_loss = 0, val_accuracy = 0;  // = val.loss, val.accuracy
	std::vector<double> val_class_accuracy;   // = val.recall
	std::vector<uint64_t> val_class_count;    // = val.count
	std::vector<double> class_weights;        // the loss's, as used, one per action
	bool class_weighted = false;              // weights other than equal were used
	double majority_accuracy = 0;             // always predicting the most common action
	uint64_t parameters = 0;                  // of the module being trained (adapters included)
	uint64_t trainable_parameters = 0;
	uint64_t exported_parameters = 0;         // in the model file (adapters merged)
	uint64_t backbone_parameters = 0;         // frozen pretrained weights, when a backbone is loaded
	uint64_t teacher_parameters = 0;
	double teacher_agreement = 0;             // student argmax == teacher argmax, validation
	double teacher_accuracy = 0;              // the teacher's own validation accuracy
	double seconds = 0;
	double allreduce_seconds = 0;             // data-parallel: time in all-reduces
};

// Trains on the pools (appended; each pool's last entry ends an episode) and
// returns the model: the best checkpoint by opt.select. A feature some pool
// lacks (experience::Pool::absent_features) is left out of the model. The
// pools must agree on their action count, which becomes the model's. Error
// text or empty.
[[nodiscard]]
std::string train_policy(const std::vector<experience::Pool> &pools, const TrainOptions &opt, Model &out, TrainReport &report);

} // namespace dualpilot::policy
