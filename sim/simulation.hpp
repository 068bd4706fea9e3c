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

	double goodput_bps(const FlowStats &f) const;
	// Jain's index over the long TCP flows' goodputs (1 = perfectly even; -1 none).
	double jain_fairness() const;
	// What the objective (sim/objective.hpp) reads off the run.
	experience::ObjectiveInputs objective_inputs() const;
};

RunResult run_scenario(const Scenario &scenario, aqm::AnyAqm aqm, const RunOptions &options);

} // namespace dualpilot::sim
