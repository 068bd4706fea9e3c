// What the objective reads off a stretch of a run: each class's per-packet
// sojourn (drops at their penalty), the payload delivered, the capacity the
// link offered, and each flow's delivery. A run keeps one tally after
// warm-up and, for the piecewise oracle, one per segment; tallies of the
// same flows add, so the segments chosen from several runs make one.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "aqm/histogram.hpp"
#include "experience/objective.hpp"

namespace dualpilot::sim {

struct FlowTally {
	bool long_flow = false; // a TCP flow that runs for the scenario (not UDP, not a short web flow)
	bool l4s = false;       // scalable: its rate is weighed against the Classic flows'
	uint64_t goodput_bytes = 0;
	uint64_t active_ns = 0;
};

struct Tally {
	// index 0 Classic, 1 L4S: forwarded packets at their sojourn, dropped
	// ones at their sojourn + Objective::drop_penalty_ms.
	std::array<aqm::DelayHistogram, 2> scored_delay;
	uint64_t payload_bytes = 0; // delivered in order, every flow, retransmissions excluded
	double capacity_bits = 0;   // what the link could carry meanwhile
	std::vector<FlowTally> flows;
};

// Adds b's counts to a (the same flows in the same order).
void add_tally(Tally &a, const Tally &b);

// The objective's inputs from a tally: percentiles of the scored delays,
// goodput over capacity, Jain's index over the long flows' rates and the
// L4S-over-Classic rate balance of the long flows.
experience::ObjectiveInputs tally_inputs(const Tally &t);

} // namespace dualpilot::sim
