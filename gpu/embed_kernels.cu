// The embedding stage: fresh steps into the rings, each step's feature
// encodings, the tokens through ln_in (policy/model.hpp gives the model).
#include "gpu/kernels.cuh"
#include "gpu/warp.cuh"

namespace dualpilot::gpu {

namespace {

constexpr unsigned kThreads = 256;

__global__ void scatter_kernel(const std::byte *pass, float *ring, Dims dm)
{
	const PassShape shape{dm.bucket, dm.window, dm.features, dm.actions};
	const uint32_t rf = shape.ring_floats();
	const size_t idx = size_t{blockIdx.x} * blockDim.x + threadIdx.x;
	const size_t rec = idx / rf, word = idx % rf;
	const PassHeader &h = pass_header(pass);
	if (h.fresh_steps < 0 || rec >= static_cast<size_t>(h.fresh_steps) || rec >= size_t{dm.bucket} * dm.window)
		return;
	const std::byte *r = pass + shape.records_offset() + rec * shape.record_words() * 4;
	const int32_t *ids = reinterpret_cast<const int32_t *>(r);
	const float *vals = reinterpret_cast<const float *>(r) + kStepInts;
	if (ids[0] < 0 || static_cast<uint32_t>(ids[0]) >= dm.queues || ids[1] < 0 ||
	    static_cast<uint32_t>(ids[1]) >= dm.window)
		return; // the packer never writes these; a bad record changes no ring
	ring[(size_t{static_cast<uint32_t>(ids[0])} * dm.window + static_cast<uint32_t>(ids[1])) * rf + word] = vals[word];
}

// One thread per output: step t of row b, feature f, output j.
template <class T_act>
__global__ void encode_kernel(const std::byte *pass, const float *ring, EmbedWeights ew, Dims dm, T_act *enc)
{
	const uint32_t e = dm.feature_embed, F = dm.features, W = dm.window;
	const size_t idx = size_t{blockIdx.x} * blockDim.x + threadIdx.x;
	if (idx >= size_t{dm.bucket} * W * F * e)
		return;
	const uint32_t j = idx % e, f = (idx / e) % F;
	const size_t bt = idx / (size_t{e} * F);
	const uint32_t t = bt % W, b = static_cast<uint32_t>(bt / W);
	const RowView r = pass_row(pass, b, dm.queues, W);
	const uint32_t k = dm.kernel[f], rf = kStepHeadFloats + F;
	const float *wf = ew.enc_w + dm.enc_offset[f] + size_t{j} * k;
	float acc = ew.enc_b[f * e + j];
	// A causal Conv1d over the feature's last k values, zero before the
	// window; a step at or after the row's count (never attended) reads zeros.
	for (uint32_t tap = 0; tap < k; tap++) {
		const int32_t step = static_cast<int32_t>(t) - static_cast<int32_t>(k - 1) + static_cast<int32_t>(tap);
		if (step < 0 || t >= r.steps)
			continue;
		const float raw = ring[(size_t{r.queue} * W + step_slot(r, static_cast<uint32_t>(step), W)) * rf + kStepState + f];
		acc += wf[tap] * ((raw - ew.mean[f]) / ew.std[f]);
	}
	acc = acc >= 0 ? acc : acc * policy::kLeakySlope;
	enc[bt * F * e + f * e + j] = to_act<T_act>(acc);
}

// One warp per token.
template <class T_act>
__global__ void assemble_kernel(const std::byte *pass, const float *ring, const float *state_tok, EmbedWeights ew,
				Dims dm, float *x, T_act *h)
{
	const uint32_t lane = threadIdx.x % 32;
	const size_t tok = size_t{blockIdx.x} * kWarpsPerBlock + threadIdx.x / 32;
	if (tok >= dm.tokens())
		return;
	const uint32_t d = dm.d_model, W = dm.window, T = dm.row_tokens(), tps = dm.tokens_per_step;
	const uint32_t b = static_cast<uint32_t>(tok / T), in_row = static_cast<uint32_t>(tok % T);
	const uint32_t t = in_row / tps, k = in_row % tps;
	const RowView r = pass_row(pass, b, dm.queues, W);
	const bool real = t < r.steps;
	const float *step = ring + (size_t{r.queue} * W + step_slot(r, t, W)) * (kStepHeadFloats + dm.features);
	const float *pos = ew.time_emb + size_t{time_position(r, t, W, dm.ring_position)} * d;
	float *xr = x + tok * d;
	if (k == 0) {
		const float rtg = real ? step[kStepRtg] / dm.rtg_scale : 0.0f;
		for (uint32_t j = lane; j < d; j += 32)
			xr[j] = ew.rtg_w[j] * rtg + ew.rtg_b[j] + pos[j];
	} else if (k <= dm.state_tokens) {
		const size_t steps_all = size_t{dm.bucket} * W;
		const float *st = state_tok + ((k - 1) * steps_all + size_t{b} * W + t) * d;
		const float *sb = ew.state_b + size_t{k - 1} * d;
		for (uint32_t j = lane; j < d; j += 32)
			xr[j] = st[j] + sb[j] + pos[j];
	} else {
		const float *a = ew.act_emb + size_t{action_of(real ? step[kStepAction] : 0.0f, dm.actions)} * d;
		for (uint32_t j = lane; j < d; j += 32)
			xr[j] = a[j] + pos[j];
	}
	const RowStats in = row_stats(xr, d, lane);
	for (uint32_t j = lane; j < d; j += 32)
		xr[j] = (xr[j] - in.mean) * in.inv * ew.ln_in_g[j] + ew.ln_in_b[j];
	if (!ew.ln1_g)
		return;
	const RowStats st = row_stats(xr, d, lane); // the first block's ln1
	for (uint32_t j = lane; j < d; j += 32)
		h[tok * d + j] = to_act<T_act>((xr[j] - st.mean) * st.inv * ew.ln1_g[j] + ew.ln1_b[j]);
}

} // namespace

void scatter_steps(const std::byte *pass, float *ring, const Dims &dm, cudaStream_t s)
{
	const size_t items = size_t{dm.bucket} * dm.window * (kStepHeadFloats + dm.features);
	scatter_kernel<<<blocks_for(items, kThreads), kThreads, 0, s>>>(pass, ring, dm);
}

template <class T_act>
void encode_steps(const std::byte *pass, const float *ring, const EmbedWeights &ew, const Dims &dm, T_act *enc,
		  cudaStream_t s)
{
	const size_t items = size_t{dm.bucket} * dm.window * dm.features * dm.feature_embed;
	encode_kernel<T_act><<<blocks_for(items, kThreads), kThreads, 0, s>>>(pass, ring, ew, dm, enc);
}

template <class T_act>
void assemble_tokens(const std::byte *pass, const float *ring, const float *state_tok, const EmbedWeights &ew,
		     const Dims &dm, float *x, T_act *h, cudaStream_t s)
{
	assemble_kernel<T_act><<<blocks_for(dm.tokens(), kWarpsPerBlock), kWarpsPerBlock * 32, 0, s>>>(
		pass, ring, state_tok, ew, dm, x, h);
}

template void encode_steps<float>(const std::byte *, const float *, const EmbedWeights &, const Dims &, float *,
				  cudaStream_t);
template void encode_steps<__nv_bfloat16>(const std::byte *, const float *, const EmbedWeights &, const Dims &,
					  __nv_bfloat16 *, cudaStream_t);
template void assemble_tokens<float>(const std::byte *, const float *, const float *, const EmbedWeights &,
				     const Dims &, float *, float *, cudaStream_t);
template void assemble_tokens<__nv_bfloat16>(const std::byte *, const float *, const float *, const EmbedWeights &,
					     const Dims &, float *, __nv_bfloat16 *, cudaStream_t);

} // namespace dualpilot::gpu
