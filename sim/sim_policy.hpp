// A model file as the simulator's closed-loop policy: the same context
// windows, return-to-go, step embedding and cpu backend as the router's
// policy worker, one queue decision per call. With it a trained policy is
// judged where it acts, on queue delay and utilisation, not only on how
// often it agrees with the AQM it learnt from.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "policy/cpu_backend.hpp"
#include "policy/context.hpp"
#include "policy/model.hpp"
#include "sim/simulation.hpp"

namespace dualpilot::sim {

class SimPolicy {
public:
	// Error text or empty.
	[[nodiscard]] std::string load(const std::string &model_path);
	// The same from a model in memory (dualpilot-finetune's candidates).
	[[nodiscard]] std::string load(const policy::Model &model);
	// The PolicyFn for RunOptions; fresh contexts for each run. A model
	// trained on the objective's rewards (reward_offset_us 0) sees the
	// rewards of `objective` in its contexts, one trained on the paper's reward the paper's.
	PolicyFn function(const experience::Objective &objective = {});
	uint64_t invalid_outputs() const { return invalid_; }

private:
	bool decide(const std::array<float, experience::kFeatureCount> &state, aqm::QueueId queue, uint8_t action, ActionProbs &out);

	std::unique_ptr<policy::CpuBackend> backend_;
	std::vector<int> feature_of_;
	std::unique_ptr<policy::ContextSet> contexts_;
	uint64_t invalid_ = 0;
	experience::Objective objective_;
};

} // namespace dualpilot::sim
