// The pilot's loop: the one sequence of steps that turns sampled AQM
// decisions into published overrides, run by the router's policy worker
// (dataplane/policy_worker.hpp) and by the simulator (sim/simulation.cpp):
//
//   observe  each sampled decision: its reward (experience/reward.hpp), the
//            shadow score of the last prediction against the AQM's action,
//            a step in the queue's context window, and the harm guard, which
//            may withdraw the queue's override at once;
//   step     a forward pass over the queues with new steps (up to batch_max
//            a pass; a backend that computes elsewhere keeps passes in
//            flight), then for each finished queue: the finite check, the
//            guard rails' cap and, in enforce mode and unless the harm guard
//            has backed the queue off, a publish with its time to live.
//
// The loop talks to two small interfaces, not to a router or a simulation:
// a SampleSource it drains and an OverrideSink it publishes to. The router's
// sink is its per-queue override slots, read by the workers; the
// simulator's delays each override by the decision delay it is judged at.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "aqm/histogram.hpp"
#include "experience/features.hpp"
#include "experience/reward.hpp"
#include "policy/backend.hpp"
#include "policy/context.hpp"
#include "policy/guard_rails.hpp"
#include "policy/harm_guard.hpp"

namespace dualpilot::policy {

// One sampled decision: the queue it was made on (the loop's index:
// port * 2 + class), its state in the pools' feature order, what the AQM
// alone decided and what was done (after any override).
struct PilotSample {
	uint32_t queue = 0;
	const float *state = nullptr; // experience::kFeatureCount values
	uint8_t aqm_action = 0;
	uint8_t taken_action = 0;
};

// Where samples come from: the router's sample rings.
class SampleSource {
public:
	virtual ~SampleSource() = default;
	// Hands each available sample (a bounded share) to on_sample; returns
	// how many.
	virtual uint32_t drain(const std::function<void(const PilotSample &)> &on_sample) = 0;
};

// Where overrides go: the router's override slots, or the simulator's
// decision-delay line.
class OverrideSink {
public:
	virtual ~OverrideSink() = default;
	// Queue q's override from now on: probabilities already capped by the
	// guard rails, computed at computed_ns, void at or after expires_ns (0:
	// held until replaced).
	virtual void publish(uint32_t q, const OverrideProbs &probs, uint64_t computed_ns, uint64_t expires_ns) = 0;
	// Queue q's override void at once (the harm guard backed it off).
	virtual void withdraw(uint32_t q, uint64_t now_ns) = 0;
};

struct PilotLoopConfig {
	bool enforce = true;          // false: shadow, predictions scored and never published
	GuardRails guard;             // the cap on published probabilities
	HarmGuardConfig harm;         // backs a hurting pilot off to the AQM, per queue
	uint64_t override_ttl_ns = 0; // an override's life from its computation; 0: until replaced
	size_t batch_max = 1;         // queues a forward pass
	bool fall_back = true;        // a failed backend hands over to its fallback (gpu -> cpu)
};

struct PilotStats {
	uint64_t samples = 0;
	uint64_t forward_passes = 0;
	uint64_t decisions = 0;       // queue decisions computed
	uint64_t invalid_outputs = 0; // decisions with a non-finite output: not used
	uint64_t published = 0;
	uint64_t pilot_backoffs = 0;  // queues backed off to the AQM by the harm guard
	uint64_t first_publish_ns = 0;
	// Shadow scoring: [AQM's action][the pilot's most likely action].
	std::array<std::array<uint64_t, 3>, 3> confusion{};
	uint64_t scored = 0;
	uint64_t agreed = 0;
	double would_drop = 0; // sum over scored samples of the pilot's p_drop
	double would_mark = 0;
	aqm::DelayHistogram pass_ns;         // wall time of one forward pass
	aqm::DelayHistogram per_decision_ns; // pass time / queues in it
	const char *backend = "none";        // the backend computing now
	uint64_t backend_failures = 0;
	std::string backend_failure; // what the last failure was and what carried on
};

class PilotLoop {
public:
	// A loop over `queues` queues. backend null: samples are counted and
	// rewarded, nothing is decided. feature_of[f]: where the model's feature
	// f sits in a sample's state (policy::state_feature_index).
	void init(const PilotLoopConfig &cfg, size_t queues, std::unique_ptr<Backend> backend, std::vector<int> feature_of,
		  const experience::RewardSpec &reward);
	// Another model (a reload): fresh contexts, outputs and harm guards;
	// the counters carry on.
	void install(std::unique_ptr<Backend> backend, std::vector<int> feature_of);
	// The same model afresh for a new run (the simulator's): this config and
	// reward, fresh contexts, outputs and harm guards, counters from zero.
	void restart(const PilotLoopConfig &cfg, const experience::RewardSpec &reward);
	void set_enforce(bool enforce) { cfg_.enforce = enforce; }
	void set_reward(const experience::RewardSpec &reward) { reward_ = reward; }

	// The reward of a sample (what its pool entry and context step carry).
	float reward_of(const PilotSample &s) const { return reward_.of_state(s.state, s.taken_action); }
	// One sampled decision; sink null: nothing is withdrawn (no overrides).
	void observe(const PilotSample &s, float reward, uint64_t now_ns, OverrideSink *sink);
	// Forward passes over the queues with new steps; publishes what finishes.
	void step(uint64_t now_ns, OverrideSink *sink);
	// Drains the source (observe, with each sample and its reward also
	// handed to also_each: the caller's pool) and, when `decide`, steps if
	// anything is new or in flight. Returns the samples drained.
	uint32_t poll(SampleSource &source, uint64_t now_ns, OverrideSink *sink, bool decide,
		      const std::function<void(const PilotSample &, float reward)> &also_each = {});
	// Waits for the passes in flight and publishes them.
	void flush(uint64_t now_ns, OverrideSink *sink);

	bool deciding() const { return backend_ != nullptr; }
	bool busy() const { return passes_in_flight_ > 0; }
	// False once a backend failed with no fallback: the AQMs decide alone.
	bool alive() const { return !failed_off_; }
	bool backed_off(uint32_t q, uint64_t now_ns) const { return q < harm_.size() && harm_guard_backed_off(harm_[q], now_ns); }
	const experience::RewardSpec &reward() const { return reward_; }
	const PilotStats &stats() const { return stats_; }
	const Backend *backend() const { return backend_.get(); }

private:
	struct Pass {
		std::vector<uint32_t> queues;
		std::chrono::steady_clock::time_point start;
	};

	void set_backend(std::unique_ptr<Backend> backend);
	void collect_finished(uint64_t now_ns, bool wait, OverrideSink *sink);
	void publish(const Pass &pass, uint64_t now_ns, OverrideSink *sink);
	void backend_failed(const Pass *unsubmitted);

	PilotLoopConfig cfg_;
	size_t queues_ = 0;
	experience::RewardSpec reward_;
	std::unique_ptr<Backend> backend_;
	bool failed_off_ = false;
	std::vector<int> feature_of_;
	std::unique_ptr<ContextSet> contexts_;
	std::vector<uint8_t> dirty_;
	std::vector<Probs> last_;
	std::vector<uint8_t> has_last_;
	std::vector<HarmGuardQueue> harm_;
	std::vector<Pass> passes_; // a ring of the backend's pass slots
	size_t first_pass_ = 0, passes_in_flight_ = 0;
	std::vector<Window> windows_;
	std::vector<Probs> probs_;
	PilotStats stats_;
};

} // namespace dualpilot::policy
