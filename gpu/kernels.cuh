// The engine's own kernels, one per stage of the forward pass, over buffers
// the engine allocated once (gpu/engine.cu). Shapes are written next to each
// launcher: B rows (the bucket), w steps, T = w * tokens_per_step tokens per
// row, N = B * T tokens, d the model width. The matrix products between them
// are cuBLAS's (gpu/gemm.hpp).
//
// T_act is the type of an activation that a matrix product reads (float, or
// __nv_bfloat16 in the bf16 engine); everything else is fp32: the residual
// stream, the products' outputs, the statistics of every LayerNorm and
// softmax.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "gpu/pass_layout.hpp"
#include "policy/model.hpp"

namespace dualpilot::gpu {

// One warp holds a head's query and output, kMaxHeadDim / 32 values a lane.
inline constexpr uint32_t kMaxHeadDim = 256;

// The model's and the bucket's sizes, passed to every kernel by value.
struct Dims {
	uint32_t bucket = 0;     // B
	uint32_t window = 0;     // w
	uint32_t features = 0;   // F
	uint32_t feature_embed = 0;
	uint32_t d_model = 0;
	uint32_t heads = 0;
	uint32_t head_dim = 0;
	uint32_t mlp_hidden = 0;
	uint32_t actions = 0;      // K: the head's outputs
	uint32_t tokens_per_step = 0;
	uint32_t state_tokens = 0; // S: 1 (concat) or F (per_feature)
	uint32_t queues = 0;       // the ring's real queues; queue `queues` is all zeros
	bool ring_position = false;
	bool head_residual = false;
	float rtg_scale = 1.0f;
	uint32_t kernel[policy::kMaxFeatures] = {};     // feature f's Conv1d taps (1: scalar)
	uint32_t enc_offset[policy::kMaxFeatures] = {}; // where feature f's [e][k] weights start

	__host__ __device__ uint32_t row_tokens() const { return window * tokens_per_step; }
	__host__ __device__ uint32_t tokens() const { return bucket * row_tokens(); }
};

// The embedding stage's weights (device pointers, fp32).
struct EmbedWeights {
	const float *mean, *std;     // [F] feature normalisation
	const float *enc_w, *enc_b;  // packed [F][e][k_f], [F][e]
	const float *state_b;        // the state projection's bias, [S][d]
	const float *rtg_w, *rtg_b;  // [d], [d]
	const float *act_emb;        // [K][d]
	const float *time_emb;       // [w][d]
	const float *ln_in_g, *ln_in_b;
	const float *ln1_g, *ln1_b;  // the first block's ln1 (null without blocks)
};

struct HeadWeights {
	const float *ln_f_g, *ln_f_b; // [d]
	const float *w, *b;           // [K][d], [K]
	const float *state_b;         // [S][d] (head_residual)
};

// The pass's fresh steps into their queues' rings ([queues + 1][w][2 + F]).
void scatter_steps(const std::byte *pass, float *ring, const Dims &dm, cudaStream_t s);

// Every step's per-feature encodings, LeakyReLU'd: enc [B*w][F*e].
template <class T_act>
void encode_steps(const std::byte *pass, const float *ring, const EmbedWeights &ew, const Dims &dm, T_act *enc,
		  cudaStream_t s);

// The tokens (R, state token(s) from state_tok [S][B*w][d] plus bias, a),
// plus the time embedding, through ln_in into x [N][d], and through the
// first block's ln1 into h [N][d].
template <class T_act>
void assemble_tokens(const std::byte *pass, const float *ring, const float *state_tok, const EmbedWeights &ew,
		     const Dims &dm, float *x, T_act *h, cudaStream_t s);

// Per row r of `rows`: x[r] += y[r] + y_bias (y null: x unchanged); then,
// with g, h[r] = LayerNorm(x[r]) * g + b. Rows of d floats.
template <class T_act>
void residual_layer_norm(float *x, const float *y, const float *y_bias, const float *g, const float *b, T_act *h,
			 uint32_t rows, uint32_t d, cudaStream_t s);

// Causal self-attention of every token over the earlier tokens of its row:
// qkv [N][3d] (without bias) -> att [N][d].
template <class T_act>
void attention_all(const float *qkv, const float *qkv_bias, const Dims &dm, T_act *att, cudaStream_t s);

// The same for each row's query token alone: att_sel [B][d]; and that
// token's residual x [N][d] gathered into x_sel [B][d].
template <class T_act>
void attention_query(const std::byte *pass, const float *qkv, const float *qkv_bias, const float *x, const Dims &dm,
		     T_act *att_sel, float *x_sel, cudaStream_t s);

// x_sel [B][d] = each row's query token of x [N][d] (a model without blocks).
void gather_query(const std::byte *pass, const float *x, const Dims &dm, float *x_sel, cudaStream_t s);

// g[r][j] = GELU(m[r][j] + b[j]), the exact (erf) GELU; rows of `width`.
template <class T_act>
void bias_gelu(const float *m, const float *b, uint32_t rows, uint32_t width, T_act *g, cudaStream_t s);

// Per row: x_sel += y + y_bias (the last block's MLP residual, in place; y
// null: none), ln_f, plus the state token before the time embedding with
// head_residual (x_sel then holds the head's input), the head's K logits and
// their softmax: probs [B][K].
void action_head(const std::byte *pass, float *x_sel, const float *y, const float *y_bias,
		 const float *state_tok, const HeadWeights &hw, const Dims &dm, float *probs, cudaStream_t s);

} // namespace dualpilot::gpu
