// The policy of policy/model.hpp as a libtorch module, for training: the
// same tensors under the same names, so that export_model() writes exactly
// what the cpu and gpu backends run, and import_model() loads a model file
// back (a teacher for distillation, a checkpoint to continue from).
//
// forward() takes fixed-length windows of T steps and returns the action
// logits at every step's last state token ([B][T][K], K the config's
// action_count); the causal mask makes logits at step t depend on steps
// <= t only, so training on every position of a window is training on every
// window length the runtime sees.
//
// A pretrained GPT-2 backbone (policy/gpt2.hpp) can replace the blocks'
// weights; freeze_backbone() stops their gradients and enable_lora() adds
// low-rank adapters (LoRA: W x + (alpha / r) * B A x, A [r][in] random, B
// [out][r] zero, so training starts from the pretrained function) on each
// block's four projections. export_model() merges them, W = W0 + (alpha/r)
// B A, so the model file and the runtime never see adapters.
#pragma once

#include <torch/torch.h>

#include <array>

#include "policy/gpt2.hpp"
#include "policy/model.hpp"

namespace dualpilot::policy {

// One projection's adapter; undefined tensors when LoRA is off.
struct LoraAdapter {
	torch::Tensor a, b; // [r][in], [out][r]
	double scale = 0;   // alpha / r
};

struct BlockImpl : torch::nn::Module {
	BlockImpl(uint32_t d, uint32_t heads, uint32_t mlp);
	// causal_mask: [L][L] or [B][1][L][L], true where attention is forbidden.
	torch::Tensor forward(const torch::Tensor &x, const torch::Tensor &causal_mask);
	void enable_lora(uint32_t rank, double alpha);
	// The projection's weight with its adapter merged in (a copy).
	torch::Tensor merged_weight(size_t projection);
	// Projections in the order of `lora`: qkv, proj, fc, fc_proj.
	torch::nn::Linear &projection(size_t i);

	uint32_t heads;
	double dropout = 0; // attention weights and residual branches, in training mode only
	torch::nn::LayerNorm ln1{nullptr}, ln2{nullptr};
	torch::nn::Linear qkv{nullptr}, proj{nullptr}, fc{nullptr}, fc_proj{nullptr};
	std::array<LoraAdapter, 4> lora;

    private:
	torch::Tensor project(size_t i, const torch::Tensor &x);
};
TORCH_MODULE(Block);

struct PolicyNetImpl : torch::nn::Module {
	explicit PolicyNetImpl(const ModelConfig &config);
	// returns [B][T] (unscaled), states [B][T][F] (raw), actions [B][T] (int64, 0..K-1).
	// hidden_steps ([B][T] bool, training only: temporal dropout) hides a
	// step's tokens from the later steps' attention; a step always sees itself.
	// first_slots ([B] int64; ring-position models): the ring slot of each
	// window's oldest step, step t at (first_slot + t) mod w; 0 when absent.
	torch::Tensor forward(const torch::Tensor &returns, const torch::Tensor &states, const torch::Tensor &actions,
			      const torch::Tensor &hidden_steps = {}, const torch::Tensor &first_slots = {});

	// Copies a GPT-2 backbone's blocks and final LayerNorm in (its width,
	// depth, heads and MLP width must be this net's), and the first `window`
	// of its position embeddings into the time embedding when it has as many.
	void load_backbone(const Gpt2Backbone &backbone);
	// Stops gradients to the blocks and the final LayerNorm (not the adapters).
	void freeze_backbone();
	void enable_lora(uint32_t rank, double alpha);
	// Dropout in every block while training (regularisation for small pools;
	// nothing changes at inference or in the model file).
	void set_dropout(double p);
	uint64_t parameter_count(bool trainable_only);

	ModelConfig config;
	torch::Tensor norm_mean, norm_std; // buffers [F]
	std::vector<torch::nn::Linear> enc, enc_proj_f; // per feature
	torch::nn::Linear enc_proj{nullptr}, rtg{nullptr}, head{nullptr};
	torch::nn::Embedding act{nullptr}, time{nullptr};
	torch::nn::LayerNorm ln_in{nullptr}, ln_f{nullptr};
	std::vector<Block> blocks;
};
TORCH_MODULE(PolicyNet);

// The module's weights as a Model (fp32), ready for write_model().
Model export_model(PolicyNet &net);
// A module holding a Model's weights (int8 tensors are dequantised).
PolicyNet import_model(const Model &m);

} // namespace dualpilot::policy
