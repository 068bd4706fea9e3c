// The pilot as a tuner (issue 27; docs/pilot.md, "The tuner"): instead of
// overriding DualPI2's verdicts packet by packet, the model sets each port's
// DualPI2 settings every tune_interval, and DualPI2 carries on underneath
// with its PI state. This file holds what the router's [policy] action =
// "tune" and [policy.tune] say, the table of settings the model picks among
// (its actions), the guard rails no setting may leave, and the DualPI2
// parameters a setting gives a port.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "aqm/dualpi2.hpp"
#include "experience/tune_state.hpp"

namespace dualpilot::policy {

// What the model decides: "verdict" (the paper's per-packet enqueue, drop
// or mark, the fidelity mode) or "tune" (a port's DualPI2 settings).
enum class PilotAction : uint8_t { verdict, tune };
inline constexpr std::string_view kPilotActionNames[] = {"verdict", "tune"};

// One DualPI2 setting the tuner may give a port: tc-dualpi2's typical_rtt
// (= the target) and max_rtt, from which tc derives tupdate, alpha and beta;
// the L4S step threshold (in time) and the coupling factor k.
struct TuneSetting {
	uint64_t target_ns = 0;
	uint64_t max_rtt_ns = 0;
	uint64_t step_thresh_ns = 0;
	uint32_t coupling = 0;
};

struct TuneConfig {
	uint64_t interval_ns = 100000000;  // tune_interval: one decision per port
	uint32_t steps_per_interval = 10;  // state records per interval (10 ms at the default)
	uint64_t ttl_ns = 500000000;       // tune_ttl: a setting lapses this long after the state it came from
	// Hysteresis: the setting in force (the loop's last choice, else the
	// base) stays unless the model's most likely setting beats it by more
	// than this in probability, so that near ties do not flip the PI's
	// settings interval after interval. 0: the most likely setting, always.
	// 0.2 was chosen on the dev family against 0 (perf/RESULTS.md, "The
	// tuner on the dev family").
	double switch_margin = 0.2;
	// The bins; the actions are their product, target outermost, coupling
	// innermost (the model's action i is tune_actions()[i]).
	std::vector<uint64_t> targets_ns{5000000, 15000000, 30000000};
	std::vector<uint64_t> max_rtts_ns{50000000, 200000000};
	std::vector<uint64_t> step_threshs_ns{500000, 1000000, 2000000};
	std::vector<uint32_t> couplings{2, 3};
	// The guard rails: a bin outside them is refused when the config is
	// read, and a record naming anything outside the table is never applied.
	uint64_t target_min_ns = 1000000, target_max_ns = 100000000;
	uint64_t max_rtt_min_ns = 10000000, max_rtt_max_ns = 1000000000;
	uint64_t step_thresh_min_ns = 100000, step_thresh_max_ns = 10000000;
	uint32_t coupling_min = 1, coupling_max = 8;
	// The harm guard on the tuner, relative to the port's base settings: an
	// interval is harmful when a tuned setting is in force, the link is
	// full (util_100ms at least harm_load: a standing queue then buys no
	// throughput; one that keeps a long-RTT link busy is not harmed, which
	// is why a table's target may sit above harm_classic_factor x the base's)
	// and the Classic median sojourn
	// exceeds harm_classic_factor x the base's target, or the L4S median
	// exceeds harm_l4s_factor x the base's step threshold. After
	// harm_trip_intervals in a row the base returns for harm_backoff_ns
	// (doubled at each repeat, up to harm_max_backoff_ns).
	double harm_classic_factor = 3;
	double harm_l4s_factor = 4;
	double harm_load = 0.95;
	uint32_t harm_trip_intervals = 3;
	uint64_t harm_backoff_ns = 1000000000;
	uint64_t harm_max_backoff_ns = 16000000000ull;
	// An interval whose util_100ms is below idle_load is not decided on:
	// every training run's flows start at once, so an idle port's features
	// lie outside what the model saw. The setting in force is kept and
	// lapses tune_ttl after the state it came from, so a port left idle
	// returns to its base. Low enough (0.01) to leave a slow start's first
	// intervals on a long, fast path to the model (docs/pilot.md).
	double idle_load = 0.01;
};

// The settings a config's bins make, in the model's action order.
std::vector<TuneSetting> tune_actions(const TuneConfig &c);
// Bounds and rails: every bin inside its rails, the interval and TTL sane.
// Error text naming the key, or empty.
[[nodiscard]] std::string check_tune_config(const TuneConfig &c);
// Whether a setting lies inside the rails.
bool within_rails(const TuneConfig &c, const TuneSetting &s);
// The DualPI2 parameters of `base` with setting s in force (its target,
// tupdate, alpha and beta derived from s as tc-dualpi2 derives them). Error
// text, or empty.
[[nodiscard]] std::string tuned_params(const aqm::DualPi2Params &base, const TuneSetting &s, aqm::DualPi2Params &out);
// A setting as the tuner's features read it; max_rtt from beta (tc's
// beta = 0.3 / max_rtt) where the parameters were given as gains.
experience::TuneSettingView view_of(const aqm::DualPi2Params &p);
// The table's entry nearest to p (log distance over target, max_rtt and
// step_thresh, then coupling): what the model's action tokens call the base.
uint32_t nearest_action(const std::vector<TuneSetting> &actions, const aqm::DualPi2Params &p);
// "target 15ms max_rtt 200ms step 1ms k 2".
std::string describe(const TuneSetting &s);

} // namespace dualpilot::policy
