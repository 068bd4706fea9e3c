// The action head: the last block's MLP residual, ln_f, the head's three
// logits and their softmax, for each row's query token (one warp a row).
#include <cmath>

#include "gpu/kernels.cuh"
#include "gpu/warp.cuh"

namespace dualpilot::gpu {

namespace {

__global__ void head_kernel(const std::byte *pass, float *x_sel, const float *y, const float *y_bias,
			    const float *state_tok, HeadWeights hw, Dims dm, float *probs)
{
	const uint32_t lane = threadIdx.x % 32;
	const uint32_t b = blockIdx.x * kWarpsPerBlock + threadIdx.x / 32;
	if (b >= dm.bucket)
		return;
	const uint32_t d = dm.d_model, W = dm.window, S = dm.state_tokens;
	float *xr = x_sel + size_t{b} * d;
	if (y)
		for (uint32_t j = lane; j < d; j += 32)
			xr[j] += y[size_t{b} * d + j] + y_bias[j];
	const RowStats st = row_stats(xr, d, lane);
	// head_residual: the query token (the newest step's last state token)
	// before the time embedding, as the state projection gave it.
	const RowView r = pass_row(pass, b, dm.queues, W);
	const float *emb = state_tok + ((size_t{S - 1} * dm.bucket + b) * W + (r.steps - 1)) * d;
	const float *emb_b = hw.state_b + size_t{S - 1} * d;
	float logit[policy::kActionCount] = {};
	for (uint32_t j = lane; j < d; j += 32) {
		float v = (xr[j] - st.mean) * st.inv * hw.ln_f_g[j] + hw.ln_f_b[j];
		if (dm.head_residual)
			v += emb[j] + emb_b[j];
		for (uint32_t a = 0; a < policy::kActionCount; a++)
			logit[a] += hw.w[a * d + j] * v;
	}
	float mx = -INFINITY;
	for (uint32_t a = 0; a < policy::kActionCount; a++) {
		logit[a] = warp_sum(logit[a]) + hw.b[a];
		mx = fmaxf(mx, logit[a]);
	}
	float sum = 0;
	for (uint32_t a = 0; a < policy::kActionCount; a++)
		sum += (logit[a] = expf(logit[a] - mx));
	if (lane == 0)
		for (uint32_t a = 0; a < policy::kActionCount; a++)
			probs[size_t{b} * policy::kActionCount + a] = logit[a] / sum;
}

} // namespace

void action_head(const std::byte *pass, float *x_sel, const float *y, const float *y_bias,
		 const float *state_tok, const HeadWeights &hw, const Dims &dm, float *probs, cudaStream_t s)
{
	head_kernel<<<blocks_for(dm.bucket, kWarpsPerBlock), kWarpsPerBlock * 32, 0, s>>>(
		pass, x_sel, y, y_bias, state_tok, hw, dm, probs);
}

} // namespace dualpilot::gpu
