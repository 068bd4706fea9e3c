// The model of policy/model.hpp evaluated token by token in double
// precision, with no batching, caching or shortcuts: the reference the cpu
// backend is held to (tests/test_policy_model.cpp, within 1e-5) and that
// `dualpilot-model check` runs a model file against. int8 weights are
// dequantised (q * scale of their row), so an int8 model's reference is the
// same arithmetic on the weights it really has. Slow (every token through
// every layer, in double): for checks, not for serving.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "policy/model.hpp"
#include "policy/window.hpp"

namespace dualpilot::policy {

class ReferenceForward {
public:
	// m must have passed check_config and check_tensors (read_model does both).
	explicit ReferenceForward(const Model &m);
	// The action distribution (action_count values; a verdict model's
	// enqueue, drop, ECN mark) for window w, which must carry its returns,
	// states and actions (no cache); 1 <= w.steps <= window.
	std::vector<double> forward(const Window &w) const;

private:
	struct Dense {
		std::vector<double> v; // row-major, dequantised
		uint32_t cols = 0;
	};
	const Dense &tensor(const std::string &name) const;
	std::vector<double> lin(const std::string &w, const std::string &b, const std::vector<double> &x) const;
	std::vector<double> ln(const std::string &p, const std::vector<double> &x) const;
	// The forward pass's steps: the window's tokens embedded (and the last
	// state token before its time embedding, for the head's residual), one
	// transformer block, and the causal self-attention inside it.
	using Tokens = std::vector<std::vector<double>>;
	Tokens embed(const Window &w, std::vector<double> &last_state) const;
	std::vector<double> state_tokens(const Window &w, uint32_t t, Tokens &s_tokens) const;
	void block(uint32_t layer, Tokens &x) const;
	Tokens attention(const std::string &h, const Tokens &x) const;

	ModelConfig cfg_;
	std::map<std::string, Dense> w_; // every tensor, in double
};

// The same, once (the weights converted for this call alone).
std::vector<double> forward_reference(const Model &m, const Window &w);

} // namespace dualpilot::policy
