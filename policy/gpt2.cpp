#include "policy/gpt2.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fstream>

#include "policy/safetensors.hpp"

namespace dualpilot::policy {

namespace {

// "n_head" from a Hugging Face config.json next to the checkpoint, or 0.
uint32_t heads_from_config_json(const std::string &path)
{
	const std::filesystem::path cfg = std::filesystem::path(path).parent_path() / "config.json";
	std::ifstream in(cfg);
	if (!in)
		return 0;
	try {
		const nlohmann::json j = nlohmann::json::parse(in);
		if (j.is_object() && j.contains("n_head") && j["n_head"].is_number_unsigned())
			return j["n_head"].get<uint32_t>();
	} catch (const nlohmann::json::exception &) {
	}
	return 0;
}

// A GPT-2 checkpoint's tensors by their names, with or without the
// "transformer." prefix some exports put before them.
struct Checkpoint {
	const SafeTensors &st;
	const std::string &path;
	std::string prefix;

	const StTensor *get(const std::string &name) const { return st.find(prefix + name); }

	// Copies a tensor into b after checking its shape; transposes [in][out]
	// to [out][in].
	std::string take(Gpt2Backbone &b, const std::string &gpt_name, const std::string &our_name,
			 const std::vector<uint64_t> &shape, bool transpose) const
	{
		const StTensor *t = get(gpt_name);
		if (!t)
			return fmt::format("{}: GPT-2 tensor {}{} is missing", path, prefix, gpt_name);
		if (t->shape != shape)
			return fmt::format("{}: {}{} has shape {}, expected {} (n_embd {}, MLP width {})", path, prefix, gpt_name,
					   t->shape, shape, b.d_model, b.mlp_hidden);
		std::vector<float> v = t->values;
		if (transpose) {
			const uint64_t rows = shape[0], cols = shape[1];
			for (uint64_t r = 0; r < rows; r++)
				for (uint64_t c = 0; c < cols; c++)
					v[c * rows + r] = t->values[r * cols + c];
		}
		b.parameters += v.size();
		b.tensors.emplace_back(our_name, std::move(v));
		return {};
	}
};

// The backbone's sizes: width, MLP width and layers from the tensors, the
// head count from the caller, else config.json beside the file, else the
// file's metadata. Error text or empty.
std::string read_sizes(const Checkpoint &ck, uint32_t heads, Gpt2Backbone &b)
{
	const std::string &path = ck.path;
	const StTensor *ln1 = ck.get("h.0.ln_1.weight");
	if (!ln1)
		return path + ": not a GPT-2 checkpoint: no tensor h.0.ln_1.weight (nor transformer.h.0.ln_1.weight)";
	if (ln1->shape.size() != 1 || ln1->shape[0] == 0)
		return fmt::format("{}: h.0.ln_1.weight has shape {}, expected [n_embd]", path, ln1->shape);
	b.d_model = static_cast<uint32_t>(ln1->shape[0]);
	const StTensor *fc = ck.get("h.0.mlp.c_fc.weight");
	if (!fc || fc->shape.size() != 2)
		return path + ": not a GPT-2 checkpoint: h.0.mlp.c_fc.weight is missing or not 2-D";
	b.mlp_hidden = static_cast<uint32_t>(fc->shape[1]);
	while (ck.get(fmt::format("h.{}.ln_1.weight", b.layers)))
		b.layers++;
	b.heads = heads ? heads : heads_from_config_json(path);
	if (!b.heads) {
		const auto it = ck.st.metadata.find("n_head");
		if (it != ck.st.metadata.end())
			b.heads = static_cast<uint32_t>(std::strtoul(it->second.c_str(), nullptr, 10));
	}
	if (!b.heads)
		return path + ": the checkpoint does not give its head count: pass it (--backbone-heads) or put the "
			      "model's config.json beside the file";
	if (b.d_model % b.heads != 0)
		return fmt::format("{}: {} heads do not divide the width n_embd = {}", path, b.heads, b.d_model);
	return {};
}

// Block l's tensors, GPT-2's names to ours. Error text or empty.
std::string take_block(const Checkpoint &ck, uint32_t l, Gpt2Backbone &b)
{
	const uint64_t d = b.d_model, m = b.mlp_hidden;
	const std::string g = fmt::format("h.{}.", l), h = fmt::format("h{}.", l);
	for (const std::string &err : {
		     ck.take(b, g + "ln_1.weight", h + "ln1.g", {d}, false),
		     ck.take(b, g + "ln_1.bias", h + "ln1.b", {d}, false),
		     ck.take(b, g + "attn.c_attn.weight", h + "attn.qkv.w", {d, 3 * d}, true),
		     ck.take(b, g + "attn.c_attn.bias", h + "attn.qkv.b", {3 * d}, false),
		     ck.take(b, g + "attn.c_proj.weight", h + "attn.proj.w", {d, d}, true),
		     ck.take(b, g + "attn.c_proj.bias", h + "attn.proj.b", {d}, false),
		     ck.take(b, g + "ln_2.weight", h + "ln2.g", {d}, false),
		     ck.take(b, g + "ln_2.bias", h + "ln2.b", {d}, false),
		     ck.take(b, g + "mlp.c_fc.weight", h + "mlp.fc.w", {d, m}, true),
		     ck.take(b, g + "mlp.c_fc.bias", h + "mlp.fc.b", {m}, false),
		     ck.take(b, g + "mlp.c_proj.weight", h + "mlp.proj.w", {m, d}, true),
		     ck.take(b, g + "mlp.c_proj.bias", h + "mlp.proj.b", {d}, false),
	     })
		if (!err.empty())
			return err;
	return {};
}

} // namespace

std::string load_gpt2_backbone(const std::string &path, uint32_t heads, Gpt2Backbone &out)
{
	SafeTensors st;
	if (std::string err = read_safetensors(path, st); !err.empty())
		return err;
	const Checkpoint ck{st, path, st.find("transformer.h.0.ln_1.weight") ? "transformer." : ""};
	const std::string &prefix = ck.prefix;
	Gpt2Backbone b;
	if (std::string err = read_sizes(ck, heads, b); !err.empty())
		return err;
	const uint64_t d = b.d_model;
	for (uint32_t l = 0; l < b.layers; l++)
		if (std::string err = take_block(ck, l, b); !err.empty())
			return err;
	for (const std::string &err :
	     {ck.take(b, "ln_f.weight", "ln_f.g", {d}, false), ck.take(b, "ln_f.bias", "ln_f.b", {d}, false)})
		if (!err.empty())
			return err;
	if (const StTensor *wpe = ck.get("wpe.weight")) {
		if (wpe->shape.size() != 2 || wpe->shape[1] != d)
			return fmt::format("{}: {}wpe.weight has shape {}, expected [n_positions, {}]", path, prefix, wpe->shape, d);
		b.positions = static_cast<uint32_t>(wpe->shape[0]);
		b.position_embedding = wpe->values;
	}
	for (const auto &[name, values] : b.tensors)
		for (float v : values)
			if (!std::isfinite(v))
				return fmt::format("{}: {} holds a non-finite weight", path, name);
	out = std::move(b);
	return {};
}

} // namespace dualpilot::policy
