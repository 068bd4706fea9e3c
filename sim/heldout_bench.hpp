// The held-out benchmark's runs (issue 26; docs/benchmarks.md,
// "The held-out benchmark"): every policy on every scenario of a family with the same
// report seeds (a seed fixes the traffic whatever the policy), the search
// for the tuned default on training cells, the static oracle chosen on
// selection seeds that are not report seeds, the piecewise oracle chosen per
// segment with hindsight, and the pilot over a base DualPI2 at its decision
// delays. Runs go to `threads` workers; the figures do not depend on how
// many.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "policy/pilot_profile.hpp"
#include "sim/bench_grid.hpp"
#include "experience/objective.hpp"
#include "sim/scenario.hpp"
#include "sim/simulation.hpp"
#include "policy/tune.hpp"

namespace dualpilot::sim {

// One run's figures, the score with the utilisation floor and without it.
struct RunFigures {
	double score = 0, score_nofloor = 0;
	double l50 = 0, l99 = 0, c50 = 0, c99 = 0; // ms, scored sojourn (drops at their penalty)
	double util = 0, jain = -1, balance = -1;
};
RunFigures figures_of(const experience::ObjectiveInputs &exact, const experience::Objective &o);

// The DualPI2 the pilot overrides: the searched tuned default, tc's
// defaults, or BenchConfig::pilot_base_settings (the pilot profile's base).
enum class PilotBase { tuned, tc, settings };

struct BenchConfig {
	std::vector<Candidate> grid;             // [0]: tc's defaults
	std::vector<uint64_t> report_seeds;      // every policy, every scenario
	std::vector<uint64_t> selection_seeds;   // the static oracle's choice only
	uint64_t segment_ns = 2000000000;        // the piecewise oracle's segments
	std::string model_path;                  // the pilot; empty: none
	std::string tuner_path;                  // the tuner (policy/tune_loop.hpp) over the same base; empty: none
	policy::TuneConfig tune;                 // the tuner's table, interval and TTL
	PilotBase pilot_base = PilotBase::tuned;
	std::vector<aqm::Setting> pilot_base_settings; // PilotBase::settings
	// The pilot's closed loop: the pilot profile's (configs/pilot/profile.toml).
	std::vector<uint64_t> decision_delays_ns{policy::pilot_profile::kDecisionDelaysNs.begin(),
						 policy::pilot_profile::kDecisionDelaysNs.end()};
	uint32_t inference_interval = policy::pilot_profile::kInferenceInterval;
	uint64_t override_ttl_ns = policy::pilot_profile::kOverrideTtlNs;
	uint32_t threads = 2;
};

// The tuned default's search on training scenarios: each candidate's mean
// score, whether it keeps the L4S promise on kL4sPromiseShare of them, and
// the best that does.
struct SearchResult {
	std::vector<double> mean_score;
	std::vector<bool> admissible;
	size_t best = 0;
};
[[nodiscard]] std::string search_tuned(const BenchConfig &c, const std::vector<Scenario> &training,
				       const std::vector<uint64_t> &training_seeds, SearchResult &out);

// Everything measured on one held-out scenario. Policies by index: then the
// pilot per decision delay (with a model), then the tuner per decision
// delay (with one): learned_index().
enum BenchPolicy : int { kTc, kTuned, kOracle, kPiecewise, kPilotFirst };
inline int learned_index(const BenchConfig &c, bool tuner, size_t delay)
{
	const size_t pilots = c.model_path.empty() ? 0 : c.decision_delays_ns.size();
	return kPilotFirst + static_cast<int>((tuner ? pilots : 0) + delay);
}
struct ScenarioResult {
	std::string name;
	size_t oracle = 0;                          // the static oracle's candidate
	std::vector<std::vector<RunFigures>> runs;  // [policy][report seed]; pilots from kPilotFirst per delay
	std::vector<std::vector<size_t>> piecewise_choice; // [report seed][segment]: the candidate chosen
};
[[nodiscard]] std::string run_family(const BenchConfig &c, const std::vector<Scenario> &family, size_t tuned,
				     std::vector<ScenarioResult> &out, void (*progress)(size_t done, size_t total) = nullptr);

} // namespace dualpilot::sim
