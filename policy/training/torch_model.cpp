#include "policy/training/torch_model.hpp"

#include <fmt/format.h>

namespace dualpilot::policy {

namespace {

std::string module_name(const std::string &n);

torch::nn::Linear linear(torch::nn::Module &m, const std::string &name, int64_t in, int64_t out)
{
	return m.register_module(name, torch::nn::Linear(in, out));
}

} // namespace

BlockImpl::BlockImpl(uint32_t d, uint32_t heads_, uint32_t mlp) : heads(heads_)
{
	ln1 = register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(kLnEps)));
	ln2 = register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(kLnEps)));
	qkv = linear(*this, "qkv", d, 3 * d);
	proj = linear(*this, "proj", d, d);
	fc = linear(*this, "fc", d, mlp);
	fc_proj = linear(*this, "fc_proj", mlp, d);
}

torch::nn::Linear &BlockImpl::projection(size_t i)
{
	return i == 0 ? qkv : i == 1 ? proj : i == 2 ? fc : fc_proj;
}

torch::Tensor BlockImpl::project(size_t i, const torch::Tensor &x)
{
	torch::Tensor y = projection(i)(x);
	const LoraAdapter &l = lora[i];
	if (l.a.defined())
		y = y + torch::matmul(torch::matmul(x, l.a.t()), l.b.t()) * l.scale;
	return y;
}

void BlockImpl::enable_lora(uint32_t rank, double alpha)
{
	static const char *names[4] = {"qkv", "proj", "fc", "fc_proj"};
	for (size_t i = 0; i < 4; i++) {
		const torch::Tensor &w = projection(i)->weight; // [out][in]
		const int64_t out = w.size(0), in = w.size(1);
		LoraAdapter &l = lora[i];
		// A as a Linear layer's default init (uniform in +-1/sqrt(in)), B zero.
		const double bound = 1.0 / std::sqrt(static_cast<double>(in));
		l.a = register_parameter(std::string(names[i]) + "_lora_a", torch::empty({rank, in}).uniform_(-bound, bound));
		l.b = register_parameter(std::string(names[i]) + "_lora_b", torch::zeros({out, static_cast<int64_t>(rank)}));
		l.scale = alpha / rank;
	}
}

torch::Tensor BlockImpl::merged_weight(size_t i)
{
	torch::NoGradGuard g;
	torch::Tensor w = projection(i)->weight.detach().clone();
	const LoraAdapter &l = lora[i];
	if (l.a.defined())
		w += torch::matmul(l.b.detach(), l.a.detach()) * l.scale;
	return w;
}

torch::Tensor BlockImpl::forward(const torch::Tensor &x, const torch::Tensor &causal_mask)
{
	const int64_t B = x.size(0), T = x.size(1), d = x.size(2), hd = d / heads;
	auto parts = project(0, ln1(x)).chunk(3, -1);
	auto split = [&](const torch::Tensor &t) { return t.view({B, T, heads, hd}).transpose(1, 2); };
	const torch::Tensor q = split(parts[0]), k = split(parts[1]), v = split(parts[2]);
	torch::Tensor att = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(hd));
	att = att.masked_fill(causal_mask, -std::numeric_limits<float>::infinity()).softmax(-1);
	const bool drop = dropout > 0 && is_training();
	if (drop)
		att = torch::dropout(att, dropout, true);
	const torch::Tensor y = torch::matmul(att, v).transpose(1, 2).contiguous().view({B, T, d});
	torch::Tensor branch = project(1, y);
	torch::Tensor out = x + (drop ? torch::dropout(branch, dropout, true) : branch);
	branch = project(3, torch::gelu(project(2, ln2(out))));
	return out + (drop ? torch::dropout(branch, dropout, true) : branch);
}

PolicyNetImpl::PolicyNetImpl(const ModelConfig &c) : config(c)
{
	const int64_t d = c.d_model, e = c.feature_embed, F = c.feature_count;
	norm_mean = register_buffer("norm_mean", torch::zeros({F}));
	norm_std = register_buffer("norm_std", torch::ones({F}));
	for (uint32_t f = 0; f < c.feature_count; f++) {
		enc.push_back(linear(*this, fmt::format("enc{}", f), c.kernels[f], e));
		if (c.state_layout == StateLayout::per_feature)
			enc_proj_f.push_back(linear(*this, fmt::format("enc{}_proj", f), e, d));
	}
	if (c.state_layout == StateLayout::concat)
		enc_proj = linear(*this, "enc_proj", F * e, d);
	rtg = linear(*this, "rtg", 1, d);
	act = register_module("act", torch::nn::Embedding(c.action_count, d));
	time = register_module("time", torch::nn::Embedding(c.window, d));
	ln_in = register_module("ln_in", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(kLnEps)));
	for (uint32_t l = 0; l < c.layers; l++)
		blocks.push_back(register_module(fmt::format("h{}", l), Block(c.d_model, c.heads, c.mlp_hidden)));
	ln_f = register_module("ln_f", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(kLnEps)));
	head = linear(*this, "head", d, c.action_count);
}

