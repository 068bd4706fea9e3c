// Device helpers the kernels share: warp reductions, activation stores, the
// pass block's parts.
#pragma once

#include <cuda_bf16.h>

#include "gpu/pass_layout.hpp"
#include "policy/model.hpp"

namespace dualpilot::gpu {

inline constexpr unsigned kFullWarp = 0xffffffffu;
inline constexpr uint32_t kWarpsPerBlock = 4; // warp-per-row kernels: 128 threads a block

// The sum over the warp, in every lane. Every lane of the warp must call it.
__device__ inline float warp_sum(float v)
{
	for (int off = 16; off > 0; off >>= 1)
		v += __shfl_xor_sync(kFullWarp, v, off);
	return v;
}

// The maximum over the warp, in every lane. Every lane of the warp must call it.
__device__ inline float warp_max(float v)
{
	for (int off = 16; off > 0; off >>= 1)
		v = fmaxf(v, __shfl_xor_sync(kFullWarp, v, off));
	return v;
}

template <class T_act>
__device__ inline T_act to_act(float v);
template <>
__device__ inline float to_act<float>(float v)
{
	return v;
}
template <>
__device__ inline __nv_bfloat16 to_act<__nv_bfloat16>(float v)
{
	return __float2bfloat16(v);
}

__device__ inline const PassHeader &pass_header(const std::byte *pass)
{
	return *reinterpret_cast<const PassHeader *>(pass);
}

// Row b of the pass, sanitised (gpu/pass_layout.hpp).
__device__ inline RowView pass_row(const std::byte *pass, uint32_t b, uint32_t queues, uint32_t window)
{
	const RowMeta *meta = reinterpret_cast<const RowMeta *>(pass + kMetaOffset);
	return row_view(pass_header(pass), meta[b], b, queues, window);
}

// Mean and 1/sqrt(variance + eps) of a row of d floats, in every lane; each
// lane reads the elements j = lane, lane + 32, ... (those it wrote itself,
// where the caller has just written the row). Every lane must call it.
struct RowStats {
	float mean, inv;
};
__device__ inline RowStats row_stats(const float *xr, uint32_t d, uint32_t lane)
{
	float sum = 0;
	for (uint32_t j = lane; j < d; j += 32)
		sum += xr[j];
	const float mean = warp_sum(sum) / static_cast<float>(d);
	float var = 0;
	for (uint32_t j = lane; j < d; j += 32)
		var += (xr[j] - mean) * (xr[j] - mean);
	return RowStats{mean, 1.0f / sqrtf(warp_sum(var) / static_cast<float>(d) + policy::kLnEps)};
}

// Blocks for `items` threads of kThreads.
inline unsigned blocks_for(size_t items, unsigned threads) { return static_cast<unsigned>((items + threads - 1) / threads); }

} // namespace dualpilot::gpu
