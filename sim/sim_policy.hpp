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

} // namespace dualpilot::sim