torch::Tensor PolicyNetImpl::forward(const torch::Tensor &returns, const torch::Tensor &states,
				     const torch::Tensor &actions, const torch::Tensor &hidden_steps,
				     const torch::Tensor &first_slots)
{
	const ModelConfig &c = config;
	const int64_t B = states.size(0), T = states.size(1), d = c.d_model;
	const int64_t S = c.state_tokens(), tps = c.tokens_per_step();
	const torch::Tensor x = (states - norm_mean) / norm_std; // [B][T][F]
	std::vector<torch::Tensor> feats;
	for (uint32_t f = 0; f < c.feature_count; f++) {
		torch::Tensor series = x.select(2, f); // [B][T]
		const int64_t k = c.kernels[f];
		// The feature's last k values at each step, zeros before the window.
		torch::Tensor in = k == 1 ? series.unsqueeze(-1)
					  : torch::constant_pad_nd(series, {k - 1, 0}).unfold(1, k, 1); // [B][T][k]
		feats.push_back(torch::leaky_relu(enc[f](in), kLeakySlope));
	}
	std::vector<torch::Tensor> state_tokens; // each [B][T][d]
	if (c.state_layout == StateLayout::per_feature)
		for (uint32_t f = 0; f < c.feature_count; f++)
			state_tokens.push_back(enc_proj_f[f](feats[f]));
	else
		state_tokens.push_back(enc_proj(torch::cat(feats, -1)));
	torch::Tensor slot = torch::arange(T, torch::kLong).unsqueeze(0); // [1][T]
	if (c.time_embedding == TimeEmbedding::ring_position && first_slots.defined())
		slot = (first_slots.unsqueeze(1) + slot).remainder(static_cast<int64_t>(c.window)); // [B][T]
	const torch::Tensor pos = time(slot); // [1 or B][T][d]
	std::vector<torch::Tensor> tokens;
	tokens.push_back(rtg((returns / c.rtg_scale).unsqueeze(-1)) + pos);
	for (const torch::Tensor &s : state_tokens)
		tokens.push_back(s + pos);
	tokens.push_back(act(actions) + pos);
	// Interleave per step: [B][T][tps][d] -> [B][T*tps][d].
	torch::Tensor seq = torch::stack(tokens, 2).reshape({B, T * tps, d});
	seq = ln_in(seq);
	torch::Tensor mask = torch::ones({T * tps, T * tps}, torch::kBool).triu(1);
	if (hidden_steps.defined()) {
		const torch::Tensor step = torch::arange(T * tps, torch::kLong).div(tps, "floor"); // token -> step
		const torch::Tensor other_step = step.unsqueeze(1).ne(step.unsqueeze(0));           // [L][L]
		const torch::Tensor key_hidden = hidden_steps.index_select(1, step);                 // [B][L]
		mask = mask.unsqueeze(0) | (key_hidden.unsqueeze(1) & other_step.unsqueeze(0));    // [B][L][L]
		mask = mask.unsqueeze(1);                                                           // [B][1][L][L]
	}
	for (Block &b : blocks)
		seq = b->forward(seq, mask);
	// Each step's last state token.
	torch::Tensor h = seq.view({B, T, tps, d}).select(2, S);
	h = ln_f(h);
	if (c.head_residual)
		h = h + state_tokens.back();
	return head(h);
}

void PolicyNetImpl::load_backbone(const Gpt2Backbone &bb)
{
	if (bb.d_model != config.d_model || bb.layers != config.layers || bb.heads != config.heads ||
	    bb.mlp_hidden != config.mlp_hidden)
		throw std::invalid_argument(fmt::format(
			"backbone of width {}, {} layers, {} heads, MLP {} does not fit a net of width {}, {} layers, {} "
			"heads, MLP {}",
			bb.d_model, bb.layers, bb.heads, bb.mlp_hidden, config.d_model, config.layers, config.heads,
			config.mlp_hidden));
	torch::NoGradGuard g;
	const auto params = named_parameters(true);
	for (const auto &[name, values] : bb.tensors) {
		const std::string mn = module_name(name);
		const torch::Tensor *t = params.find(mn);
		if (!t || t->numel() != static_cast<int64_t>(values.size()))
			throw std::logic_error("policy net: no place for backbone tensor " + name);
		torch::Tensor dst = *t;
		dst.copy_(torch::from_blob(const_cast<float *>(values.data()), dst.sizes(), torch::kFloat));
	}
	if (bb.positions >= config.window)
		time->weight.copy_(torch::from_blob(const_cast<float *>(bb.position_embedding.data()),
						    {static_cast<int64_t>(config.window), static_cast<int64_t>(config.d_model)},
						    torch::kFloat));
}

void PolicyNetImpl::freeze_backbone()
{
	for (Block &b : blocks)
		for (auto *m : {b->ln1.get(), b->ln2.get()})
			for (torch::Tensor &p : m->parameters())
				p.set_requires_grad(false);
	for (Block &b : blocks)
		for (size_t i = 0; i < 4; i++)
			for (torch::Tensor &p : b->projection(i)->parameters())
				p.set_requires_grad(false);
	for (torch::Tensor &p : ln_f->parameters())
		p.set_requires_grad(false);
}

