#include "sim/sim_policy.hpp"

#include <cmath>
#include <fmt/format.h>

#include "policy/model_file.hpp"

namespace dualpilot::sim {

std::string SimPolicy::load(const std::string &model_path)
{
	policy::Model m;
	if (std::string err = policy::read_model(model_path, m); !err.empty())
		return err;
	if (std::string err = load(m); !err.empty())
		return model_path + ": " + err;
	return {};
}

std::string SimPolicy::load(const policy::Model &m)
{
	if (std::string err = policy::state_feature_index(m.config, feature_of_); !err.empty())
		return err;
	backend_ = std::make_unique<policy::CpuBackend>(m);
	return {};
}

PolicyFn SimPolicy::function(const experience::Objective &objective)
{
	objective_ = objective;
	if (backend_->config().reward_offset_us > 0) {
		objective_.reward = experience::RewardKind::paper;
		objective_.paper_delay_offset_us = backend_->config().reward_offset_us;
	}
	contexts_ = std::make_unique<policy::ContextSet>(*backend_, aqm::kQueueCount, 1, feature_of_);
	return [this](const std::array<float, experience::kFeatureCount> &state, aqm::QueueId q, uint8_t action, uint64_t,
		      ActionProbs &out) { return decide(state, q, action, out); };
}

bool SimPolicy::decide(const std::array<float, experience::kFeatureCount> &state, aqm::QueueId queue, uint8_t action,
		       ActionProbs &out)
{
	const auto q = static_cast<size_t>(queue);
	const float reward = static_cast<float>(experience::decision_reward(objective_, state[0] > 0.5f, state[experience::kPacketLengthFeature],
								   state[experience::kQueueDelayFeature], action));
	contexts_->push(q, state.data(), action, reward);
	const policy::Window w = contexts_->window(q, 0);
	policy::Probs p;
	backend_->forward(&w, 1, &p);
	if (!(std::isfinite(p.p[0]) && std::isfinite(p.p[1]) && std::isfinite(p.p[2]))) {
		invalid_++;
		return false; // no override: the AQM goes on deciding
	}
	out.p = p.p;
	return true;
}

} // namespace dualpilot::sim
