// Closed-loop fine-tuning of a pilot in the simulator, the verdict pilot or
// the tuner (told apart by the model's features, sim::SimModel). Offline training
// (dualpilot-train) fits a model to logged decisions; this improves it on
// what it is judged by, the objective's score in closed loop, with
// evolution strategies (Salimans et al., "Evolution Strategies as a Scalable
// Alternative to Reinforcement Learning", 2017):
//  - each generation draws population / 2 Gaussian directions e over the
//    model's weights (all of them but the input normalisation) and runs the
//    model at theta + sigma e and theta - sigma e as the pilot (enforce mode,
//    the router's guard rails and harm guard, the pilot profile's decision
//    interval and override hold: configs/pilot/profile.toml) over the base
//    DualPI2 on a minibatch of training scenarios, all with the generation's
//    seed and decision delay (the delays taken in turn, generation by
//    generation: by default the profile's, a CPU pass beside the router and
//    the paper's LLM inference, so that the pilot must hold up at both);
//  - a run's fitness is the mean over the minibatch of
//    log(score(pilot) / score(base alone)), the base run with the same seed,
//    each log clipped to [kMinLogRatio, kMaxLogRatio]: a gain counts at
//    most +0.5 (x1.65), so that one chaotic scenario's lucky tenfold ratio
//    cannot outvote the rest, while a loss counts nearly in full (down to
//    x0.05), so that harm anywhere is what the search avoids first;
//    fitnesses are replaced by centred ranks;
//  - theta moves along sum_i (rank+_i - rank-_i) e_i / (n sigma), with Adam;
//  - every eval_every generations the model is scored on the validation
//    scenarios at every decision delay (the geometric mean over scenarios
//    and delays of score(pilot) / score(base alone), each the mean of three
//    seeds, logs clipped as in training),
//    and the best model so far by that closed-loop figure is the result
//    (the starting model included): checkpoints are selected by closed
//    loop, not by the training fitness;
//  - with limit_penalty, a run that breaks the tuner's limits against the
//    base's run on the same seed loses that much of its log ratio, in
//    training and in validation.
// Deterministic for a given seed, whatever the thread count.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "aqm/aqm.hpp"
#include "policy/model.hpp"
#include "policy/pilot_profile.hpp"
#include "sim/scenario.hpp"

namespace dualpilot::sim {

inline constexpr double kMaxLogRatio = 0.5;
inline constexpr double kMinLogRatio = -3;
inline constexpr uint64_t kValidationSeeds[] = {201, 202, 203};

struct FinetuneConfig {
	std::vector<aqm::Setting> base = policy::pilot_profile::base_settings(); // the DualPI2 the pilot overrides
	uint32_t per_generation = 8;    // training scenarios per generation
	uint32_t population = 16;       // runs per generation, in antithetic pairs
	uint32_t generations = 40;
	uint32_t eval_every = 5;
	uint32_t threads = 2;
	std::vector<uint64_t> decision_delays_ns{policy::pilot_profile::kDecisionDelaysNs.begin(),
						 policy::pilot_profile::kDecisionDelaysNs.end()};
	double sigma = 0.02; // the directions' scale
	double lr = 0.01;    // Adam's step
	// Subtracted from a run's log ratio where it breaks the tuner's limits
	// against the base's run on the same seed (sim::within_tuner_limits:
	// L p99 + 0.1 ms, utilisation - 1 point, rate balance 0.5-2), and, in
	// validation, times the share of seeds that break them. 0: score alone.
	double limit_penalty = 0;
	uint64_t seed = 1;
	std::FILE *log = nullptr; // a line a generation and a validation; null: silent
};

struct FinetuneResult {
	policy::Model model;          // the best by validation
	double start_validation = 0;  // the starting model's validation figure
	double best_validation = 0;
	uint32_t best_generation = 0; // 0: the starting model
};

[[nodiscard]] std::string finetune(const policy::Model &start, const std::vector<Scenario> &train,
				   const std::vector<Scenario> &validation, const FinetuneConfig &c, FinetuneResult &out);

// The distinct (rate, RTT, mix) scenarios of a sweep file, or `count` of
// them drawn by `seed`; a sweep that touches a held-out rate, RTT or name is
// refused, as dualpilot-sim refuses it. Error text or empty.
[[nodiscard]] std::string sweep_scenarios(const std::string &sweep_path, const std::string &heldout_dir, uint32_t count,
					  uint64_t seed, std::vector<Scenario> &out);
// The scenario files of a directory, in name order; a held-out one, or a
// near twin of one of heldout_dir's (sim/heldout.hpp), is refused. Error
// text or empty.
[[nodiscard]] std::string directory_scenarios(const std::string &dir, const std::string &heldout_dir,
					      std::vector<Scenario> &out);

} // namespace dualpilot::sim