void PolicyNetImpl::set_dropout(double p)
{
	for (Block &b : blocks)
		b->dropout = p;
}

void PolicyNetImpl::enable_lora(uint32_t rank, double alpha)
{
	for (Block &b : blocks)
		b->enable_lora(rank, alpha);
}

uint64_t PolicyNetImpl::parameter_count(bool trainable_only)
{
	uint64_t n = 0;
	for (const torch::Tensor &p : parameters())
		if (!trainable_only || p.requires_grad())
			n += static_cast<uint64_t>(p.numel());
	return n;
}

namespace {

// The .dpm name of each tensor (policy/model.hpp) -> the module's name for it.
std::string module_name(const std::string &n)
{
	if (n == "norm.mean")
		return "norm_mean";
	if (n == "norm.std")
		return "norm_std";
	std::string s = n;
	auto swap = [&](const std::string &from, const std::string &to) {
		const size_t at = s.find(from);
		if (at != std::string::npos)
			s.replace(at, from.size(), to);
	};
	if (s.starts_with("enc.proj.")) {
		swap("enc.proj.", "enc_proj.");
	} else if (s.starts_with("enc.")) {
		s = "enc" + s.substr(4);    // enc.3.w -> enc3.w, enc.3.proj.w -> enc3.proj.w
		swap(".proj.", "_proj.");   //                    enc3_proj.w
	}
	swap("act.emb", "act.w");
	swap("time.emb", "time.w");
	swap(".attn.qkv.", ".qkv.");
	swap(".attn.proj.", ".proj.");
	swap(".mlp.fc.", ".fc.");
	swap(".mlp.proj.", ".fc_proj.");
	if (s.ends_with(".w") || s.ends_with(".g"))
		s = s.substr(0, s.size() - 2) + ".weight";
	else if (s.ends_with(".b"))
		s = s.substr(0, s.size() - 2) + ".bias";
	return s;
}

// Every tensor of the architecture, in file order, paired with the module's.
std::vector<std::pair<std::string, torch::Tensor>> tensor_map(PolicyNet &net)
{
	const auto params = net->named_parameters(true);
	const auto buffers = net->named_buffers(true);
	std::vector<std::pair<std::string, torch::Tensor>> out;
	for (const auto &[name, shape] : expected_tensors(net->config)) {
		const std::string mn = module_name(name);
		const torch::Tensor *t = params.find(mn);
		if (!t)
			t = buffers.find(mn);
		if (!t)
			throw std::logic_error("policy net: no tensor '" + mn + "' for '" + name + "'");
		int64_t n = 1;
		for (uint32_t d : shape)
			n *= d;
		if (t->numel() != n)
			throw std::logic_error(fmt::format("policy net: '{}' has {} elements, the file wants {}", mn, t->numel(), n));
		out.emplace_back(name, *t);
	}
	return out;
}

} // namespace

Model export_model(PolicyNet &net)
{
	torch::NoGradGuard no_grad;
	Model m;
	m.config = net->config;
	const auto shapes = expected_tensors(m.config);
	const auto map = tensor_map(net);
	// Adapters merged into their projections: name -> block, projection.
	auto merged = [&](const std::string &name, torch::Tensor t) {
		static const char *suffix[4] = {".attn.qkv.w", ".attn.proj.w", ".mlp.fc.w", ".mlp.proj.w"};
		for (uint32_t l = 0; l < net->blocks.size(); l++)
			for (size_t i = 0; i < 4; i++)
				if (name == fmt::format("h{}{}", l, suffix[i]) && net->blocks[l]->lora[i].a.defined())
					return net->blocks[l]->merged_weight(i);
		return t;
	};
	for (size_t i = 0; i < map.size(); i++) {
		const torch::Tensor t = merged(map[i].first, map[i].second.detach()).to(torch::kFloat).contiguous();
		Tensor out;
		out.name = map[i].first;
		out.shape = shapes[i].second;
		out.values.assign(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
		m.tensors.push_back(std::move(out));
	}
	return m;
}

PolicyNet import_model(const Model &m)
{
	PolicyNet net(m.config);
	torch::NoGradGuard no_grad;
	const auto map = tensor_map(net);
	for (size_t i = 0; i < map.size(); i++) {
		const Tensor &src = *m.find(map[i].first);
		std::vector<float> values = src.values;
		if (src.dtype == DType::i8) {
			values.resize(src.q.size());
			for (size_t j = 0; j < src.q.size(); j++)
				values[j] = static_cast<float>(src.q[j]) * src.scales[j / src.shape[1]];
		}
		torch::Tensor dst = map[i].second;
		dst.copy_(torch::from_blob(values.data(), {static_cast<int64_t>(values.size())}, torch::kFloat)
				  .view(dst.sizes()));
	}
	return net;
}

} // namespace dualpilot::policy
