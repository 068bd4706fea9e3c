// A sampled packet decision, as a worker hands it to the policy worker: one
// element of the worker's single-producer rte_ring (48 bytes, copied in, no
// allocation). Every inference_interval packets of a queue, at dequeue.
#pragma once

#include <cstdint>

#include "aqm/observe.hpp"

namespace dualpilot::dataplane {

enum SampledAction : uint8_t { kForward = 0, kDrop = 1, kMark = 2 }; // the pools' action codes

struct PacketState {
	uint64_t timestamp_ns;
	uint16_t port;          // egress port index
	uint8_t queue;          // aqm::QueueId
	uint8_t aqm_action;     // what the AQM decided
	uint8_t taken_action;   // what was done (the override's choice in enforce mode)
	uint8_t reserved[3];
	float features[aqm::kStateFeatures]; // aqm::state_features order
};
static_assert(sizeof(PacketState) == 48, "a ring element is 48 bytes");

} // namespace dualpilot::dataplane
