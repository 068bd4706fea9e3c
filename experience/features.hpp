// The state a learned policy sees at one AQM decision: the 8 features of the
// L4S-LLM paper's Table III(a), in the order the experience pools store them.
// The one table of their names and positions: the simulator and the router
// fill it (state_features), the pools name their columns with it, the model
// and training index it.
#pragma once

#include <array>
#include <cstdint>

#include "aqm/aqm.hpp"

namespace dualpilot::experience {

inline constexpr int kFeatureCount = 8;
inline constexpr std::array<const char *, kFeatureCount> kFeatureNames = {
	"queue_type",              // 0 Classic, 1 L4S
	"burst_allowance_us",      // PIE's burst allowance; 0 for AQMs without one
	"drop_probability",        // the probability this packet's queue faces, 0..1
	"current_queue_delay_us",  // this packet's sojourn (head delay for enqueue drops)
	"accumulated_probability", // PIE: de-randomisation sum; DualPI2: p'
	"length_in_bytes",         // the packet's queue, bytes, after the decision
	"total_drops",             // the packet's queue, drops so far
	"packet_length",           // bytes
};
inline constexpr int kQueueTypeFeature = 0;
inline constexpr int kDropProbabilityFeature = 2;
inline constexpr int kQueueDelayFeature = 3;   // current_queue_delay_us
inline constexpr int kQueueBytesFeature = 5;   // length_in_bytes, after the decision
inline constexpr int kPacketLengthFeature = 7; // packet_length

using State = std::array<float, kFeatureCount>;

// The features of one decision on a packet of `packet_bytes` in `queue`
// after `sojourn_ns`, read off whichever AQM runs (aqm::observe). Off the
// packet path: called at the sampled decisions only.
State state_features(const aqm::AnyAqm &aqm, aqm::QueueId queue, uint64_t sojourn_ns, uint32_t packet_bytes);

} // namespace dualpilot::experience
