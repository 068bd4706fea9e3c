// The action head: the last block's MLP residual, ln_f, the head's K
// logits and their softmax, for each row's query token (one warp a row).
#include <cmath>

#include "gpu/kernels.cuh"
#include "gpu/warp.cuh"

namespace dualpilot::gpu {

namespace {

// Up to this many actions each logit is summed across the warp; past it
// each lane computes the logits of actions lane, lane + 32, ...: at most
// kLogitsPerLane, in registers (the loops over them are unrolled).
inline constexpr uint32_t kWarpSplitActions = 4;
inline constexpr uint32_t kLogitsPerLane = policy::kMaxActions / 32;
static_assert(policy::kMaxActions % 32 == 0);

// One row's head input, element j: ln_f of the row, plus (head_residual)
// the query token (the newest step's last state token) before the time
// embedding, as the state projection gave it.
struct HeadInput {
	const float *xr, *emb, *emb_b;
	RowStats st;
	__device__ float operator()(const HeadWeights &hw, const Dims &dm, uint32_t j) const
	{
		float v = (xr[j] - st.mean) * st.inv * hw.ln_f_g[j] + hw.ln_f_b[j];
		if (dm.head_residual)
			v += emb[j] + emb_b[j];
		return v;
	}
};

// Few actions (the verdicts): each logit's dot product split over the
// warp's lanes and summed across it, the order of sums closest to the cpu
// backend's.
__device__ void head_few(const HeadInput &in, const HeadWeights &hw, const Dims &dm, uint32_t lane, float *out)
{
	const uint32_t d = dm.d_model, K = dm.actions;
	float logit[kWarpSplitActions] = {};
	for (uint32_t j = lane; j < d; j += 32) {
		const float v = in(hw, dm, j);
#pragma unroll
		for (uint32_t a = 0; a < kWarpSplitActions; a++)
			if (a < K)
				logit[a] += hw.w[a * d + j] * v;
	}
	float mx = -INFINITY;
#pragma unroll
	for (uint32_t a = 0; a < kWarpSplitActions; a++)
		if (a < K) {
			logit[a] = warp_sum(logit[a]) + hw.b[a];
			mx = fmaxf(mx, logit[a]);
		}
	float sum = 0;
#pragma unroll
	for (uint32_t a = 0; a < kWarpSplitActions; a++)
		if (a < K)
			sum += (logit[a] = expf(logit[a] - mx));
	if (lane == 0)
		for (uint32_t a = 0; a < K; a++)
			out[a] = logit[a] / sum;
}

// Many actions (a tuner's settings): the head's input written in place of
// the row, each lane its own elements; then every lane reads the whole row
// (__syncwarp orders the lanes' writes before those reads) and computes the
// logits of actions lane, lane + 32, ...
__device__ void head_many(const HeadInput &in, float *xr, const HeadWeights &hw, const Dims &dm, uint32_t lane,
			  float *out)
{
	const uint32_t d = dm.d_model, K = dm.actions;
	for (uint32_t j = lane; j < d; j += 32)
		xr[j] = in(hw, dm, j);
	__syncwarp();
	float logit[kLogitsPerLane];
	float mx = -INFINITY;
#pragma unroll
	for (uint32_t i = 0; i < kLogitsPerLane; i++) {
		const uint32_t a = lane + 32 * i;
		logit[i] = -INFINITY;
		if (a >= K)
			continue;
		const float *wa = hw.w + size_t{a} * d;
		float sum = hw.b[a];
		for (uint32_t j = 0; j < d; j++)
			sum += wa[j] * xr[j];
		logit[i] = sum;
		mx = fmaxf(mx, sum);
	}
	mx = warp_max(mx);
	float sum = 0;
#pragma unroll
	for (uint32_t i = 0; i < kLogitsPerLane; i++)
		if (lane + 32 * i < K)
			sum += (logit[i] = expf(logit[i] - mx));
	sum = warp_sum(sum);
#pragma unroll
	for (uint32_t i = 0; i < kLogitsPerLane; i++)
		if (lane + 32 * i < K)
			out[lane + 32 * i] = logit[i] / sum;
}

__global__ void head_kernel(const std::byte *pass, float *x_sel, const float *y, const float *y_bias,
			    const float *state_tok, HeadWeights hw, Dims dm, float *probs)
{
	const uint32_t lane = threadIdx.x % 32;
	const uint32_t b = blockIdx.x * kWarpsPerBlock + threadIdx.x / 32;
	if (b >= dm.bucket) // the whole warp: a warp is one row
		return;
	const uint32_t d = dm.d_model, W = dm.window, S = dm.state_tokens;
	float *xr = x_sel + size_t{b} * d;
	if (y)
		for (uint32_t j = lane; j < d; j += 32)
			xr[j] += y[size_t{b} * d + j] + y_bias[j];
	const RowView r = pass_row(pass, b, dm.queues, W);
	const HeadInput in{xr, state_tok + ((size_t{S - 1} * dm.bucket + b) * W + (r.steps - 1)) * d,
			   hw.state_b + size_t{S - 1} * d, row_stats(xr, d, lane)};
	if (dm.actions <= kWarpSplitActions)
		head_few(in, hw, dm, lane, probs + size_t{b} * dm.actions);
	else
		head_many(in, xr, hw, dm, lane, probs + size_t{b} * dm.actions);
}

} // namespace

void action_head(const std::byte *pass, float *x_sel, const float *y, const float *y_bias,
		 const float *state_tok, const HeadWeights &hw, const Dims &dm, float *probs, cudaStream_t s)
{
	head_kernel<<<blocks_for(dm.bucket, kWarpsPerBlock), kWarpsPerBlock * 32, 0, s>>>(
		pass, x_sel, y, y_bias, state_tok, hw, dm, probs);
}

} // namespace dualpilot::gpu
