// The cpu backend's kernels (policy/forward_cpu.cpp calls them in the model's
// order): fp32 over plain row-major buffers the caller owns, no allocation.
// matmul, gelu and cached_attention are compiled for AVX2 as well as the
// baseline and picked at load time (the baseline alone under ThreadSanitizer:
// policy/cpu_kernels.cpp says why); the others stay baseline so that their
// sums are the same on every machine. Every row is computed alone, in the
// same order whatever the batch, so a queue's decision does not depend on the
// batch it is in.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dualpilot::policy::kernels {

// y = (x - mean) / sqrt(var + kLnEps) * g + b over one row of d floats
// (torch.nn.LayerNorm); y may be x.
void layer_norm(const float *x, const float *g, const float *b, uint32_t d, float *y);

// x = x >= 0 ? x : x * kLeakySlope, in place (torch.nn.LeakyReLU).
void leaky_relu(float *x, size_t count);

// x = GELU(x), in place (torch.nn.GELU(), the erf form): erf by Abramowitz
// and Stegun 7.1.26 (absolute error under 1.5e-7) eight at a time.
void gelu(float *x, size_t count);

// x += y over count floats: a residual connection.
void residual_add(float *x, const float *y, size_t count);

// p = softmax(logits) over n values; p may be logits (in place).
void softmax(const float *logits, uint32_t n, float *p);

// y[r][o] = b[o] + sum_i W[o][i] x[r][i] for rows r < rows and outputs
// o0 <= o < o1 (the keys and values without the queries, say); strides in
// floats. W is stored transposed, [in][out]: fp32 `wt`, or int8 `qt` with
// one scale per output (wt null).
void matmul(const float *wt, const int8_t *qt, const float *scale, const float *bias, uint32_t out, uint32_t in,
	    const float *x, size_t rows, size_t x_stride, float *y, size_t y_stride, uint32_t o0, uint32_t o1);

// Causal multi-head self-attention over one window's `tokens` rows of qkv
// ([tokens][3 d]: query, key, value; d = heads * hd): att[q] ([tokens][d])
// for the queries first_query <= q < tokens, each over the keys 0..q, scaled
// by 1/sqrt(hd). score holds tokens floats.
void causal_attention(const float *qkv, uint32_t tokens, uint32_t first_query, uint32_t heads, uint32_t hd,
		      float *score, float *att);

// One query's attention over a queue's cached keys (K [d][L], V [L][d], as
// CpuForward::cache_floats lays them out; L a multiple of 8 after padding),
// key_ok[L] 1 or 0 for the keys in its window: scores as multiply-adds across
// the keys, softmax, values into out[d]. score holds L floats.
void cached_attention(const float *q, const float *cache, const float *key_ok, uint32_t heads, uint32_t hd, uint32_t L,
		      float *score, float *out);

} // namespace dualpilot::policy::kernels
