// A tiny GPT-2-layout checkpoint written by the tests themselves (nothing is
// downloaded): the Hugging Face tensor names and Conv1D [in][out] layout,
// with weights from a fixed-seed generator.
#pragma once

#include <fmt/format.h>

#include <random>
#include <string>

#include "policy/safetensors.hpp"

namespace dualpilot::policy::testing {

struct TinyGpt2 {
	uint64_t d = 16, layers = 2, heads = 2, mlp = 64, positions = 32, vocab = 10;
	std::string prefix;        // "" (GPT2Model) or "transformer." (GPT2LMHeadModel)
	bool heads_in_metadata = true;
	uint32_t seed = 5;
};

inline SafeTensors tiny_gpt2(const TinyGpt2 &g)
{
	SafeTensors st;
	std::mt19937 rng(g.seed);
	std::normal_distribution<float> n(0.0f, 0.2f);
	auto add = [&](const std::string &name, std::vector<uint64_t> shape, float fill_or_nan) {
		StTensor t;
		t.name = g.prefix + name;
		t.dtype = "F32";
		t.shape = std::move(shape);
		t.values.resize(t.elements());
		for (float &v : t.values)
			v = std::isnan(fill_or_nan) ? n(rng) : fill_or_nan + 0.1f * n(rng);
		st.tensors.push_back(std::move(t));
	};
	const float random = std::nanf("");
	add("wte.weight", {g.vocab, g.d}, random);
	add("wpe.weight", {g.positions, g.d}, random);
	for (uint64_t l = 0; l < g.layers; l++) {
		const std::string h = fmt::format("h.{}.", l);
		add(h + "ln_1.weight", {g.d}, 1.0f);
		add(h + "ln_1.bias", {g.d}, 0.0f);
		add(h + "attn.c_attn.weight", {g.d, 3 * g.d}, random);
		add(h + "attn.c_attn.bias", {3 * g.d}, random);
		add(h + "attn.c_proj.weight", {g.d, g.d}, random);
		add(h + "attn.c_proj.bias", {g.d}, random);
		add(h + "ln_2.weight", {g.d}, 1.0f);
		add(h + "ln_2.bias", {g.d}, 0.0f);
		add(h + "mlp.c_fc.weight", {g.d, g.mlp}, random);
		add(h + "mlp.c_fc.bias", {g.mlp}, random);
		add(h + "mlp.c_proj.weight", {g.mlp, g.d}, random);
		add(h + "mlp.c_proj.bias", {g.d}, random);
	}
	add("ln_f.weight", {g.d}, 1.0f);
	add("ln_f.bias", {g.d}, 0.0f);
	if (g.heads_in_metadata)
		st.metadata["n_head"] = std::to_string(g.heads);
	return st;
}

} // namespace dualpilot::policy::testing
