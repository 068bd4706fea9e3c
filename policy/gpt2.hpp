// A pretrained GPT-2 checkpoint (safetensors, the Hugging Face layout, with
// or without the "transformer." prefix) as the policy's backbone: its blocks
// become the policy's blocks h0..h{L-1} and its final LayerNorm the policy's
// ln_f, under the model file's tensor names and layout (policy/model.hpp);
// its position embeddings seed the policy's time embedding. The token
// embeddings (wte) and any LM head are not used: the policy's tokens come
// from its own encoders.
//
// GPT-2 stores its projections as Conv1D weights, [in][out]; the policy's
// Linear weights are [out][in], so each is transposed here.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dualpilot::policy {

struct Gpt2Backbone {
	uint32_t d_model = 0, layers = 0, heads = 0, mlp_hidden = 0, positions = 0;
	// Model-file tensor name -> values, for h{l}.* and ln_f.*.
	std::vector<std::pair<std::string, std::vector<float>>> tensors;
	std::vector<float> position_embedding; // [positions][d_model]
	uint64_t parameters = 0;               // of the blocks and ln_f
};

// Loads the backbone from `path`. The head count is not in a safetensors
// file: `heads` when non-zero, else "n_head" of a config.json beside the
// file, else "n_head" in the file's metadata. Refuses, naming the problem, a
// malformed file, a missing or misshapen GPT-2 tensor, or a head count that
// does not divide the width. Error text or empty.
[[nodiscard]] std::string load_gpt2_backbone(const std::string &path, uint32_t heads, Gpt2Backbone &out);

} // namespace dualpilot::policy
