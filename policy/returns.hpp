// Returns-to-go, the decision transformer's conditioning (the L4S-LLM
// paper's R_t = sum_{i>=t} gamma^(i-t) r_i), per episode: training computes
// them for its windows and `dualpilot-model check` for the windows it replays,
// so both read a pool's returns the same way.
#pragma once

#include <cstdint>
#include <vector>

namespace dualpilot::policy {

// Returns-to-go per entry; an episode ends at each done flag (and at the end).
inline std::vector<float> returns_to_go(const std::vector<float> &rewards, const std::vector<uint8_t> &dones,
					double gamma)
{
	std::vector<float> out(rewards.size());
	double acc = 0;
	for (size_t i = rewards.size(); i-- > 0;) {
		if (dones[i])
			acc = 0; // the last step of an episode: nothing after it counts
		acc = rewards[i] + gamma * acc;
		out[i] = static_cast<float>(acc);
	}
	return out;
}

} // namespace dualpilot::policy
