// A model file as the simulator's closed-loop pilot: the model on the cpu
// backend inside the pilot loop the router's policy worker runs
// (policy/pilot_loop.hpp), over the simulator's two queues. With it a
// trained policy is judged where it acts, on queue delay and utilisation,
// not only on how often it agrees with the AQM it learnt from.
#pragma once

#include <memory>
#include <string>

#include "policy/model.hpp"
#include "policy/pilot_loop.hpp"
#include "policy/tune_loop.hpp"
#include "sim/simulation.hpp"

namespace dualpilot::sim {

class SimPolicy {
public:
	// Error text or empty.
	[[nodiscard]] std::string load(const std::string &model_path);
	// The same from a model in memory (dualpilot-finetune's candidates).
	[[nodiscard]] std::string load(const policy::Model &model);
	// For RunOptions::pilot: each run restarts it with its own options and
	// objective (fresh contexts, harm guards and counters).
	policy::PilotLoop *loop() { return &loop_; }
	// Of the last run.
	uint64_t invalid_outputs() const { return loop_.stats().invalid_outputs; }

private:
	policy::PilotLoop loop_;
};

// A tuner model file as the simulator's tuner: the model on the cpu backend
// inside the tuner loop the router's policy worker runs
// (policy/tune_loop.hpp), over the bottleneck as its one port.
class SimTuner {
public:
	// Error text or empty. The model must fit the table of `tune`.
	[[nodiscard]] std::string load(const std::string &model_path, const policy::TuneConfig &tune = {});
	[[nodiscard]] std::string load(const policy::Model &model, const policy::TuneConfig &tune = {});
	// For RunOptions::tuner: each run restarts it with its own port.
	policy::TuneLoop *loop() { return &loop_; }
	const policy::TuneLoop &loop_const() const { return loop_; }

private:
	policy::TuneLoop loop_;
};

// Either kind of model in the closed loop, told apart by its features (the
// tuner's, experience::kTuneFeatureNames, or the sampled decisions'): the
// verdict pilot, with the pilot profile's decision interval and override
// hold, or the tuner, with `tune`.
class SimModel {
public:
	[[nodiscard]] std::string load(const policy::Model &model, const policy::TuneConfig &tune = {});
	[[nodiscard]] std::string load(const std::string &model_path, const policy::TuneConfig &tune = {});
	bool is_tuner() const { return is_tuner_; }
	// Of the last run: outputs not finite; the tuner's loop.
	uint64_t invalid_outputs() const
	{
		return is_tuner_ ? tuner_.loop_const().stats().invalid_outputs : pilot_.invalid_outputs();
	}
	const policy::TuneLoop &tune_loop() const { return tuner_.loop_const(); }
	// Puts the model in a run's options at this decision delay.
	void attach(RunOptions &opt, uint64_t decision_delay_ns);

private:
	bool is_tuner_ = false;
	policy::TuneConfig tune_;
	SimPolicy pilot_;
	SimTuner tuner_;
};

} // namespace dualpilot::sim
