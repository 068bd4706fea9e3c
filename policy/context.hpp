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

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "policy/forward_cpu.hpp"

namespace dualpilot::policy {

class QueueContext {
public:
	// token_floats: floats of a step's embedded tokens, kept per step when the
	// backend embeds steps once (CpuForward::embed_step); 0 keeps none.
	QueueContext(uint32_t window, uint32_t features, float target_return_raw, uint32_t token_floats = 0)
		: window_(window), features_(features), token_floats_(token_floats), target_(target_return_raw),
		  rtg_(target_return_raw), returns_(window), states_(size_t{window} * features), actions_(window),
		  tokens_(size_t{window} * token_floats)
	{
	}

	// The return-to-go the next step will carry (to embed it before push).
	float next_return() const { return rtg_; }

	// Appends a step: its state (features values, in the model's feature
	// order), the action taken, the reward that followed, and its embedded
	// tokens when the context keeps them.
	void push(const float *state, uint8_t action, float reward, const float *tokens = nullptr)
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
		if (tokens && token_floats_)
			std::copy(tokens, tokens + token_floats_, &tokens_[size_t{slot} * token_floats_]);
		rtg_ -= reward;
		if (!(rtg_ > 0))
			rtg_ = target_;
	}

	uint32_t steps() const { return count_; }

	// Copies the steps oldest-first into the caller's buffers (window-sized;
	// tokens may be null) and describes them as a Window.
	Window layout(float *returns, float *states, uint8_t *actions, float *tokens = nullptr) const
	{
		for (uint32_t i = 0; i < count_; i++) {
			const uint32_t slot = (head_ + i) % window_;
			returns[i] = returns_[slot];
			for (uint32_t f = 0; f < features_; f++)
				states[size_t{i} * features_ + f] = states_[size_t{slot} * features_ + f];
			actions[i] = actions_[slot];
			if (tokens && token_floats_)
				std::copy(&tokens_[size_t{slot} * token_floats_], &tokens_[size_t{slot + 1} * token_floats_],
					  tokens + size_t{i} * token_floats_);
		}
		return Window{count_, returns, states, actions, tokens && token_floats_ ? tokens : nullptr};
	}

private:
	uint32_t window_, features_, token_floats_;
	float target_, rtg_;
	uint32_t head_ = 0, count_ = 0;
	std::vector<float> returns_, states_;
	std::vector<uint8_t> actions_;
	std::vector<float> tokens_;
};

} // namespace dualpilot::policy
