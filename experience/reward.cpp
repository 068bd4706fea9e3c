#include "experience/reward.hpp"

#include "experience/features.hpp"

namespace dualpilot::experience {

Objective RewardSpec::objective() const
{
	Objective o = base;
	if (delay_offset_us > 0) {
		o.reward = RewardKind::paper;
		o.paper_delay_offset_us = delay_offset_us;
	} else {
		o.reward = RewardKind::objective;
	}
	return o;
}

double RewardSpec::of(double packet_bytes, double delay_us) const
{
	return decision_reward(objective(), false, packet_bytes, delay_us, kEnqueue);
}

std::string RewardSpec::definition() const { return reward_definition(objective()); }

float RewardSpec::of_state(const float *state, uint8_t action) const
{
	return static_cast<float>(decision_reward(objective(), state[0] > 0.5f, state[kPacketLengthFeature],
						  state[kQueueDelayFeature], action));
}

} // namespace dualpilot::experience
