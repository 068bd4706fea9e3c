// The reward each decision of a pool and each token of a model's context
// carries: the L4S-LLM paper's, or the objective's per-decision share.
#pragma once

#include <cstdint>
#include <string>

#include "aqm/observe.hpp"
#include "experience/objective.hpp"

namespace dualpilot::experience {

using enum aqm::ActionCode; // kEnqueue, kDrop, kMark

// The reward a model's contexts and a pool's entries carry, as a model file
// names it (its reward_offset_us): an offset > 0 is the paper's reward; 0 is
// the objective's per-decision reward with the default weights
// (experience/objective.hpp), which needs the action taken.
struct RewardSpec {
	double delay_offset_us = 1; // reward = packet_length / (delay_us + offset); 0: the objective's
	// The objective whose per-decision share the reward is when
	// delay_offset_us is 0: its class weights and delay references (the
	// router's or the scenario's [objective]; the defaults otherwise).
	Objective base;

	// The objective whose per-decision reward this names; decision_reward()
	// and reward_definition() (experience/objective.hpp) are the one formula.
	Objective objective() const;
	// The reward of one forwarded packet of packet_bytes after delay_us.
	double of(double packet_bytes, double delay_us) const;
	// The reward of a decision from its state in the pools' feature order.
	float of_state(const float *state, uint8_t action = kEnqueue) const;
	// As the pools record it: "packet_length / (current_queue_delay_us + 1)".
	std::string definition() const;
};

} // namespace dualpilot::experience
