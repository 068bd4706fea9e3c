// The policy of policy/model.hpp as a libtorch module, for training: the
// same tensors under the same names, so that export_model() writes exactly
// what the cpu and gpu backends run, and import_model() loads a model file
// back (a teacher for distillation, a checkpoint to continue from).
//
// forward() takes fixed-length windows of T steps and returns the action
// logits at every step's last state token ([B][T][3]); the causal mask
// makes logits at step t depend on steps <= t only, so training on every
// position of a window is training on every window length the runtime sees.
#pragma once

#include <torch/torch.h>

#include "policy/model.hpp"

namespace dualpilot::policy {

struct BlockImpl : torch::nn::Module {
	BlockImpl(uint32_t d, uint32_t heads, uint32_t mlp);
	torch::Tensor forward(const torch::Tensor &x, const torch::Tensor &causal_mask);
	uint32_t heads;
	torch::nn::LayerNorm ln1{nullptr}, ln2{nullptr};
	torch::nn::Linear qkv{nullptr}, proj{nullptr}, fc{nullptr}, fc_proj{nullptr};
};
TORCH_MODULE(Block);

struct PolicyNetImpl : torch::nn::Module {
	explicit PolicyNetImpl(const ModelConfig &config);
	// returns [B][T] (unscaled), states [B][T][F] (raw), actions [B][T] (int64).
	torch::Tensor forward(const torch::Tensor &returns, const torch::Tensor &states, const torch::Tensor &actions);

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
