// What an AQM's state looks like to a learned policy at one decision: the
// features of the L4S-LLM paper's Table III(a), read off whichever AQM runs.
// Off the packet path: experience/features.hpp turns it into the state
// features a policy sees, at the sampled decisions only.
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

} // namespace dualpilot::aqm
