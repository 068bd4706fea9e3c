// Offline training of the policy from experience pools (libtorch), as the
// L4S-LLM paper's section II-E describes it: each pool entry is one step
// (state, action, reward, done); returns-to-go R_t = sum_{i>=t} gamma^(i-t) r_i
// are computed per episode; windows of w consecutive steps are the training
// sequences, and the loss is the cross-entropy of the action predicted at
// every step's state token (the paper's L_rl). Episodes are split into
// training and validation before anything is learnt from them (feature
// normalisation and return scale included), so validation is never seen.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "policy/model.hpp"
#include "sim/pool.hpp"

namespace dualpilot::policy {

struct PolicyNetImpl; // policy/training/torch_model.hpp

// Where a run stands, after each optimiser step.
struct TrainProgress {
	uint32_t step = 0;
	double epoch = 0;            // windows drawn / windows the training split holds
	double train_loss = 0, train_accuracy = 0; // running means since the last validation pass
	bool validated = false;      // this step ran a validation pass
	double val_loss = 0, val_accuracy = 0;     // the latest validation pass
	double windows_per_second = 0;
};

struct TrainOptions {
	ModelConfig model;            // architecture; features, names, scales are filled in from the pools
	uint32_t batch = 64;          // windows per step
	uint32_t steps = 2000;        // optimiser steps
	double max_seconds = 0;       // stop after the step that passes this much time (0: no limit)
	uint32_t accumulate = 1;      // batches per optimiser step
	uint32_t warmup = 100;        // linear learning-rate warm-up, steps
	double lr = 1e-3;
	double weight_decay = 1e-4;
	double grad_clip = 1.0;
	double gamma = 0.95;
	double val_fraction = 0.1;    // of the episodes (of the steps, with a single episode)
	uint32_t val_windows = 2000;  // windows scored for validation
	uint32_t eval_every = 200;    // steps between validation passes
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

	uint64_t seed = 1;
	uint32_t threads = 0;         // torch threads; 0 = all cores
	std::function<void(const TrainProgress &)> on_progress; // after every step
	// When set, receives the trained module (adapters unmerged), for tests.
	std::shared_ptr<PolicyNetImpl> *trained_net = nullptr;
};

struct TrainReport {
	uint64_t episodes = 0, train_episodes = 0, val_episodes = 0, skipped_episodes = 0; // skipped: shorter than w
	uint64_t train_steps_in_pool = 0, val_steps_in_pool = 0;
	uint32_t steps_done = 0;
	double first_loss = 0, final_train_loss = 0, final_val_loss = 0;
	double val_accuracy = 0;                  // over every position of the validation windows
	std::array<double, 3> val_class_accuracy{}; // per true action (enqueue, drop, mark)
	std::array<uint64_t, 3> val_class_count{};
	double majority_accuracy = 0;             // always predicting the most common action
	uint64_t parameters = 0;                  // of the module being trained (adapters included)
	uint64_t trainable_parameters = 0;
	uint64_t exported_parameters = 0;         // in the model file (adapters merged)
	uint64_t backbone_parameters = 0;         // frozen pretrained weights, when a backbone is loaded
	uint64_t teacher_parameters = 0;
	double teacher_agreement = 0;             // student argmax == teacher argmax, validation
	double teacher_accuracy = 0;              // the teacher's own validation accuracy
	double seconds = 0;
};

// Returns-to-go per entry; an episode ends at each done flag (and at the end).
std::vector<float> returns_to_go(const std::vector<float> &rewards, const std::vector<uint8_t> &dones, double gamma);

// Trains on the pools (appended; each pool's last entry ends an episode) and
// returns the model. Error text or empty.
std::string train_policy(const std::vector<sim::Pool> &pools, const TrainOptions &opt, Model &out, TrainReport &report);

} // namespace dualpilot::policy
