// A transformer block's own kernels (GPT-2 pre-LN: ln1, causal attention,
// projection and residual, ln2, GELU MLP and residual); its four matrix
// products are cuBLAS's, without bias: each bias is added by the kernel that
// reads the product.
#include <cmath>

#include "gpu/kernels.cuh"
#include "gpu/warp.cuh"

namespace dualpilot::gpu {

namespace {

constexpr unsigned kThreads = 256;
constexpr uint32_t kPerLane = kMaxHeadDim / 32;

// One warp per row.
template <class T_act>
__global__ void residual_ln_kernel(float *x, const float *y, const float *y_bias, const float *g, const float *b,
				   T_act *h, uint32_t rows, uint32_t d)
{
	const uint32_t lane = threadIdx.x % 32;
	const size_t row = size_t{blockIdx.x} * kWarpsPerBlock + threadIdx.x / 32;
	if (row >= rows)
		return;
	float *xr = x + row * d;
	if (y)
		for (uint32_t j = lane; j < d; j += 32)
			xr[j] += y[row * d + j] + y_bias[j];
	if (!g)
		return;
	const RowStats st = row_stats(xr, d, lane);
	for (uint32_t j = lane; j < d; j += 32)
		h[row * d + j] = to_act<T_act>((xr[j] - st.mean) * st.inv * g[j] + b[j]);
}

// Head `head` of token q attending over tokens first..q of its row, one
// warp: each lane holds the query and output dimensions lane, lane + 32, ...
// (a compile-time count, so they stay in registers); the scores go through
// an online softmax (running maximum and sum), one key at a time.
template <class T_act>
__device__ void attend(const float *qkv, const float *bias, uint32_t d, uint32_t hd, uint32_t head, size_t q,
		       size_t first, T_act *out, uint32_t lane)
{
	const size_t stride = size_t{3} * d;
	const uint32_t off = head * hd;
	const float scale = 1.0f / sqrtf(static_cast<float>(hd));
	float qv[kPerLane], acc[kPerLane], kb[kPerLane], vb[kPerLane];
#pragma unroll
	for (uint32_t i = 0; i < kPerLane; i++) {
		const uint32_t j = lane + 32 * i;
		const bool on = j < hd;
		qv[i] = on ? qkv[q * stride + off + j] + bias[off + j] : 0.0f;
		kb[i] = on ? bias[d + off + j] : 0.0f;
		vb[i] = on ? bias[2 * d + off + j] : 0.0f;
		acc[i] = 0.0f;
	}
	float run_max = -INFINITY, run_sum = 0.0f;
	for (size_t k = first; k <= q; k++) {
		const float *kr = qkv + k * stride + d + off;
		float dot = 0.0f;
#pragma unroll
		for (uint32_t i = 0; i < kPerLane; i++) {
			const uint32_t j = lane + 32 * i;
			if (j < hd)
				dot += qv[i] * (kr[j] + kb[i]);
		}
		const float score = warp_sum(dot) * scale;
		const float new_max = fmaxf(run_max, score);
		const float rescale = expf(run_max - new_max); // 0 at the first key
		const float p = expf(score - new_max);
		run_sum = run_sum * rescale + p;
		const float *vr = qkv + k * stride + 2 * d + off;
#pragma unroll
		for (uint32_t i = 0; i < kPerLane; i++) {
			const uint32_t j = lane + 32 * i;
			if (j < hd)
				acc[i] = acc[i] * rescale + p * (vr[j] + vb[i]);
		}
		run_max = new_max;
	}
#pragma unroll
	for (uint32_t i = 0; i < kPerLane; i++) {
		const uint32_t j = lane + 32 * i;
		if (j < hd)
			out[off + j] = to_act<T_act>(acc[i] / run_sum);
	}
}

// One warp per (token, head).
template <class T_act>
__global__ void attention_all_kernel(const float *qkv, const float *bias, Dims dm, T_act *att)
{
	const uint32_t lane = threadIdx.x % 32;
	const size_t item = size_t{blockIdx.x} * kWarpsPerBlock + threadIdx.x / 32;
	if (item >= size_t{dm.tokens()} * dm.heads)
		return;
	const size_t q = item / dm.heads;
	const uint32_t head = item % dm.heads;
	const size_t first = q / dm.row_tokens() * dm.row_tokens();
	attend(qkv, bias, dm.d_model, dm.head_dim, head, q, first, att + q * dm.d_model, lane);
}

// One warp per (row, head); the head-0 warp also gathers the residual.
template <class T_act>
__global__ void attention_query_kernel(const std::byte *pass, const float *qkv, const float *bias, const float *x,
				       Dims dm, T_act *att_sel, float *x_sel)
{
	const uint32_t lane = threadIdx.x % 32;
	const size_t item = size_t{blockIdx.x} * kWarpsPerBlock + threadIdx.x / 32;
	if (item >= size_t{dm.bucket} * dm.heads)
		return;
	const uint32_t b = static_cast<uint32_t>(item / dm.heads), head = item % dm.heads, d = dm.d_model;
	const RowView r = pass_row(pass, b, dm.queues, dm.window);
	const size_t first = size_t{b} * dm.row_tokens();
	const size_t q = first + query_token(r, dm.tokens_per_step, dm.state_tokens);
	attend(qkv, bias, d, dm.head_dim, head, q, first, att_sel + size_t{b} * d, lane);
	if (head == 0)
		for (uint32_t j = lane; j < d; j += 32)
			x_sel[size_t{b} * d + j] = x[q * d + j];
}

// One warp per row.
__global__ void gather_query_kernel(const std::byte *pass, const float *x, Dims dm, float *x_sel)
{
	const uint32_t lane = threadIdx.x % 32;
	const uint32_t b = blockIdx.x * kWarpsPerBlock + threadIdx.x / 32;
	if (b >= dm.bucket)
		return;
	const RowView r = pass_row(pass, b, dm.queues, dm.window);
	const size_t q = size_t{b} * dm.row_tokens() + query_token(r, dm.tokens_per_step, dm.state_tokens);
	for (uint32_t j = lane; j < dm.d_model; j += 32)
		x_sel[size_t{b} * dm.d_model + j] = x[q * dm.d_model + j];
}

template <class T_act>
__global__ void bias_gelu_kernel(const float *m, const float *b, size_t count, uint32_t width, T_act *g)
{
	const size_t i = size_t{blockIdx.x} * blockDim.x + threadIdx.x;
	if (i >= count)
		return;
	const float v = m[i] + b[i % width];
	g[i] = to_act<T_act>(0.5f * v * (1.0f + erff(v * 0.70710678118654752f)));
}

} // namespace

template <class T_act>
void residual_layer_norm(float *x, const float *y, const float *y_bias, const float *g, const float *b, T_act *h,
			 uint32_t rows, uint32_t d, cudaStream_t s)
{
	residual_ln_kernel<T_act><<<blocks_for(rows, kWarpsPerBlock), kWarpsPerBlock * 32, 0, s>>>(x, y, y_bias, g, b, h,
												     rows, d);
}

template <class T_act>
void attention_all(const float *qkv, const float *qkv_bias, const Dims &dm, T_act *att, cudaStream_t s)
{
	const size_t items = size_t{dm.tokens()} * dm.heads;
	attention_all_kernel<T_act><<<blocks_for(items, kWarpsPerBlock), kWarpsPerBlock * 32, 0, s>>>(qkv, qkv_bias, dm,
												       att);
}

template <class T_act>
void attention_query(const std::byte *pass, const float *qkv, const float *qkv_bias, const float *x, const Dims &dm,
		     T_act *att_sel, float *x_sel, cudaStream_t s)
{
	const size_t items = size_t{dm.bucket} * dm.heads;
	attention_query_kernel<T_act><<<blocks_for(items, kWarpsPerBlock), kWarpsPerBlock * 32, 0, s>>>(
		pass, qkv, qkv_bias, x, dm, att_sel, x_sel);
}

void gather_query(const std::byte *pass, const float *x, const Dims &dm, float *x_sel, cudaStream_t s)
{
	gather_query_kernel<<<blocks_for(dm.bucket, kWarpsPerBlock), kWarpsPerBlock * 32, 0, s>>>(pass, x, dm, x_sel);
}

template <class T_act>
void bias_gelu(const float *m, const float *b, uint32_t rows, uint32_t width, T_act *g, cudaStream_t s)
{
	const size_t count = size_t{rows} * width;
	bias_gelu_kernel<T_act><<<blocks_for(count, kThreads), kThreads, 0, s>>>(m, b, count, width, g);
}

#define DP_INSTANTIATE(T)                                                                                           \
	template void residual_layer_norm<T>(float *, const float *, const float *, const float *, const float *, T *, \
					     uint32_t, uint32_t, cudaStream_t);                                     \
	template void attention_all<T>(const float *, const float *, const Dims &, T *, cudaStream_t);                 \
	template void attention_query<T>(const std::byte *, const float *, const float *, const float *, const Dims &, \
					 T *, float *, cudaStream_t);                                                  \
	template void bias_gelu<T>(const float *, const float *, uint32_t, uint32_t, T *, cudaStream_t);
DP_INSTANTIATE(float)
DP_INSTANTIATE(__nv_bfloat16)
#undef DP_INSTANTIATE

} // namespace dualpilot::gpu
