// The tuner's training data (issue 27; docs/training.md, "The tuner"): on
// training cells only, every setting of the tune table runs whole (the
// hindsight the labels come from), and behaviour runs change the setting
// at random times (piecewise-random schedules over the table and the base)
// while the tuner's features are recorded. Each recorded interval becomes
// one pool entry: its features, and as its action the setting with the best
// score over the next horizon_ns of the same traffic (the same seed) among
// those that stay within the tuner's per-scenario limits against the base
// (issue 27: the L queue's p99 at most the base's + 0.1 ms, utilisation at
// most a point under the base's, the coupling's rate balance within 0.5-2
// where both classes run long flows). The behaviour's own settings are in
// the features, not in the labels: the model learns which setting is best
// from whatever is in force, which imitation of the behaviour could not.
//
// The base is the tuned default: the setting of the table (or tc's
// defaults) with the best mean score over these cells among those that keep
// the L4S promise on 90 % of them, the rule dualpilot-baselines' search
// uses (sim/heldout_bench.hpp), so that the tuner learns over the DualPI2
// it will be judged against and runs over.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "aqm/aqm.hpp"
#include "experience/tune_state.hpp"
#include "policy/tune.hpp"
#include "sim/scenario.hpp"

namespace dualpilot::sim {

struct TuneDataConfig {
	policy::TuneConfig tune;
	uint32_t behaviour_runs = 2;             // per cell
	uint64_t min_hold_ns = 500000000;        // a behaviour's setting holds 0.5 ..
	uint64_t max_hold_ns = 3000000000ull;    // .. 3 s
	double base_share = 0.1;                 // of a behaviour's settings, the base
	uint64_t segment_ns = 1000000000;        // the whole runs' tallies
	uint64_t horizon_ns = 2000000000;        // a label looks this far ahead
	std::vector<uint64_t> decision_delays_ns; // each behaviour run draws one (a feature)
	uint32_t threads = 2;
};

// The entries, in run order (one episode per behaviour run).
struct TuneData {
	std::vector<float> states; // entries x kTuneFeatureCount
	std::vector<uint8_t> labels;
	std::vector<uint8_t> dones;
	std::vector<uint32_t> label_counts; // per action
	std::vector<aqm::Setting> base;     // the base the behaviours ran over (the searched one)
	std::string base_label;             // "tc defaults" or the table's setting
	uint32_t cells_none_within = 0;     // cells where no setting met every limit (balance relaxed)
	uint64_t runs = 0;
	size_t size() const { return labels.size(); }
};

// A table entry's settings as tc-dualpi2 names them (typical_rtt, max_rtt,
// step_thresh, coupling_factor), for aqm::make_aqm.
std::vector<aqm::Setting> settings_of(const policy::TuneSetting &s);

// Issue 27's per-scenario limits on what the tuner may trade against its
// base, for one run's figures: the L queue's p99 (ms), utilisation (0..1)
// and the L4S-over-Classic long-flow rate balance (< 0: not both classes).
// balance = false leaves the balance out.
bool within_tuner_limits(double l99_ms, double util, double rate_balance, double base_l99_ms, double base_util,
			 bool balance = true);

// cells[i] runs with seeds[i]. Error text, or empty.
[[nodiscard]] std::string make_tune_data(const TuneDataConfig &c, const std::vector<Scenario> &cells,
					 const std::vector<uint64_t> &seeds, TuneData &out);

} // namespace dualpilot::sim
