#include "policy/model.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "aqm/observe.hpp"
#include "experience/features.hpp"
#include "aqm/random.hpp"

namespace dualpilot::policy {

const Tensor *Model::find(const std::string &name) const
{
	for (const Tensor &t : tensors)
		if (t.name == name)
			return &t;
	return nullptr;
}

Tensor *Model::find(const std::string &name)
{
	for (Tensor &t : tensors)
		if (t.name == name)
			return &t;
	return nullptr;
}

uint64_t Model::parameter_count() const
{
	uint64_t n = 0;
	for (const Tensor &t : tensors)
		n += t.elements();
	return n;
}

std::vector<std::pair<std::string, std::vector<uint32_t>>> expected_tensors(const ModelConfig &c)
{
	const uint32_t d = c.d_model, e = c.feature_embed, F = c.feature_count;
	std::vector<std::pair<std::string, std::vector<uint32_t>>> t;
	t.push_back({"norm.mean", {F}});
	t.push_back({"norm.std", {F}});
	for (uint32_t f = 0; f < F; f++) {
		t.push_back({fmt::format("enc.{}.w", f), {e, f < c.kernels.size() ? c.kernels[f] : 1}});
		t.push_back({fmt::format("enc.{}.b", f), {e}});
	}
	if (c.state_layout == StateLayout::per_feature) {
		for (uint32_t f = 0; f < F; f++) {
			t.push_back({fmt::format("enc.{}.proj.w", f), {d, e}});
			t.push_back({fmt::format("enc.{}.proj.b", f), {d}});
		}
	} else {
		t.push_back({"enc.proj.w", {d, F * e}});
		t.push_back({"enc.proj.b", {d}});
	}
	t.push_back({"rtg.w", {d, 1}});
	t.push_back({"rtg.b", {d}});
	t.push_back({"act.emb", {c.action_count, d}});
	t.push_back({"time.emb", {c.window, d}});
	t.push_back({"ln_in.g", {d}});
	t.push_back({"ln_in.b", {d}});
	for (uint32_t l = 0; l < c.layers; l++) {
		const std::string h = fmt::format("h{}.", l);
		t.push_back({h + "ln1.g", {d}});
		t.push_back({h + "ln1.b", {d}});
		t.push_back({h + "attn.qkv.w", {3 * d, d}});
		t.push_back({h + "attn.qkv.b", {3 * d}});
		t.push_back({h + "attn.proj.w", {d, d}});
		t.push_back({h + "attn.proj.b", {d}});
		t.push_back({h + "ln2.g", {d}});
		t.push_back({h + "ln2.b", {d}});
		t.push_back({h + "mlp.fc.w", {c.mlp_hidden, d}});
		t.push_back({h + "mlp.fc.b", {c.mlp_hidden}});
		t.push_back({h + "mlp.proj.w", {d, c.mlp_hidden}});
		t.push_back({h + "mlp.proj.b", {d}});
	}
	t.push_back({"ln_f.g", {d}});
	t.push_back({"ln_f.b", {d}});
	t.push_back({"head.w", {c.action_count, d}});
	t.push_back({"head.b", {c.action_count}});
	return t;
}

std::string check_config(const ModelConfig &c)
{
	auto range = [](const char *name, uint64_t v, uint64_t lo, uint64_t hi) -> std::string {
		if (v < lo || v > hi)
			return fmt::format("{} = {} is outside {}..{}", name, v, lo, hi);
		return {};
	};
	for (const std::string &err :
	     {range("feature_count", c.feature_count, 1, kMaxFeatures), range("feature_embed", c.feature_embed, 1, 1024),
	      range("d_model", c.d_model, 1, 8192), range("layers", c.layers, 0, 128), range("heads", c.heads, 1, 128),
	      range("window", c.window, 1, 1024), range("mlp_hidden", c.mlp_hidden, 1, 65536),
	      range("action_count", c.action_count, 2, kMaxActions)})
		if (!err.empty())
			return err;
	if (c.d_model % c.heads != 0)
		return fmt::format("d_model = {} is not a multiple of heads = {}", c.d_model, c.heads);
	if (c.backbone != Backbone::transformer)
		return fmt::format("unknown backbone kind {}", static_cast<uint32_t>(c.backbone));
	if (c.state_layout != StateLayout::concat && c.state_layout != StateLayout::per_feature)
		return fmt::format("unknown state layout {}", static_cast<uint32_t>(c.state_layout));
	if (c.kernels.size() != c.feature_count || c.feature_names.size() != c.feature_count)
		return fmt::format("{} features but {} kernel sizes and {} names", c.feature_count, c.kernels.size(),
				   c.feature_names.size());
	for (uint32_t f = 0; f < c.feature_count; f++) {
		if (c.kernels[f] == 0 || c.kernels[f] % 2 == 0 || c.kernels[f] > 15 || c.kernels[f] > c.window)
			return fmt::format("feature {} ({}): kernel {} is not odd, in 1..15 and within the window of {}", f,
					   c.feature_names[f], c.kernels[f], c.window);
		if (c.feature_names[f].empty() || c.feature_names[f].size() >= kFeatureNameLen)
			return fmt::format("feature {}: name must be 1..{} characters", f, kFeatureNameLen - 1);
	}
	for (float v : {c.target_return, c.rtg_scale, c.reward_offset_us, c.gamma})
		if (!std::isfinite(v))
			return "target_return, rtg_scale, reward_offset_us and gamma must be finite";
	if (c.rtg_scale <= 0)
		return "rtg_scale must be positive";
	return {};
}

std::string check_tensors(const Model &m)
{
	const auto want = expected_tensors(m.config);
	if (m.tensors.size() != want.size())
		return fmt::format("{} tensors, but this architecture has {}", m.tensors.size(), want.size());
	for (size_t i = 0; i < want.size(); i++) {
		const Tensor &t = m.tensors[i];
		if (t.name != want[i].first)
			return fmt::format("tensor {} is '{}', expected '{}'", i, t.name, want[i].first);
		if (t.shape != want[i].second) {
			auto dims = [](const std::vector<uint32_t> &shape) { return fmt::format("{}", fmt::join(shape, "x")); };
			const std::string got = dims(t.shape), exp = dims(want[i].second);
			return fmt::format("tensor '{}' has shape [{}], the hyper-parameters say [{}]", t.name, got, exp);
		}
		if (t.dtype == DType::f32 && t.values.size() != t.elements())
			return fmt::format("tensor '{}': {} values for {} elements", t.name, t.values.size(), t.elements());
		if (t.dtype == DType::i8 &&
		    (t.shape.size() != 2 || t.q.size() != t.elements() || t.scales.size() != t.shape[0]))
			return fmt::format("tensor '{}': int8 needs a 2-D weight and one scale per row", t.name);
	}
	return {};
}

Model random_model(const ModelConfig &c, uint64_t seed)
{
	Model m;
	m.config = c;
	aqm::Rng rng(seed);
	for (const auto &[name, shape] : expected_tensors(c)) {
		Tensor t;
		t.name = name;
		t.shape = shape;
		t.values.assign(t.elements(), 0.0f);
		const bool gain = name.ends_with(".g") || name == "norm.std";
		if (gain) {
			std::fill(t.values.begin(), t.values.end(), 1.0f);
		} else if (shape.size() == 2 || name.ends_with(".b")) {
			// Xavier-uniform on matrices; small biases so that they matter in tests.
			const double fan = shape.size() == 2 ? shape[0] + shape[1] : 4.0 * shape[0];
			const double bound = std::sqrt(6.0 / fan) * (shape.size() == 2 ? 1.0 : 0.1);
			for (float &v : t.values)
				v = static_cast<float>((rng.next_double() * 2 - 1) * bound);
		}
		m.tensors.push_back(std::move(t));
	}
	return m;
}

std::string feature_index(const ModelConfig &c, std::span<const char *const> names, std::vector<int> &index,
			  std::string_view whose)
{
	index.clear();
	for (const std::string &name : c.feature_names) {
		const auto it = std::find(names.begin(), names.end(), name);
		if (it == names.end())
			return fmt::format("the model's feature '{}' is not one of the {} ({})", name, whose, fmt::join(names, " "));
		index.push_back(static_cast<int>(it - names.begin()));
	}
	return {};
}

std::string state_feature_index(const ModelConfig &c, std::vector<int> &index)
{
	index.clear();
	// The sampled decisions are verdicts: a model of another action count
	// (a tuner's settings) would have its outputs read as drop and mark.
	if (c.action_count != kVerdictActions)
		return fmt::format("the model has {} actions, not the 3 verdicts (enqueue, drop, mark) a pilot of "
				   "decisions gives; a tuner's model runs with [policy] action = \"tune\"",
				   c.action_count);
	return feature_index(c, experience::kFeatureNames, index, "sampled state's");
}

void quantize_int8(Model &m)
{
	for (Tensor &t : m.tensors) {
		if (t.dtype != DType::f32 || t.shape.size() != 2 || !t.name.ends_with(".w") || t.name.starts_with("enc.") ||
		    t.name == "rtg.w")
			continue;
		const uint32_t rows = t.shape[0], cols = t.shape[1];
		t.q.resize(t.values.size());
		t.scales.resize(rows);
		for (uint32_t r = 0; r < rows; r++) {
			float amax = 0;
			for (uint32_t k = 0; k < cols; k++)
				amax = std::max(amax, std::fabs(t.values[r * cols + k]));
			const float scale = amax > 0 ? amax / 127.0f : 1.0f;
			t.scales[r] = scale;
			for (uint32_t k = 0; k < cols; k++)
				t.q[r * cols + k] = static_cast<int8_t>(std::lround(t.values[r * cols + k] / scale));
		}
		t.values.clear();
		t.dtype = DType::i8;
	}
}

} // namespace dualpilot::policy
