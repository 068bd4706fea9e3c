// How the CUDA engine is held to the cpu backend, shared by the engine's
// test (tests/test_gpu_engine.cpp, on a GPU) and the test that replays the
// engine's rounding on the CPU to argue the bounds (tests/
// test_gpu_rounding.cpp, on any machine): the bounds, the test models and
// the stream of decisions they are compared on.
//
// The bounds. The engine's matrix products read their inputs and weights
// rounded (TF32: 10 mantissa bits; bf16: 7) and sum in fp32; everything else
// is fp32 as on the CPU. Replaying the cpu backend with that rounding
// (CpuForward::forward_rounded) on these models and streams moves an action
// probability by at most 7.8e-4 with TF32 rounded to nearest and 1.9e-3
// truncated (cuBLAS does not say which its TF32 kernels do), 7.4e-3 with
// bf16 rounded to nearest (what the engine's __float2bfloat16 does) and
// 1.2e-2 truncated (test_gpu_rounding.cpp prints each model's figures and
// holds the replay to kEmulatedShare of the bound). The bound leaves the
// rest for what the replay does not model: cuBLAS's summation order and
// split sums, the engine's own fp32 kernels (exact erf, expf, LayerNorm and
// softmax sums in warp order): fp32 rounding in another order, of the order
// of 1e-6 in a probability.
//
// The most likely action. Random models have near ties (top-two gaps down to
// a few 1e-6) that any rounding may flip: the replay changes up to 4 of
// 1,546 argmaxes with TF32 and 11 with bf16. So the argmax is held to the
// cpu backend's only where its top-two gap exceeds kDecisiveGap bounds: a
// flip needs the two leading probabilities to close the gap, at most two
// bounds when each moves by at most one, so there every decision must
// agree; at least half the decisions are such (kDecisiveShare), so the
// check is not empty.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "gpu/gemm_precision.hpp"
#include "policy/context.hpp"
#include "policy/forward_cpu.hpp"
#include "policy/model.hpp"

namespace dualpilot::gpu::testing {

// Max absolute difference of any action probability from the cpu backend.
// fp32: the same arithmetic in another order (about 1e-6), bounded loosely.
inline constexpr double kFp32Tolerance = 1e-3;
inline constexpr double kTf32Tolerance = 3e-3;
inline constexpr double kBf16Tolerance = 2e-2;
inline double tolerance(Precision p)
{
	return p == Precision::bf16 ? kBf16Tolerance : p == Precision::tf32 ? kTf32Tolerance : kFp32Tolerance;
}
// Where the reference's top-two gap exceeds this many bounds, the argmax
// must agree; at least this share of the decisions must be such.
inline constexpr double kDecisiveGap = 3;
inline constexpr double kDecisiveShare = 0.5;
// The replay of the rounding alone may use this share of a bound.
inline constexpr double kEmulatedShare = 0.75;

// The rounding a precision's products apply, both ways it may be done.
inline std::vector<policy::GemmRounding> roundings(Precision p)
{
	using R = policy::GemmRounding;
	if (p == Precision::tf32)
		return {R::tf32_nearest, R::tf32_truncate};
	if (p == Precision::bf16)
		return {R::bf16_nearest, R::bf16_truncate};
	return {R::none};
}

// Over a model's K actions (the first K of p).
inline uint32_t argmax(const policy::Probs &p, uint32_t K)
{
	return static_cast<uint32_t>(std::max_element(p.p.begin(), p.p.begin() + K) - p.p.begin());
}

inline double top_two_gap(const policy::Probs &p, uint32_t K)
{
	std::vector<float> s(p.p.begin(), p.p.begin() + K);
	std::sort(s.begin(), s.end());
	return double(s[s.size() - 1]) - double(s[s.size() - 2]);
}

struct Comparison {
	double max_diff = 0;
	size_t decisions = 0;
	size_t argmax_changed = 0;  // among all decisions
	size_t decisive = 0;        // the reference's top-two gap over kDecisiveGap bounds
	size_t decisive_agree = 0;  // of those, the argmax agrees

