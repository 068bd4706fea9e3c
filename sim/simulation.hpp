// One run of a scenario: the senders, the bottleneck (an aqm/ AQM behind a
// link of fixed rate), the receivers, and the statistics and experience pool
// the run produces. Deterministic: the same scenario, AQM and seed give the
// same events in the same order, so the same bytes out.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "aqm/aqm.hpp"
#include "aqm/histogram.hpp"
#include "policy/guard_rails.hpp"
#include "policy/harm_guard.hpp"
#include "policy/pilot_loop.hpp"
#include "policy/pilot_profile.hpp"
#include "policy/tune_loop.hpp"
#include "experience/pool.hpp"
#include "sim/scenario.hpp"
#include "sim/tally.hpp"

namespace dualpilot::sim {

// The pilot in the loop, for closed-loop evaluation: every
// inference_interval decisions of a queue the pilot loop
// (policy/pilot_loop.hpp, the one the router's policy worker runs) is shown
// the decision's state (the pool features); what it publishes takes effect
// decision_delay_ns later (the inference latency being modelled) and
// overrides the AQM's verdict at dequeue until replaced or, with
// override_ttl_ns, until it expires, inside the router's guard rails
// (policy/guard_rails.hpp: probabilities capped, nothing below the minimum
// delay, no L4S drops, a mark on a Not-ECT packet becomes a drop), and the
// harm guard backs it off as on the router. Enqueue-time drops (a full
// buffer) are never overridden.
struct RunOptions {
	uint64_t seed = 1;
	bool record_pool = false;
	experience::Objective objective;             // the pool's per-decision reward derives from it
	policy::PilotLoop *pilot = nullptr; // null: the AQM decides alone; restarted for the run
	// The closed loop's defaults are the pilot profile's
	// (configs/pilot/profile.toml), as every tool of this project runs it.
	uint32_t inference_interval = policy::pilot_profile::kInferenceInterval; // decisions per queue between calls
	uint64_t decision_delay_ns = policy::pilot_profile::kDecisionDelaysNs[0];
	uint64_t override_ttl_ns = policy::pilot_profile::kOverrideTtlNs; // 0: an override holds until replaced
	policy::GuardRails guard;        // the router's defaults
	policy::HarmGuardConfig harm_guard; // backs a hurting policy off to the AQM, per queue
	// Exploration for behaviour data: each dequeue decision (forward, drop,
	// mark), after the AQM's and any override's, is re-drawn uniformly with
	// this probability (a mark on a Not-ECT packet becomes a drop, as in
	// the AQMs), from its own seeded stream. 0: off.
	double epsilon = 0;
	// The piecewise oracle's segments: a tally per segment_ns after warm-up
	// (RunResult::segments; the last one may be shorter). 0: none.
	uint64_t segment_ns = 0;
	// The tuner (issue 27; policy/tune_loop.hpp, the loop the router's
	// policy worker runs): with a DualPI2 bottleneck, its queues are counted
	// into a state record every tune.interval_ns / tune.steps_per_interval,
	// the loop is shown each record, and a setting it publishes comes into
	// force decision_delay_ns after the state it was computed from
	// (DualPi2::change: the PI state and the queued packets stay) and lapses
	// tune.ttl_ns after that state; the base (the AQM as built) returns. The
	// loop is restarted for the run with `tune` and the bottleneck as its
	// one port. With tune_schedule or record_tune_states and no tuner, the
	// run keeps a loop of its own without a model, for the features.
	policy::TuneLoop *tuner = nullptr;
	policy::TuneConfig tune;
	uint64_t rtt_hint_ns = 0; // the port's configured max_rtt (a feature); 0: the base's
	// A behaviour's settings over time (data collection): action i of the
	// tune table from at_ns on (experience::kBaseSetting: the base), in time
	// order, with no decision delay and no expiry.
	struct ScheduledSetting {
		uint64_t at_ns = 0;
		uint16_t action = experience::kBaseSetting;
	};
	std::vector<ScheduledSetting> tune_schedule;
	bool record_tune_states = false; // RunResult::tune_states
	// Called now and then with the fraction of simulated time done.
	std::function<void(double)> progress;
};

struct QueueStats {
	aqm::DelayHistogram delay; // sojourn of forwarded packets, after warm-up (the scored delays: RunResult::measured)
	uint64_t forwarded = 0;
	uint64_t marks = 0;
	uint64_t aqm_drops = 0;
	uint64_t overflow_drops = 0;
};

struct FlowStats {
	std::string name;
	CcKind cc = CcKind::reno;
	aqm::Ecn ecn = aqm::Ecn::not_ect;
	uint64_t goodput_bytes = 0; // payload delivered in order, after warm-up
	uint64_t sent_pkts = 0;
	uint64_t retransmits = 0;
	uint64_t timeouts = 0;
	uint64_t drops = 0;
	uint64_t marks = 0;
	uint64_t active_ns = 0;     // time the flow was on, after warm-up
	// The traffic a seed fixes, whatever the policy: when the flow starts
	// and, for a short flow, the packets of its object (0: a long flow).
	uint64_t start_ns = 0;
	uint64_t object_packets = 0;
};

struct RunResult {
	std::string aqm_description;
	std::array<QueueStats, aqm::kQueueCount> queues;
	std::vector<FlowStats> flows;
	std::vector<double> utilisation; // link busy time per sample interval, whole run (retransmissions too)
	double utilisation_measured = 0; // goodput after warm-up: payload delivered / capacity
	Tally measured;                  // what the objective reads, after warm-up
	std::vector<Tally> segments;     // the same per RunOptions::segment_ns
	uint64_t measured_ns = 0;
	uint64_t events = 0;
	uint64_t packets = 0;             // data packets offered to the bottleneck
	uint64_t policy_calls = 0;
	uint64_t overridden = 0;          // dequeue verdicts the policy decided
	uint64_t first_override_ns = 0;   // when an override first took effect
	uint64_t first_policy_call_ns = 0; // when the pilot was first shown a decision
	uint64_t pilot_backoffs = 0;      // the harm guard's back-offs (policy/harm_guard.hpp)
	uint64_t first_backoff_ns = 0;
	uint64_t dequeue_decisions = 0;   // verdicts at dequeue (forward, mark, drop)
	uint64_t explored = 0;            // of them, re-drawn by RunOptions::epsilon
	experience::Pool pool;
	// The tuner's run: each closed interval's features and the setting in
	// force at its end (RunOptions::record_tune_states); what became of the
	// published settings; time each was in force (per action, the base last).
	struct TuneTrace {
		uint64_t at_ns = 0;
		uint16_t in_force = experience::kBaseSetting;
		experience::TuneState state{};
	};
	std::vector<TuneTrace> tune_states;
	uint64_t tune_applied = 0;  // settings that came into force
	uint64_t tune_stale = 0;    // arrived with their state already tune_ttl old: never applied
	uint64_t tune_expired = 0;  // lapsed in force: the base returned
	uint64_t tune_withdrawn = 0; // sent back to the base by the harm guard
	std::vector<uint64_t> tune_held_ns;
	std::string tune_error;     // why the run could not tune (then it ran on its base)

	double goodput_bps(const FlowStats &f) const;
	// Jain's index over the long TCP flows' goodputs (1 = perfectly even; -1 none).
	double jain_fairness() const;
	// What the objective (sim/objective.hpp) reads off the run.
	experience::ObjectiveInputs objective_inputs() const;
};

RunResult run_scenario(const Scenario &scenario, aqm::AnyAqm aqm, const RunOptions &options);

} // namespace dualpilot::sim
