#include "gpu/pass_pack.hpp"

#include <algorithm>
#include <cstring>
#include <fmt/format.h>

namespace dualpilot::gpu {

size_t pack_pass(const PassShape &shape, const policy::Window *windows, size_t n, uint32_t queues, std::byte *block,
		 std::string &err)
{
	if (n == 0 || n > shape.bucket) {
		err = fmt::format("a pass of {} windows does not fit its bucket of {}", n, shape.bucket);
		return 0;
	}
	const uint32_t W = shape.window, F = shape.features;
	std::byte *records = block + shape.records_offset();
	uint32_t fresh_total = 0;
	for (size_t i = 0; i < n; i++) {
		const policy::Window &w = windows[i];
		if (w.steps == 0 || w.steps > W || w.queue >= queues || !w.returns || !w.states || !w.actions) {
			err = fmt::format("window {}: {} steps of queue {} (window {}, {} queues{})", i, w.steps, w.queue, W,
					  queues, w.returns ? "" : ", no raw steps");
			return 0;
		}
		const RowMeta meta{static_cast<int32_t>(w.queue), static_cast<int32_t>(w.steps),
				   static_cast<int32_t>(w.first_slot % W), 0};
		std::memcpy(block + kMetaOffset + i * sizeof(RowMeta), &meta, sizeof(meta));
		const uint32_t fresh = std::min(w.fresh, w.steps);
		for (uint32_t t = w.steps - fresh; t < w.steps; t++) {
			std::byte *rec = records + size_t{fresh_total++} * shape.record_words() * 4;
			const int32_t head[kStepInts] = {static_cast<int32_t>(w.queue),
							 static_cast<int32_t>((w.first_slot + t) % W)};
			const float step[kStepHeadFloats] = {w.returns[t], static_cast<float>(policy::action_index(w.actions[t], shape.actions))};
			std::memcpy(rec, head, sizeof(head));
			std::memcpy(rec + sizeof(head), step, sizeof(step));
			std::memcpy(rec + sizeof(head) + sizeof(step), w.states + size_t{t} * F, size_t{F} * sizeof(float));
		}
	}
	const PassHeader header{static_cast<int32_t>(n), static_cast<int32_t>(fresh_total), {0, 0}};
	std::memcpy(block, &header, sizeof(header));
	return shape.bytes(fresh_total);
}

} // namespace dualpilot::gpu
