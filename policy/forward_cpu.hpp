// The `cpu` backend: the model of policy/model.hpp evaluated in plain C++,
// fp32 activations, weights fp32 or int8 (one scale per output row). No
// libtorch at run time.
//
// A batch is several queues' context windows at once: the tokens of every
// window are stacked into one matrix, so each weight matrix is read once per
// batch for all of them, and only attention runs window by window. Only the
// last state token of each window needs an output, so the last layer
// computes attention queries, the MLP and the head for that token alone.
// Scratch space grows to the largest batch seen and is then reused: a
// forward allocates nothing once warm.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <vector>

#include "policy/model.hpp"

namespace dualpilot::policy {

// One queue's context: its last `steps` decisions, oldest first (positions
// 0 .. steps-1 of the time embedding). The action of the last step is not
// known yet and is not read. With `tokens` (see CpuForward::embed_step) the
// steps come already embedded and returns/states/actions are not read.
struct Window {
	uint32_t steps = 0;
	const float *returns = nullptr;  // [steps] return-to-go, unscaled
	const float *states = nullptr;   // [steps][feature_count], raw feature values
	const uint8_t *actions = nullptr;// [steps] 0 enqueue, 1 drop, 2 mark
	const float *tokens = nullptr;   // [steps][tokens_per_step][d_model], or null
};

struct Probs {
	std::array<float, kActionCount> p{}; // softmax of the head's logits
};

class CpuForward {
public:
	// m must have passed check_config and check_tensors (read_model does both).
	explicit CpuForward(const Model &m);

	const ModelConfig &config() const { return cfg_; }
	// Action distributions for n windows (1 <= steps <= window each).
	void forward(const Window *windows, size_t n, Probs *out);

	// A step's tokens before the time embedding (R, the state token(s), a),
	// tokens_per_step * d_model floats. They depend on that step alone when
	// every feature's kernel is 1, so a queue's context can embed each step
	// once, when it arrives, instead of at every decision: embeds_steps()
	// says whether that is exact for this model.
	bool embeds_steps() const;
	void embed_step(float rtg, const float *state, uint8_t action, float *out);

private:
	struct Linear {
		uint32_t out = 0, in = 0;
		const float *w = nullptr;     // [in][out] fp32 (transposed), or
		const int8_t *q = nullptr;    // [in][out] int8 with
		const float *scale = nullptr; // [out] scales
		const float *b = nullptr;     // [out]
	};
	struct Block {
		const float *ln1_g, *ln1_b, *ln2_g, *ln2_b;
		Linear qkv, proj, fc, fc_proj;
	};
	Linear linear(const std::string &w, const std::string &b);
	const float *vec(const std::string &name) const;
	static void apply(const Linear &l, const float *x, size_t rows, size_t x_stride, float *y, size_t y_stride);
	static void apply_range(const Linear &l, const float *x, size_t rows, size_t x_stride, float *y, size_t y_stride,
				uint32_t o0, uint32_t o1);
	void embed_at(const Window &w, uint32_t t, float *out);

	Model model_; // owns the weights the pointers below point into
	std::deque<std::vector<float>> transposed_f32_; // the weight matrices, [in][out]
	std::deque<std::vector<int8_t>> transposed_i8_;
	ModelConfig cfg_;
	const float *mean_, *std_;
	std::vector<Linear> enc_;
	Linear enc_proj_, rtg_, head_;
	std::vector<Linear> enc_fproj_; // per_feature layout: each feature's Linear(e -> d)
	const float *act_emb_, *time_emb_, *ln_in_g_, *ln_in_b_, *ln_f_g_, *ln_f_b_;
	std::vector<Block> blocks_;

	// Scratch the model sizes (set up once) and scratch the batch sizes (grown
	// to the largest batch seen).
	std::vector<float> kernel_in_, enc_cat_, score_, head_in_, step_tok_;
	std::vector<float> x_, h_, qkv_, att_, mlp_, state_emb_;
	std::vector<uint32_t> seg_start_;
};

} // namespace dualpilot::policy
