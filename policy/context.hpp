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
#include <utility>
#include <vector>

#include "policy/backend.hpp"
#include "policy/window.hpp"

namespace dualpilot::policy {

class QueueContext {
public:
	// cache_floats: the backend's cache for the queue (CpuForward::
	// cache_floats); 0 keeps none and windows carry the raw steps.
	QueueContext(uint32_t window, uint32_t features, float target_return_raw, uint32_t cache_floats = 0)
		: window_(window), features_(features), target_(target_return_raw), rtg_(target_return_raw),
		  returns_(window), states_(size_t{window} * features), actions_(window), cache_(cache_floats)
	{
	}

	// The return-to-go the next step will carry, the ring slot it will take
	// and the cache to write its share into, before push.
	float next_return() const { return rtg_; }
	uint32_t next_slot() const { return (head_ + count_) % window_; }
	bool has_cache() const { return !cache_.empty(); }
	float *cache() { return cache_.data(); }

	// Appends a step: its state (features values, in the model's feature
	// order), the action taken and the reward that followed.
	void push(const float *state, uint8_t action, float reward)
	{
		const uint32_t slot = next_slot();
		if (count_ == window_)
			head_ = (head_ + 1) % window_;
		else
			count_++;
		returns_[slot] = rtg_;
		for (uint32_t f = 0; f < features_; f++)
			states_[size_t{slot} * features_ + f] = state[f];
		actions_[slot] = action;
		fresh_ = std::min(fresh_ + 1, window_);
		rtg_ -= reward;
		if (!(rtg_ > 0))
			rtg_ = target_;
	}

	uint32_t steps() const { return count_; }
	// Rewrites the newest step's action (the tuner's step takes the action
	// its own pass chose); returns its slot. The caller recomputes the
	// step's cache, which holds the old token.
	uint32_t set_last_action(uint8_t action)
	{
		const uint32_t slot = (head_ + count_ + window_ - 1) % window_;
		if (count_ > 0)
			actions_[slot] = action;
		// A backend that keeps the steps where it computes (gpu/) has the
		// old token: the step goes to it again with the next window.
		fresh_ = std::max(fresh_, 1u);
		return slot;
	}
	float return_at(uint32_t slot) const { return returns_[slot]; }
	const float *state_at(uint32_t slot) const { return &states_[size_t{slot} * features_]; }
	// Steps pushed since the last call (at most the window), for a backend
	// that keeps the queue's steps where it computes.
	uint32_t take_fresh() { return std::exchange(fresh_, 0); }

	// The window for a forward pass. With a cache it points into the ring
	// (nothing is copied); without one the steps are copied oldest-first into
	// the caller's window-sized buffers.
	Window layout(float *returns, float *states, uint8_t *actions) const
	{
		Window w;
		w.steps = count_;
		w.first_slot = head_;
		if (!cache_.empty()) {
			w.cache = cache_.data();
			return w;
		}
		for (uint32_t i = 0; i < count_; i++) {
			const uint32_t slot = (head_ + i) % window_;
			returns[i] = returns_[slot];
			for (uint32_t f = 0; f < features_; f++)
				states[size_t{i} * features_ + f] = states_[size_t{slot} * features_ + f];
			actions[i] = actions_[slot];
		}
		w.returns = returns;
		w.states = states;
		w.actions = actions;
		return w;
	}

private:
	uint32_t window_, features_;
	float target_, rtg_;
	uint32_t head_ = 0, count_ = 0, fresh_ = 0;
	std::vector<float> returns_, states_;
	std::vector<uint8_t> actions_;
	std::vector<float> cache_;
};

// Every queue's context, as the router's policy worker and the simulator's
// closed-loop policy both keep them: sampled states (the sampler's feature
// order, experience::state_features) mapped to the model's features, each step's
// cache filled once on arrival by the backend, and windows laid out for a
// batch of up to batch_max queues.
class ContextSet {
public:
	// feature_of[f]: where the model's feature f sits in a sampled state
	// (policy::state_feature_index).
	ContextSet(Backend &backend, size_t queues, size_t batch_max, std::vector<int> feature_of)
		: backend_(&backend), feature_of_(std::move(feature_of)), model_state_(feature_of_.size())
	{
		const ModelConfig &c = backend.config();
		contexts_.assign(queues, QueueContext(c.window, c.feature_count, c.target_return * c.rtg_scale,
						      backend.cache_floats()));
		returns_.resize(batch_max * c.window);
		states_.resize(batch_max * c.window * c.feature_count);
		actions_.resize(batch_max * c.window);
	}

	size_t size() const { return contexts_.size(); }

	// Appends a step to queue q: its sampled state, the action taken, the
	// reward that followed.
	void push(size_t q, const float *sampled_state, uint8_t action, float reward)
	{
		QueueContext &ctx = contexts_[q];
		for (size_t f = 0; f < feature_of_.size(); f++)
			model_state_[f] = sampled_state[feature_of_[f]];
		if (ctx.has_cache())
			backend_->cache_step(ctx.next_return(), model_state_.data(), action, ctx.next_slot(), ctx.cache());
		ctx.push(model_state_.data(), action, reward);
	}

	// Queue q's newest step takes this action, its cache recomputed (a
	// step's cached share depends on that step alone).
	void set_last_action(size_t q, uint8_t action)
	{
		QueueContext &ctx = contexts_[q];
		if (ctx.steps() == 0)
			return;
		const uint32_t slot = ctx.set_last_action(action);
		if (ctx.has_cache())
			backend_->cache_step(ctx.return_at(slot), ctx.state_at(slot), action, slot, ctx.cache());
	}

	// Queue q's window, using batch position i's buffers (i < batch_max).
	// The steps it counts as fresh are then no longer fresh: call it for the
	// windows that go to the backend.
	Window window(size_t q, size_t i)
	{
		const ModelConfig &c = backend_->config();
		Window w = contexts_[q].layout(&returns_[i * c.window], &states_[i * c.window * c.feature_count],
					       &actions_[i * c.window]);
		w.queue = static_cast<uint32_t>(q);
		w.fresh = contexts_[q].take_fresh();
		return w;
	}

	// Carries on with another backend of the same model (the cpu one after
	// the gpu one failed). The contexts keep their caches: this is for a
	// backend that reads the raw steps (cache_floats() 0 when they were made)
	// or caches as the first one did.
	void rebind(Backend &backend) { backend_ = &backend; }

private:
	Backend *backend_;
	std::vector<int> feature_of_;
	std::vector<float> model_state_;
	std::vector<QueueContext> contexts_;
	std::vector<float> returns_, states_;
	std::vector<uint8_t> actions_;
};

} // namespace dualpilot::policy
