// One pass of the GPU engine as it crosses to the device, and the indexing
// that the host packer and the kernels share (host and device code: plain
// C++, compiled by nvcc and by the host compiler alike).
//
// The device keeps every queue's last w steps in a ring of its own, slot for
// slot as the host's QueueContext keeps them, so that a pass sends only the
// steps that arrived since the queue's previous pass (usually one), not its
// whole window. A pass is one contiguous block, moved by one copy:
//
//   PassHeader                         rows in the batch, fresh steps sent
//   RowMeta[bucket]                    per row: queue, steps, oldest slot
//   step records[fresh_steps]          per fresh step: queue, slot, then
//                                      return-to-go, action, F features
//
// A batch is padded up to its bucket. Rows at and beyond header.rows are
// never read: the kernels give them an all-zero queue of their own (the
// ring's last), so whatever the padded part of the buffer holds cannot reach
// a real row.
#pragma once

#include <cstddef>
#include <cstdint>

#include "policy/model.hpp"

#if defined(__CUDACC__)
#define DP_HD __host__ __device__ inline
#else
#define DP_HD inline
#endif

namespace dualpilot::gpu {

struct PassHeader {
	int32_t rows;        // real rows (the rest of the bucket is padding)
	int32_t fresh_steps; // step records that follow the rows' metadata
	int32_t unused[2];   // keeps RowMeta 16-byte aligned
};

struct RowMeta {
	int32_t queue;      // the queue's ring
	int32_t steps;      // 1..w steps in its window
	int32_t first_slot; // ring slot of its oldest step
	int32_t unused;
};

inline constexpr size_t kMetaOffset = sizeof(PassHeader); // RowMeta[bucket] follows the header

// A step record: two int32 (queue, slot), then kStepFloats + F floats.
inline constexpr uint32_t kStepInts = 2;
inline constexpr uint32_t kStepRtg = 0;    // return-to-go, unscaled
inline constexpr uint32_t kStepAction = 1; // 0..K-1 (verdict models: 0 enqueue, 1 drop, 2 mark), as a float
inline constexpr uint32_t kStepState = 2;  // then the F raw feature values
inline constexpr uint32_t kStepHeadFloats = 2;

// Sizes of one bucket's pass, in bytes from the start of the block.
struct PassShape {
	uint32_t bucket = 1;
	uint32_t window = 1;
	uint32_t features = 1;
	uint32_t actions = policy::kVerdictActions; // K, the model's: a step's action is sent as action_index(a, K)

	// 4-byte words of a step record, and of a step in the device ring.
	DP_HD uint32_t record_words() const { return kStepInts + kStepHeadFloats + features; }
	DP_HD uint32_t ring_floats() const { return kStepHeadFloats + features; }
	DP_HD size_t records_offset() const { return kMetaOffset + size_t{bucket} * sizeof(RowMeta); }
	DP_HD size_t bytes(uint32_t fresh_steps) const
	{
		return records_offset() + size_t{fresh_steps} * record_words() * 4;
	}
	// Every row sends its whole window: the most a pass can hold.
	DP_HD size_t capacity_bytes() const { return bytes(bucket * window); }
};

// A row as the kernels read it: a real row's queue, steps and oldest slot,
// sanitised (steps into 1..w, a slot into 0..w-1); a padded row, or one
// whose queue is out of range, reads the zero queue `queues` with one step.
struct RowView {
	uint32_t queue;
	uint32_t steps;
	uint32_t first_slot;
};

DP_HD RowView row_view(const PassHeader &h, const RowMeta &m, uint32_t row, uint32_t queues, uint32_t window)
{
	if (h.rows < 0 || row >= static_cast<uint32_t>(h.rows) || m.queue < 0 || static_cast<uint32_t>(m.queue) >= queues)
		return RowView{queues, 1, 0};
	const uint32_t steps = m.steps < 1 ? 1u : m.steps > static_cast<int32_t>(window) ? window : uint32_t(m.steps);
	const int32_t slot = m.first_slot % static_cast<int32_t>(window);
	return RowView{static_cast<uint32_t>(m.queue), steps, static_cast<uint32_t>(slot < 0 ? slot + int32_t(window) : slot)};
}

// Ring slot of step t of the row (t = 0 the oldest).
DP_HD uint32_t step_slot(const RowView &r, uint32_t t, uint32_t window) { return (r.first_slot + t) % window; }

// The time-embedding row of step t: its position in the window, or its ring
// slot (policy/model.hpp, TimeEmbedding).
DP_HD uint32_t time_position(const RowView &r, uint32_t t, uint32_t window, bool ring_position)
{
	return ring_position ? step_slot(r, t, window) : t;
}

// Tokens of a row: every step's R, state token(s) and a, w steps whatever the
// row's own count (a token after the row's last state token is computed and
// never read: attention is causal). The row's decision is read at its newest
// step's last state token.
DP_HD uint32_t query_token(const RowView &r, uint32_t tokens_per_step, uint32_t state_tokens)
{
	return (r.steps - 1) * tokens_per_step + state_tokens;
}

// An action as stored (a float) in a model of `actions` actions: anything
// but 0..actions-1 (the padded part of a block holds whatever it holds)
// reads as 0, NaN too.
DP_HD uint32_t action_of(float a, uint32_t actions)
{
	return a > -0.5f && a < static_cast<float>(actions) - 0.5f ? static_cast<uint32_t>(a + 0.5f) : 0u;
}

} // namespace dualpilot::gpu
