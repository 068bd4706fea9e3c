// What an AQM's state looks like to a learned policy at one decision: the
// features of the L4S-LLM paper's Table III(a), read off whichever AQM runs.
// Off the packet path: the simulator and the router's sampler call it at the
// sampled decisions only.
#pragma once

#include <array>
#include <cstdint>

#include "aqm/aqm.hpp"

namespace dualpilot::aqm {

struct AqmObservation {
	double burst_allowance_us = 0;  // PIE's burst allowance; 0 where the AQM has none
	double drop_probability = 0;    // the probability this queue's packets face now
	double accumulated_probability = 0; // PIE's de-randomisation sum; DualPI2: p'
	uint64_t backlog_bytes = 0;     // this queue's length in bytes
	uint64_t total_drops = 0;       // this queue's drops so far (AQM + overflow)
};

AqmObservation observe(const AnyAqm &aqm, QueueId queue);

// The action of one decision, as the experience pools, the model's action
// tokens and the router's samples number it: one definition for the
// simulator and the router.
enum ActionCode : uint8_t { kEnqueue = 0, kDrop = 1, kMark = 2 };
inline ActionCode action_code(Verdict v)
{
	return v == Verdict::drop ? kDrop : v == Verdict::forward_ce ? kMark : kEnqueue;
}

// The 8 state features of one decision, in the order of the experience
// pools (sim/pool.hpp names them): queue_type, burst_allowance_us,
// drop_probability, current_queue_delay_us, accumulated_probability,
// length_in_bytes, total_drops, packet_length. One definition for the
// simulator and the router, so a policy sees the same state in both.
inline constexpr int kStateFeatures = 8;
inline constexpr std::array<const char *, kStateFeatures> kStateFeatureNames = {
	"queue_type",              // 0 Classic, 1 L4S
	"burst_allowance_us",      // PIE's burst allowance; 0 for AQMs without one
	"drop_probability",        // the probability this packet's queue faces, 0..1
	"current_queue_delay_us",  // this packet's sojourn (head delay for enqueue drops)
	"accumulated_probability", // PIE: de-randomisation sum; DualPI2: p'
	"length_in_bytes",         // the packet's queue, bytes, after the decision
	"total_drops",             // the packet's queue, drops so far
	"packet_length",           // bytes
};
std::array<float, kStateFeatures> state_features(const AnyAqm &aqm, QueueId queue, uint64_t sojourn_ns,
						 uint32_t packet_bytes);

} // namespace dualpilot::aqm
