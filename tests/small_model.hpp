// The small policy model the router tests run: the sampler's features, one
// block of width 16, a window of 8; random weights from a seed. Small enough
// that a forward pass costs the tests nothing, large enough to be the model
// the router and the policy worker run for real.
#pragma once

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "policy/model.hpp"
#include "experience/pool.hpp"

namespace dualpilot::dataplane::testing {

inline policy::ModelConfig small_model_config()
{
	policy::ModelConfig c;
	c.feature_count = experience::kFeatureCount;
	c.feature_embed = 4;
	c.d_model = 16;
	c.layers = 1;
	c.heads = 2;
	c.window = 8;
	c.mlp_hidden = 32;
	c.kernels.assign(c.feature_count, 1);
	c.feature_names.assign(experience::kFeatureNames.begin(), experience::kFeatureNames.end());
	c.rtg_scale = 1000;
	return c;
}

inline policy::Model small_model(uint64_t seed) { return policy::random_model(small_model_config(), seed); }

// A small model whose head leans hard one way: bias added to one action's
// logit. nan: a NaN among the head's weights, so that every output is NaN.
inline policy::Model leaning_model(int action, float bias, bool nan = false)
{
	policy::Model m = small_model(3);
	m.find("head.b")->values[static_cast<size_t>(action)] += bias;
	if (nan)
		m.find("head.w")->values[5] = std::nanf("");
	return m;
}

// A copy of the model file `good` at `damaged` with one byte overwritten at
// `fraction` of its length: a file whose checksum no longer holds, for the
// reload tests' refused models.
inline void write_damaged_copy(const std::string &good, const std::string &damaged, double fraction, char byte)
{
	std::filesystem::copy_file(good, damaged, std::filesystem::copy_options::overwrite_existing);
	std::fstream f(damaged, std::ios::in | std::ios::out | std::ios::binary);
	f.seekp(static_cast<std::streamoff>(static_cast<double>(std::filesystem::file_size(damaged)) * fraction));
	f.put(byte);
}

} // namespace dualpilot::dataplane::testing
