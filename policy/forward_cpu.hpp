// The `cpu` backend: the model of policy/model.hpp evaluated in plain C++,
// fp32 activations, weights fp32 or int8 (one scale per output row). No
// libtorch at run time.
//
// A batch is several queues' context windows at once: the tokens of every
// window are stacked into one matrix, so each weight matrix is read once per
// batch for all of them, and only attention runs window by window. Only the
// last state token of each window needs an output, so the last layer
// computes attention queries, the MLP and the head for that token alone.
//
// Work done once per step instead of at every decision that sees it (the
// queue's cache, kept by its context; cache_step fills in a step's share
// when the step arrives, in the step's ring slot):
//  - every model whose encoders are all scalar: the step's tokens;
//  - a one-block model with the ring-position time embedding: each token's
//    attention key and value, which then depend on nothing else, so a
//    decision costs one query row (attention over the cached keys, the
//    block's projection and MLP, the head) whatever the window.
// Scratch space grows to the largest batch seen and is then reused: a
// forward allocates nothing once warm.
//
// This file is the model; the arithmetic (matrix products, attention,
// LayerNorm, GELU) is in policy/cpu_kernels.hpp.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "policy/model.hpp"
#include "policy/window.hpp"

namespace dualpilot::policy {

// How the CUDA engine's matrix products (gpu/gemm.hpp) may see an fp32
// value: TF32 keeps 10 of its 23 mantissa bits, bf16 7, rounded to nearest
// (TF32: ties away from zero, as cvt.rna; bf16: ties to even, as
// __float2bfloat16) or truncated. Never the cpu backend's arithmetic: the
// tests replay the forward with it (CpuForward::forward_rounded) to bound how
// far the engine may be from the cpu backend.
enum class GemmRounding : uint8_t { none, tf32_nearest, tf32_truncate, bf16_nearest, bf16_truncate };
float gemm_round(float v, GemmRounding r);
// The weights of the products the engine runs as GEMMs (the state
// projection(s), each block's qkv, attn.proj, mlp.fc, mlp.proj), int8 ones
// dequantised as the engine uploads them, rounded by r.
void round_gemm_weights(Model &m, GemmRounding r);

class CpuForward {
public:
	// m must have passed check_config and check_tensors (read_model does both).
	explicit CpuForward(const Model &m);

	const ModelConfig &config() const { return cfg_; }
	// Action distributions for n windows (1 <= steps <= window each).
	void forward(const Window *windows, size_t n, Probs *out);
	// The same with every input of a product the engine runs as a GEMM
	// (round_gemm_weights) rounded by r: what the engine computes, up to the
	// order of its sums. Windows without caches; for tests.
	void forward_rounded(const Window *windows, size_t n, Probs *out, GemmRounding r);

	// A step's tokens before the time embedding (R, the state token(s), a),
	// tokens_per_step * d_model floats. They depend on that step alone when
	// every feature's kernel is 1: embeds_steps() says whether that is so.
	bool embeds_steps() const;
	void embed_step(float rtg, const float *state, uint8_t action, float *out);
	// One block, scalar encoders, ring-position time: keys and values cached.
	bool caches_keys() const;
	// Floats of a queue's cache (0: the model caches nothing, windows carry
	// returns/states/actions), and a step arriving in ring slot `slot`
	// written into it.
	uint32_t cache_floats() const;
	void cache_step(float rtg, const float *state, uint8_t action, uint32_t slot, float *cache);

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
	// kRound: forward_rounded's instantiations, which round the products'
	// inputs by rounding_ (the production ones compile without it).
	template <bool kRound>
	void forward_full(const Window *windows, size_t n, Probs *out);
	size_t lay_out_tokens(const Window *windows, size_t n);
	template <bool kRound>
	void embed_windows(const Window *windows, size_t n);
	template <bool kRound>
	void transformer_block(const Block &b, size_t n, size_t tokens, bool last_only);
	template <bool kRound>
	void block_tail(const Block &b, uint32_t r0, uint32_t r1);
	template <bool kRound>
	void round_inputs(float *x, size_t count) const;
	Linear linear(const std::string &w, const std::string &b);
	const float *vec(const std::string &name) const;
	static void apply(const Linear &l, const float *x, size_t rows, size_t x_stride, float *y, size_t y_stride);
	static void apply_range(const Linear &l, const float *x, size_t rows, size_t x_stride, float *y, size_t y_stride,
				uint32_t o0, uint32_t o1);
	template <bool kRound>
	void embed_at(const Window &w, uint32_t t, float *out);
	// Ring slot of step t of w, and its time-embedding position.
	uint32_t slot(const Window &w, uint32_t t) const { return (w.first_slot + t) % cfg_.window; }
	uint32_t position(const Window &w, uint32_t t) const;
	uint32_t padded_keys() const { return (cfg_.window * cfg_.tokens_per_step() + 7) / 8 * 8; }
	// Where a key cache's parts start (cache_floats describes the layout);
	// K starts at 0.
	struct KeyCacheLayout {
		size_t v, x, e, q, end;
	};
	KeyCacheLayout key_cache_layout() const;
	// A token (before the time embedding) with the time embedding pos added,
	// through ln_in (x) and the first block's ln1 (h).
	void enter_block(const float *token, const float *pos, float *x, float *h);
	void forward_cached_keys(const Window *windows, size_t n, Probs *out);
	void head(const float *x, const float *state_emb, Probs &out);
	void size_rows(size_t rows, size_t windows);

	Model model_; // owns the weights the pointers below point into
	std::deque<std::vector<float>> transposed_f32_; // the weight matrices, [in][out]
	std::deque<std::vector<int8_t>> transposed_i8_;
	ModelConfig cfg_;
	GemmRounding rounding_ = GemmRounding::none; // forward_rounded's
	const float *mean_, *std_;
	std::vector<Linear> enc_;
	Linear enc_proj_, rtg_, head_;
	std::vector<Linear> enc_fproj_; // per_feature layout: each feature's Linear(e -> d)
	const float *act_emb_, *time_emb_, *ln_in_g_, *ln_in_b_, *ln_f_g_, *ln_f_b_;
	std::vector<Block> blocks_;

	// Scratch the model sizes (set up once) and scratch the batch sizes (grown
	// to the largest batch seen).
	std::vector<float> kernel_in_, enc_cat_, score_, head_in_, step_tok_, step_x_, step_h_, step_qkv_;
	std::vector<float> key_ok_; // 1 for the keys in the window being attended, else 0
	std::vector<float> action_kv_; // caches_keys: [action][slot][key d, value d] of action tokens
	std::vector<float> x_, h_, qkv_, att_, mlp_, state_emb_;
	std::vector<uint32_t> seg_start_;
};

} // namespace dualpilot::policy
