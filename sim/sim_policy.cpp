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
	if (std::string err = policy::state_feature_index(m.config, feature_of_); !err.empty())
		return model_path + ": " + err;
	fwd_ = std::make_unique<policy::CpuForward>(m);
	return {};
}

PolicyFn SimPolicy::function()
{
	const policy::ModelConfig &c = fwd_->config();
	const uint32_t tok = fwd_->embeds_steps() ? c.tokens_per_step() * c.d_model : 0;
	contexts_.assign(aqm::kQueueCount, policy::QueueContext(c.window, c.feature_count, c.target_return * c.rtg_scale, tok));
	model_state_.resize(c.feature_count);
	step_tokens_.resize(tok);
	returns_.resize(c.window);
	states_.resize(size_t{c.window} * c.feature_count);
	actions_.resize(c.window);
	tokens_.resize(size_t{c.window} * tok);
	return [this](const std::array<float, kFeatureCount> &state, aqm::QueueId q, uint8_t action, uint64_t,
		      ActionProbs &out) { return decide(state, q, action, out); };
}

bool SimPolicy::decide(const std::array<float, kFeatureCount> &state, aqm::QueueId queue, uint8_t action,
		       ActionProbs &out)
{
	policy::QueueContext &ctx = contexts_[static_cast<int>(queue)];
	const float reward = RewardSpec{fwd_->config().reward_offset_us}.of_state(state.data());
	for (size_t f = 0; f < feature_of_.size(); f++)
		model_state_[f] = state[feature_of_[f]];
	const float *tokens = nullptr;
	if (!step_tokens_.empty()) {
		fwd_->embed_step(ctx.next_return(), model_state_.data(), action, step_tokens_.data());
		tokens = step_tokens_.data();
	}
	ctx.push(model_state_.data(), action, reward, tokens);
	const policy::Window w =
		ctx.layout(returns_.data(), states_.data(), actions_.data(), tokens_.empty() ? nullptr : tokens_.data());
	policy::Probs p;
	fwd_->forward(&w, 1, &p);
	if (!(std::isfinite(p.p[0]) && std::isfinite(p.p[1]) && std::isfinite(p.p[2]))) {
		invalid_++;
		return false; // no override: the AQM goes on deciding
	}
	out.p = p.p;
	return true;
}

} // namespace dualpilot::sim
