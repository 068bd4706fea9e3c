// The tuner's loop (issue 27; docs/pilot.md, "The tuner"): the one sequence
// of steps that turns a port's time-sampled state into a DualPI2 setting,
// run by the router's policy worker and by the simulator alike, beside the
// verdict pilot's loop (policy/pilot_loop.hpp) and with the same parts: the
// backend and its fallback, the context windows, a harm guard, a sink.
//
//   observe  each step record of a port (experience::TuneStep, counted where
//            the packets pass) is folded into the port's features; every
//            steps_per_interval steps the interval closes:
//   judge    the harm guard reads the interval against the port's base
//            settings and may send the port back to them at once;
//   decide   with a model: the interval's features become a step of the
//            port's context window (its action token the setting in force),
//            one forward pass gives a distribution over the table of
//            settings, the most likely one is published, stamped with the
//            state's time: the sink drops it once that state is older than
//            tune_ttl, and the base returns.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "aqm/dualpi2.hpp"
#include "aqm/histogram.hpp"
#include "experience/tune_state.hpp"
#include "policy/backend.hpp"
#include "policy/context.hpp"
#include "policy/tune.hpp"

namespace dualpilot::policy {

// Where settings go: the router's per-port setting records, or the
// simulator's decision-delay line.
class TuneSink {
public:
	virtual ~TuneSink() = default;
	// Port p's setting from now on: the table's action a, computed from the
	// state at state_ns, void at or after expires_ns (state_ns + tune_ttl).
	virtual void publish_setting(uint32_t port, uint32_t action, uint64_t state_ns, uint64_t expires_ns) = 0;
	// Port p back to its base settings at once (the harm guard).
	virtual void withdraw_setting(uint32_t port, uint64_t now_ns) = 0;
};

// A port as the tuner sees it: the settings it returns to, and its RTT hint
// (the configured max_rtt: a feature).
struct TunePort {
	aqm::DualPi2Params base;
	uint64_t rtt_hint_ns = 0;
};

struct TuneLoopConfig {
	TuneConfig tune;
	bool enforce = true;            // false: shadow, decisions counted and never published
	uint64_t decision_delay_ns = 0; // how long a decision takes to act (a feature)
	bool fall_back = true;          // a failed backend hands over to its fallback (gpu -> cpu)
};

struct TuneStats {
	uint64_t steps = 0;
	uint64_t intervals = 0;
	uint64_t decisions = 0;
	uint64_t invalid_outputs = 0; // a non-finite output: nothing published
	uint64_t published = 0;
	uint64_t changes = 0;         // published settings other than the one before
	uint64_t pilot_backoffs = 0;  // ports sent back to their base by the harm guard
	uint64_t idle_intervals = 0;  // intervals not decided on: util_100ms under idle_load
	uint64_t first_publish_ns = 0;
	aqm::DelayHistogram decision_ns; // wall time of one port's decision (features to publish)
	const char *backend = "none";
	uint64_t backend_failures = 0;
	std::string backend_failure;
};

// Per port: what is in force as the step records report it, and for how long.
struct TunePortState {
	uint32_t in_force = experience::kBaseSetting; // an action, or kBaseSetting
	uint64_t in_force_since_ns = 0;
	uint64_t last_step_ns = 0; // the newest step's end: in force for last_step_ns - in_force_since_ns
	std::vector<uint64_t> held_ns; // per action, then the base last: time in force
	uint32_t last_published = experience::kBaseSetting;
	// The harm guard.
	uint32_t harmful_in_row = 0;
	uint64_t backed_off_until_ns = 0;
	uint64_t next_backoff_ns = 0;
};

class TuneLoop {
public:
	// A loop over ports. backend null: features are kept, nothing is
	// decided (data collection, scripted schedules). The backend's model
	// must read the tuner's features (experience::kTuneFeatureNames) and have
	// one action per setting of the table. Error text, or empty.
	[[nodiscard]] std::string init(const TuneLoopConfig &cfg, std::vector<TunePort> ports,
				       std::unique_ptr<Backend> backend);
	// The same model afresh for a new run: this config and these ports,
	// fresh contexts, features and guards, counters from zero.
	[[nodiscard]] std::string restart(const TuneLoopConfig &cfg, std::vector<TunePort> ports);

	// One step of port p. Returns true when it closed a decision interval:
	// state(p) is then that interval's features.
	bool observe(uint32_t port, const experience::TuneStep &s, TuneSink *sink);

	const experience::TuneState &state(uint32_t port) const { return state_[port]; }
	const std::vector<TuneSetting> &actions() const { return actions_; }
	const std::vector<aqm::DualPi2Params> &action_params(uint32_t port) const { return params_[port]; }
	const TunePortState &port(uint32_t p) const { return ports_state_[p]; }
	size_t ports() const { return ports_.size(); }
	bool deciding() const { return backend_ != nullptr; }
	bool backed_off(uint32_t port, uint64_t now_ns) const { return now_ns < ports_state_[port].backed_off_until_ns; }
	const TuneLoopConfig &config() const { return cfg_; }
	const TuneStats &stats() const { return stats_; }
	const Backend *backend() const { return backend_.get(); }

private:
	[[nodiscard]] std::string set_ports(std::vector<TunePort> ports);
	void note_in_force(uint32_t port, const experience::TuneStep &s);
	bool harmful(uint32_t port) const;
	void judge(uint32_t port, uint64_t now_ns, TuneSink *sink);
	void decide(uint32_t port, uint64_t now_ns, TuneSink *sink);
	bool forward(uint32_t port, Probs &out);

	TuneLoopConfig cfg_;
	std::vector<TunePort> ports_;
	std::vector<TuneSetting> actions_;
	std::vector<std::vector<aqm::DualPi2Params>> params_; // [port][action]
	std::vector<uint32_t> base_action_;                   // [port]: the base's nearest action
	std::vector<experience::TuneFeatureState> features_;
	std::vector<experience::TuneState> state_;
	std::vector<TunePortState> ports_state_;
	std::vector<uint32_t> steps_in_interval_;
	std::unique_ptr<Backend> backend_;
	std::unique_ptr<ContextSet> contexts_;
	TuneStats stats_;
};

// Whether a model reads the tuner's features (every one of its features is
// one of experience::kTuneFeatureNames): a tuner, not a verdict pilot.
bool is_tuner_model(const ModelConfig &c);

// Where each of a tuner model's features sits in experience::TuneState.
// Error text naming a feature the tuner does not compute, or empty.
[[nodiscard]] std::string tune_feature_index(const ModelConfig &c, std::vector<int> &index);

} // namespace dualpilot::policy
