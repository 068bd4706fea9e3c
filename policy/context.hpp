// A queue's context for the decision transformer: its last w steps of
// (return-to-go, state, action), as the paper's sequence (1), kept in a ring
// and laid out oldest-first for a forward pass.
//
// Return-to-go at run time follows the decision-transformer convention: the
// first step gets the target return (the model file's target_return, in its
// scaled units, times rtg_scale), each step's reward is subtracted from it,
// and when it is used up it starts again from the target, since a router's
// episode does not end.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "policy/forward_cpu.hpp"

namespace dualpilot::policy {

class QueueContext {
public:
	QueueContext(uint32_t window, uint32_t features, float target_return_raw)
		: window_(window), features_(features), target_(target_return_raw), rtg_(target_return_raw),
		  returns_(window), states_(size_t{window} * features), actions_(window)
	{
	}

	// Appends a step: its state (features values, in the model's feature
	// order), the action taken, and the reward that followed.
	void push(const float *state, uint8_t action, float reward)
	{
		const uint32_t slot = (head_ + count_) % window_;
		if (count_ == window_)
			head_ = (head_ + 1) % window_;
		else
			count_++;
		returns_[slot] = rtg_;
		for (uint32_t f = 0; f < features_; f++)
			states_[size_t{slot} * features_ + f] = state[f];
		actions_[slot] = action;
		rtg_ -= reward;
		if (!(rtg_ > 0))
			rtg_ = target_;
	}

	uint32_t steps() const { return count_; }

	// Copies the steps oldest-first into the caller's buffers (window-sized)
	// and describes them as a Window.
	Window layout(float *returns, float *states, uint8_t *actions) const
	{
		for (uint32_t i = 0; i < count_; i++) {
			const uint32_t slot = (head_ + i) % window_;
			returns[i] = returns_[slot];
			for (uint32_t f = 0; f < features_; f++)
				states[size_t{i} * features_ + f] = states_[size_t{slot} * features_ + f];
			actions[i] = actions_[slot];
		}
		return Window{count_, returns, states, actions};
	}

private:
	uint32_t window_, features_;
	float target_, rtg_;
	uint32_t head_ = 0, count_ = 0;
	std::vector<float> returns_, states_;
	std::vector<uint8_t> actions_;
};

} // namespace dualpilot::policy
