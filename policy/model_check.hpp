// dualpilot-model check: a model file through the cpu backend and through
// the double-precision reference (policy/forward_reference.hpp) on windows
// drawn from experience pools, before it goes to a fleet. The windows are
// what training and the router feed the model: the model's features found by
// name in the pools (state_feature_index), returns-to-go per episode with
// the model's gamma, the ring slot of a window its first step's index in the
// episode modulo w.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "policy/model.hpp"
#include "policy/returns.hpp"
#include "experience/pool.hpp"

namespace dualpilot::policy {

struct CheckOptions {
	size_t windows = 2000;   // at most; evenly spaced over every decision of the pools
	double tolerance = 1e-4; // on max |p_cpu - p_ref|; int8 models against the reference on the
	                         // weights they hold (dequantised), so the same bound serves both
};

struct CheckReport {
	size_t entries = 0, episodes = 0; // in the pools
	size_t windows = 0;               // checked
	bool int8 = false;                // the model holds int8 weights
	double max_diff = 0;              // max over windows and actions of |p_cpu - p_ref|
	std::string max_diff_at;          // "POOL entry I" of the window that reached it
	size_t argmax_agree = 0;          // windows where both pick the same most likely action
	size_t logged_agree = 0;          // windows where the cpu backend's pick is the logged action
	size_t non_finite = 0;            // windows with a probability that is not finite (either side)
	bool passed = false;              // max_diff within the tolerance, every output finite
};

// Returns-to-go of a pool (policy/returns.hpp): r_i + gamma r_{i+1} + ...,
// restarting after each done flag and at the pool's end, as dualpilot-train
// computes them.
inline std::vector<float> pool_returns_to_go(const experience::Pool &p, double gamma)
{
	return returns_to_go(p.rewards, p.dones, gamma);
}

// Checks m (read_model's checks passed) on the pools; names[i] names pool i
// in messages (or "pool i" when names is short). Error text, or empty with
// the report filled: a pool that lacks one of the model's features, no
// entries at all, no windows asked for.
[[nodiscard]] std::string check_model(const Model &m, const std::vector<experience::Pool> &pools,
				      const std::vector<std::string> &names, const CheckOptions &opt,
				      CheckReport &report);

} // namespace dualpilot::policy
