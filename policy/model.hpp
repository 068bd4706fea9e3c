// The learned policy's architecture and weights, as the runtime sees them:
// a decision transformer in the L4S-LLM paper's shape (section II-D). Per
// step t of a queue's context window of w steps it embeds three tokens:
//   R_t  return-to-go            Linear(1 -> d)
//   s_t  the state features      per feature f: Linear(k_f -> e) over the
//                                feature's last k_f values (k_f = 1: the scalar
//                                Linear of the paper's code; 3/5/7: a causal
//                                Conv1d over the window), LeakyReLU; then
//                                either (state_layout concat, one token) the F*e
//                                concatenation through Linear(F*e -> d), or
//                                (per_feature, F tokens s_t^1..s_t^F, the
//                                paper's sequence (1)) each feature through its
//                                own Linear(e -> d)
//   a_t  the action taken        Embedding(K -> d)
// plus a learned time embedding (time_embedding window_position: by position
// in the window, oldest step 0; ring_position: by the step's index modulo w,
// its slot in the queue's ring, so that a step keeps its embedding while the
// window slides over it and a one-block model's keys and values can be
// computed once per step, on arrival), then LayerNorm,
// `layers` GPT-2-style pre-LN blocks (causal multi-head self-attention, GELU
// MLP), a final LayerNorm, and the action head Linear(d -> K) at the last
// state token (with head_residual, at that token plus its embedding before
// the time embedding).
// Softmax of the head's logits is the action distribution over the model's
// K = action_count actions: for the verdict models (K = 3, every model so
// far) enqueue, drop, ECN mark for the queue's next packets; for a tuner, K
// discrete AQM settings.
//
// Plain data: the hyper-parameters and the named weight tensors; no libtorch.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dualpilot::policy {

// The verdict models' actions: enqueue, drop, ECN mark (aqm::ActionCode), in
// that order. What the guard rails, the pilot's shadow scoring and the
// verdict pools mean by an action; the default action_count.
inline constexpr uint32_t kVerdictActions = 3;
// The most actions a model may have: a tuner's K settings fit, and every
// backend keeps one row's K probabilities in a fixed array (policy::Probs).
inline constexpr uint32_t kMaxActions = 128;

// The action a stored step's action value reads as (its act.emb row) in a
// model of `actions` actions: one past the last, or more, reads as the last.
// Every backend reads steps through this.
inline constexpr uint32_t action_index(uint8_t a, uint32_t actions) { return a < actions ? a : actions - 1; }

// Constants of the architecture every implementation of it shares (the cpu
// backend, the reference, the CUDA kernels): torch's defaults, which the
// training's modules use.
inline constexpr float kLnEps = 1e-5f;      // LayerNorm's epsilon (torch.nn.LayerNorm)
inline constexpr float kLeakySlope = 0.01f; // the state encoders' LeakyReLU slope (torch.nn.LeakyReLU)

inline constexpr uint32_t kMaxFeatures = 64;
inline constexpr uint32_t kFeatureNameLen = 32;

enum class Backbone : uint32_t { transformer = 0 };
enum class StateLayout : uint32_t { concat = 0, per_feature = 1 };
enum class TimeEmbedding : uint32_t { window_position = 0, ring_position = 1 };

struct ModelConfig {
	uint32_t feature_count = 8;
	uint32_t feature_embed = 16;   // e: per-feature embedding width
	uint32_t d_model = 64;
	uint32_t layers = 2;
	uint32_t heads = 4;
	uint32_t window = 20;          // w: steps of context
	uint32_t mlp_hidden = 256;
	uint32_t action_count = kVerdictActions; // K: the act.emb rows and the head's outputs, 2..kMaxActions
	Backbone backbone = Backbone::transformer;
	bool head_residual = false;
	StateLayout state_layout = StateLayout::concat;
	TimeEmbedding time_embedding = TimeEmbedding::window_position;
	float target_return = 1.0f;    // R_1 at run time, in the model's (scaled) units
	float rtg_scale = 1.0f;        // rewards and returns are divided by this
	float reward_offset_us = 1.0f; // reward = packet_length / (delay_us + offset); 0: the objective's (sim/objective.hpp)
	float gamma = 0.95f;           // discount used in training (informative)
	std::vector<uint32_t> kernels;          // per feature: 1 (scalar) or an odd Conv1d kernel
	std::vector<std::string> feature_names; // per feature, as in the pools

	uint32_t head_dim() const { return d_model / heads; }
	// Tokens per step: R, the state token(s), a.
	uint32_t state_tokens() const { return state_layout == StateLayout::per_feature ? feature_count : 1; }
	uint32_t tokens_per_step() const { return state_tokens() + 2; }
};

enum class DType : uint32_t { f32 = 0, i8 = 1 };

// A weight tensor. f32: `values`. i8 (2-D weight matrices only): `q` with one
// symmetric scale per output row, value = q * scale[row].
struct Tensor {
	std::string name;
	DType dtype = DType::f32;
	std::vector<uint32_t> shape;
	std::vector<float> values;
	std::vector<int8_t> q;
	std::vector<float> scales;

	uint64_t elements() const
	{
		uint64_t n = 1;
		for (uint32_t s : shape)
			n *= s;
		return n;
	}
};

struct Model {
	ModelConfig config;
	std::vector<Tensor> tensors;

	const Tensor *find(const std::string &name) const;
	Tensor *find(const std::string &name);
	uint64_t parameter_count() const;
};

// The tensors the architecture needs, with their shapes, in file order.
std::vector<std::pair<std::string, std::vector<uint32_t>>> expected_tensors(const ModelConfig &c);

// Checks the hyper-parameters for sense and limits. Error text or empty.
[[nodiscard]] std::string check_config(const ModelConfig &c);
// Checks that the tensors are exactly the architecture's, with its shapes,
// and that i8 ones are 2-D weights with a scale per row. Error text or empty.
[[nodiscard]] std::string check_tensors(const Model &m);

// A model of config c with weights drawn from a fixed-seed generator
// (Xavier-uniform scale; LayerNorm gains 1, biases 0); normalisation mean 0,
// std 1. For tests, benchmarks and a first run of the plumbing.
Model random_model(const ModelConfig &c, uint64_t seed);

// Where each of the model's features sits in the sampled state
// (experience::state_features, the pools' order): index[f] for model feature f.
// Error text naming a model feature the sampler does not provide, or a model
// whose actions are not the 3 verdicts; empty otherwise.
[[nodiscard]] std::string state_feature_index(const ModelConfig &c, std::vector<int> &index);
// The same against any table of feature names (a pool's, the tuner's),
// with no check of the actions; `whose` names the table in the error.
[[nodiscard]] std::string feature_index(const ModelConfig &c, std::span<const char *const> names, std::vector<int> &index,
					std::string_view whose = "state's");

// Quantises every 2-D weight matrix except the embeddings to int8 with one
// scale per output row (the small-student path).
void quantize_int8(Model &m);

} // namespace dualpilot::policy
