// The objective: one number per run that says how well a bottleneck was
// run, computed the same way by the simulator's report, the netns bed's
// report (perf/eval_report and perf/bed_report call dualpilot-score, which
// calls score() below) and the router's exit summary. Every policy in this
// project (DualPI2 with any parameters, PIE, CoDel, the learned pilot) is
// judged by it, and the per-decision reward written into experience pools
// is its per-packet share, so that a return-to-go means what the score
// means.
//
//   U      = u                               if u >= floor
//          = u * (u / floor)^floor_exponent  otherwise
//            (u: goodput, payload delivered / capacity, retransmissions excluded)
//   D_c    = 1 + ((1 - p99_weight) * p50_c + p99_weight * p99_c) / delay_ref_ms_c
//            (p50_c, p99_c: percentiles of the class's per-packet queue sojourn,
//             a dropped packet counted at its sojourn + drop_penalty_ms)
//   P_c    = U / D_c                          (power: utilisation per unit of delay)
//   score  = (sum_c w_c * P_c) / (sum_c w_c)  over the classes offered packets
//            * J^fairness_weight              (J: Jain's index over the long flows; 1 when unknown)
//            * B^balance_weight               (B = min(r, 1/r), r: the L4S long flows' mean
//                                              rate over the Classic ones'; 1 when unknown)
//
// c is the L4S or the Classic queue. D_c is 1 for an empty queue and grows by
// one for each delay_ref_ms_c of (mostly tail) queueing, so the score is at
// most 1 and halves when a class's delay reaches its reference. The floor
// makes the score fall steeply, not just in proportion, once utilisation
// drops below it: an AQM that empties the queue by starving the link loses.
// Why each term is as it is, with worked examples: docs/objective.md.
// Defaults: the table in docs/objective.md; every key's type and range:
// docs/configuration.md, "`[objective]`".
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include <toml++/toml.h>


namespace dualpilot::experience {

enum class RewardKind : uint8_t {
	objective, // the per-packet share of the score (the default)
	paper,     // the L4S-LLM paper's packet_length / (delay_us + offset)
};

struct Objective {
	double l4s_weight = 1;
	double classic_weight = 1;
	double l4s_delay_ref_ms = 1;      // L4S: RFC 9332's ~1 ms queue
	double classic_delay_ref_ms = 15; // Classic: DualPI2's target
	double p99_weight = 0.5;          // share of p99 in a class's delay; p50 has the rest
	double utilisation_floor = 0.85;
	double floor_exponent = 4;
	double fairness_weight = 1;
	// A drop enters its class's delay distribution at its sojourn plus this:
	// dropping the oldest packets can then never lower a percentile (every
	// dropped value is at least the sojourn it would have had), and a loss
	// costs its flow about one round trip before the retransmission lands;
	// 50 ms is a middle RTT of the held-out family's 1-200 ms.
	double drop_penalty_ms = 50;
	// DualPI2's coupling (k = 2, RFC 9332 section 2.1) is meant to give L4S
	// and Classic flows about equal rates; moving rate from one class's
	// flows to the other's costs the score min(r, 1/r) at weight 1 (a 1.6x
	// imbalance: 0.62), more than the delay such a move buys in the bed's
	// runs (docs/objective.md).
	double balance_weight = 1;
	RewardKind reward = RewardKind::objective;
	double paper_delay_offset_us = 1; // reward = "paper": the offset
};

// What a run shows one class of traffic; index 0 Classic, 1 L4S (aqm::QueueId).
struct ClassFigures {
	bool present = false; // offered packets (forwarded or dropped): a starved class still counts
	double p50_ms = 0, p99_ms = 0;
};

struct ObjectiveInputs {
	std::array<ClassFigures, 2> queue;
	double utilisation = 0;   // goodput / capacity, 0..1
	double jain = -1;         // < 0: unknown (the router sees no flows); the fairness term is 1
	double rate_balance = -1; // L4S long flows' mean rate / Classic ones'; < 0: unknown (a class has
				  // no long flow, or the router sees no flows); the balance term is 1
};

struct ObjectiveScore {
	double score = 0;
	double utilisation_term = 0; // U
	double fairness_term = 1;
	double balance_term = 1;
	std::array<double, 2> delay_factor{1, 1}; // D_c
};

ObjectiveScore score(const ObjectiveInputs &in, const Objective &o);
// The same objective with the utilisation floor off (U = u), which every
// table is also printed with: a ratio that rests on the floor shows there.
Objective without_floor(Objective o);

// The per-decision reward of one AQM decision on a packet of `len_bytes` in
// queue `l4s` after `delay_us` of sojourn, action 0 forward, 1 drop, 2 mark:
// objective: w_c / (w_L + w_C) * delivered / (1 + delay_ms / delay_ref_ms_c),
//   delivered = len_bytes / mtu_bytes, 0 when dropped; so the rewards of a
//   second of decisions add up to about the utilisation over the class's
//   delay factor (the score's power terms);
// paper: len_bytes / (delay_us + paper_delay_offset_us), whatever the action.
double decision_reward(const Objective &o, bool l4s, double len_bytes, double delay_us, uint8_t action,
		       double mtu_bytes = 1500);
// As pools record it in their 64-byte reward definition.
std::string reward_definition(const Objective &o);

// The [objective] table of a TOML file (every key checked, named with file
// and line on error); other tables are left alone, and a file without one
// leaves `out` at the defaults. Error text or empty.
[[nodiscard]] std::string read_objective(const toml::table &root, const std::string &origin, Objective &out);
[[nodiscard]] std::string load_objective(const std::string &path, Objective &out);
// The same from a file's text already read (the router's config).
[[nodiscard]] std::string parse_objective(std::string_view text, const std::string &origin, Objective &out);

// The score and its inputs on one line, as every reporter prints it:
// "objective: score S (L p50 A p99 B ms, C p50 C p99 D ms, utilisation U %, Jain J, balance R)".
// The inputs are rounded as printed (delays to 0.1 us, utilisation to 1e-6,
// Jain and balance to 1e-4) before scoring, so the line's score is what a reader gets
// from its figures; as_printed() is that rounding.
std::string objective_line(const ObjectiveInputs &in, const Objective &o);
ObjectiveInputs as_printed(const ObjectiveInputs &exact);

} // namespace dualpilot::experience