	// One decision of a model of K actions.
	void add(const policy::Probs &ref, const policy::Probs &got, double tol, uint32_t K)
	{
		for (uint32_t a = 0; a < K; a++)
			max_diff = std::max(max_diff, double(std::abs(got.p[a] - ref.p[a])));
		decisions++;
		const bool same = argmax(ref, K) == argmax(got, K);
		argmax_changed += !same;
		if (top_two_gap(ref, K) > kDecisiveGap * tol) {
			decisive++;
			decisive_agree += same;
		}
	}
	bool enough_decisive() const { return double(decisive) >= kDecisiveShare * double(decisions); }
	std::string summary() const
	{
		return fmt::format("{} decisions, max |diff| {:.2e}, argmax changed {}, decisive {} of which agree {}",
				   decisions, max_diff, argmax_changed, decisive, decisive_agree);
	}
};

inline policy::ModelConfig config(uint32_t d, uint32_t layers, uint32_t heads, uint32_t window, uint32_t mlp)
{
	policy::ModelConfig c;
	c.feature_count = 8;
	c.feature_embed = 4;
	c.d_model = d;
	c.layers = layers;
	c.heads = heads;
	c.window = window;
	c.mlp_hidden = mlp;
	c.kernels.assign(8, 1);
	for (uint32_t f = 0; f < 8; f++)
		c.feature_names.push_back(fmt::format("f{}", f));
	c.rtg_scale = 100;
	return c;
}

// The shapes that matter: the default student (one block, slot time
// embedding), the teacher's (two blocks), per-feature tokens with Conv1d
// encoders and the head residual, a model with no block at all, and heads
// of 48 and 64 dimensions (the attention kernel's lanes hold one, and for 48
// part of a second, group of 32 dimensions; the others' heads have 8 or 16).
inline std::vector<std::pair<std::string, policy::ModelConfig>> architectures()
{
	std::vector<std::pair<std::string, policy::ModelConfig>> a;
	policy::ModelConfig student = config(16, 1, 2, 20, 32);
	student.time_embedding = policy::TimeEmbedding::ring_position;
	a.push_back({"student", student});
	a.push_back({"teacher", config(64, 2, 4, 20, 256)});
	policy::ModelConfig pf = config(32, 2, 4, 10, 64);
	pf.state_layout = policy::StateLayout::per_feature;
	pf.kernels = {1, 3, 5, 1, 3, 1, 1, 7};
	pf.head_residual = true;
	a.push_back({"per_feature_conv", pf});
	a.push_back({"no_blocks", config(16, 0, 2, 6, 16)});
	a.push_back({"heads_of_48", config(96, 2, 2, 10, 192)});
	policy::ModelConfig wide = config(128, 1, 2, 20, 256);
	wide.time_embedding = policy::TimeEmbedding::ring_position;
	a.push_back({"heads_of_64", wide});
	return a;
}

struct TestModel {
	std::string name;
	policy::Model model;
};

// Random models of every architecture, and the student and the teacher
// with their weight matrices quantised to int8 (the engine dequantises
// them at upload).
inline std::vector<TestModel> comparison_models(uint64_t seed)
{
	std::vector<TestModel> models;
	for (const auto &[name, c] : architectures())
		models.push_back({name, policy::random_model(c, seed)});
	for (size_t i : {0, 1}) {
		TestModel q = models[i];
		policy::quantize_int8(q.model);
		q.name += "_int8";
		models.push_back(std::move(q));
	}
	return models;
}

// The stream a model is compared on: queues take random steps and the dirty
// ones go out in passes of up to max_batch, pass(windows, n) each. Rounds
// push past the window, so the engine's rings wrap. Windows carry their raw
// steps (the gpu backend keeps no cache on the host), their queue and the
// steps fresh since the queue's previous pass, as policy::ContextSet lays
// them out.
template <class Pass>
void decision_stream(const policy::ModelConfig &c, uint32_t queues, uint32_t max_batch, int rounds, uint64_t seed,
		     Pass &&pass)
{
	const uint32_t W = c.window, F = c.feature_count;
	std::vector<policy::QueueContext> contexts(queues, policy::QueueContext(W, F, c.target_return * c.rtg_scale));
	std::vector<float> returns(size_t{max_batch} * W), states(size_t{max_batch} * W * F), state(F);
	std::vector<uint8_t> actions(size_t{max_batch} * W), dirty(queues, 0);
	std::vector<policy::Window> windows;
	std::mt19937 rng(static_cast<uint32_t>(seed));
	std::uniform_real_distribution<float> value(-2.0f, 2.0f);
	for (int round = 0; round < rounds; round++) {
		for (uint32_t k = 0; k < queues * 2; k++) {
			const uint32_t q = rng() % queues;
			for (float &v : state)
				v = value(rng) * 3;
			const auto action = static_cast<uint8_t>(rng() % c.action_count);
			const float reward = std::abs(value(rng)) * 10;
			contexts[q].push(state.data(), action, reward);
			dirty[q] = 1;
		}
		for (uint32_t q = 0; q < queues; q++) {
			if (!dirty[q])
				continue;
			dirty[q] = 0;
			const size_t i = windows.size();
			policy::Window w = contexts[q].layout(&returns[i * W], &states[i * W * F], &actions[i * W]);
			w.queue = q;
			w.fresh = contexts[q].take_fresh();
			windows.push_back(w);
			if (windows.size() == max_batch) {
				pass(windows.data(), windows.size());
				windows.clear();
			}
		}
		if (!windows.empty()) {
			pass(windows.data(), windows.size());
			windows.clear();
		}
	}
}

// The shipped trained models: in the source tree the test was built from,
// or under $DUALPILOT_SOURCE_DIR where the binary runs from another copy of
// the tree (scripts/gpu-check carries it to a GPU machine).
inline std::string models_dir(const char *built_from)
{
	const char *dir = std::getenv("DUALPILOT_SOURCE_DIR");
	return std::string(dir && *dir ? dir : built_from) + "/configs/models/";
}
inline constexpr const char *kShippedModels[] = {"paper-teacher.dpm", "paper-student.dpm"};

// The streams each model is compared on: the random models on 300 queues in
// passes of up to 256 (about 1,550 decisions in six rounds), the shipped
// ones on 64 queues in passes of 64.
struct StreamShape {
	uint32_t queues, max_batch;
	int rounds;
	uint64_t seed;
};
inline constexpr StreamShape kRandomModelStream{300, 256, 6, 5};
inline constexpr StreamShape kShippedModelStream{64, 64, 8, 9};

} // namespace dualpilot::gpu::testing
