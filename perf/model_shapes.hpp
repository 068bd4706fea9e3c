// The model shapes the benchmarks time: the default student (the small model
// distillation targets: one block, the ring-position time embedding, so the
// cpu backend caches its keys and values) and the teacher, over the router's
// sampled features, with random weights from policy::random_model.
#pragma once

#include "aqm/observe.hpp"
#include "experience/features.hpp"
#include "experience/tune_state.hpp"
#include "policy/model.hpp"

namespace dualpilot::bench {

inline policy::ModelConfig sized(uint32_t d, uint32_t layers, uint32_t heads, uint32_t embed, uint32_t mlp,
				 uint32_t window)
{
	policy::ModelConfig c;
	c.feature_count = experience::kFeatureCount;
	c.d_model = d;
	c.layers = layers;
	c.heads = heads;
	c.feature_embed = embed;
	c.mlp_hidden = mlp;
	c.window = window;
	c.kernels.assign(c.feature_count, 1);
	c.feature_names.assign(experience::kFeatureNames.begin(), experience::kFeatureNames.end());
	return c;
}

inline policy::ModelConfig student(uint32_t window)
{
	policy::ModelConfig c = sized(16, 1, 2, 4, 32, window);
	c.time_embedding = policy::TimeEmbedding::ring_position;
	return c;
}

inline policy::ModelConfig teacher(uint32_t window) { return sized(64, 2, 4, 16, 256, window); }

// The tuner's shape (issue 27): its 26 time-sampled features and one
// action per setting of the default table (36); d 64, 2 layers is what
// docs/training.md trains.
inline policy::ModelConfig tuner(uint32_t d, uint32_t layers, uint32_t heads, uint32_t window)
{
	policy::ModelConfig c = sized(d, layers, heads, 16, 4 * d, window);
	c.feature_count = experience::kTuneFeatureCount;
	c.kernels.assign(c.feature_count, 1);
	c.feature_names.assign(experience::kTuneFeatureNames.begin(), experience::kTuneFeatureNames.end());
	c.action_count = 36;
	return c;
}

} // namespace dualpilot::bench
