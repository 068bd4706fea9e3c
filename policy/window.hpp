// What a backend is given and what it gives back: a queue's context window
// (its last steps, or the queue's cache of them) and the action distribution
// for the queue's next packets. Plain data shared by every backend (the cpu
// backend, policy/forward_cpu.hpp; the CUDA engine, gpu/engine.hpp), the
// reference (policy/forward_reference.hpp) and the policy worker.
#pragma once

#include <array>
#include <cstdint>

#include "policy/model.hpp"

namespace dualpilot::policy {

// One queue's context: its last `steps` decisions, oldest first. The oldest
// sits in slot first_slot of the queue's ring of w slots, step t in slot
// (first_slot + t) mod w: its time-embedding position (ring_position models;
// window_position models use t). The action of the last step is not known
// yet and is not read. With `cache` (the queue's cache, cache_floats() laid
// out by CpuForward) returns/states/actions are not read.
struct Window {
	uint32_t steps = 0;
	const float *returns = nullptr;  // [steps] return-to-go, unscaled
	const float *states = nullptr;   // [steps][feature_count], raw feature values
	const uint8_t *actions = nullptr;// [steps] each 0..action_count - 1 (verdict models: 0 enqueue, 1 drop, 2 mark)
	uint32_t first_slot = 0;
	const float *cache = nullptr;    // the queue's cache, or null
	// The queue's index in its ContextSet and how many of the steps (the
	// newest) arrived since its previous window: a backend that keeps each
	// queue's steps where it computes (gpu/) sends only those. The cpu
	// backend reads neither.
	uint32_t queue = 0;
	uint32_t fresh = 0;
};

// The softmax of the head's logits: a backend fills the first
// config().action_count, and the rest mean nothing. A verdict model's
// p[0..2] are enqueue, drop, ECN mark (policy/guard_rails.hpp reads them so).
struct Probs {
	std::array<float, kMaxActions> p{};
};

} // namespace dualpilot::policy
