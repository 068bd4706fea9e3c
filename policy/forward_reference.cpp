#include "policy/forward_reference.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace dualpilot::policy {

ReferenceForward::ReferenceForward(const Model &m) : cfg_(m.config)
{
	for (const Tensor &t : m.tensors) {
		Dense &d = w_[t.name];
		d.cols = t.shape.size() == 2 ? t.shape[1] : static_cast<uint32_t>(t.elements());
		d.v.resize(t.elements());
		for (size_t i = 0; i < d.v.size(); i++)
			d.v[i] = t.dtype == DType::f32 ? static_cast<double>(t.values[i])
						       : static_cast<double>(t.q[i]) * static_cast<double>(t.scales[i / d.cols]);
	}
}

const ReferenceForward::Dense &ReferenceForward::tensor(const std::string &name) const
{
	return w_.at(name);
}

// y = W x + b, W [out][in] as the model file keeps it.
std::vector<double> ReferenceForward::lin(const std::string &w, const std::string &b, const std::vector<double> &x) const
{
	const Dense &W = tensor(w), &B = tensor(b);
	const size_t out = W.v.size() / W.cols;
	std::vector<double> y(out);
	for (size_t o = 0; o < out; o++) {
		y[o] = B.v[o];
		for (uint32_t i = 0; i < W.cols; i++)
			y[o] += W.v[o * W.cols + i] * x[i];
	}
	return y;
}

// LayerNorm with the gains p.g and biases p.b.
std::vector<double> ReferenceForward::ln(const std::string &p, const std::vector<double> &x) const
{
	const Dense &g = tensor(p + ".g"), &b = tensor(p + ".b");
	double mean = 0, var = 0;
	for (double v : x)
		mean += v;
	mean /= static_cast<double>(x.size());
	for (double v : x)
		var += (v - mean) * (v - mean);
	var /= static_cast<double>(x.size());
	std::vector<double> y(x.size());
	for (size_t i = 0; i < x.size(); i++)
		y[i] = (x[i] - mean) / std::sqrt(var + double{kLnEps}) * g.v[i] + b.v[i];
	return y;
}

// Step t's state tokens before their time embedding: each feature's window
// of kernels[f] steps through its encoder, then one token per feature
// (per_feature) or one for them all (concat).
std::vector<double> ReferenceForward::state_tokens(const Window &w, uint32_t t, Tokens &s_tokens) const
{
	const ModelConfig &c = cfg_;
	const std::vector<double> &mean = tensor("norm.mean").v, &norm_std = tensor("norm.std").v;
	std::vector<double> cat;
	for (uint32_t f = 0; f < c.feature_count; f++) {
		std::vector<double> in(c.kernels[f]);
		for (uint32_t j = 0; j < c.kernels[f]; j++) {
			const int step = static_cast<int>(t) - static_cast<int>(c.kernels[f] - 1) + static_cast<int>(j);
			in[j] = step < 0 ? 0 : (w.states[step * c.feature_count + f] - mean[f]) / norm_std[f];
		}
		std::vector<double> ef;
		for (double v : lin(fmt::format("enc.{}.w", f), fmt::format("enc.{}.b", f), in))
			ef.push_back(v >= 0 ? v : double{kLeakySlope} * v);
		if (c.state_layout == StateLayout::per_feature)
			s_tokens.push_back(lin(fmt::format("enc.{}.proj.w", f), fmt::format("enc.{}.proj.b", f), ef));
		cat.insert(cat.end(), ef.begin(), ef.end());
	}
	if (c.state_layout == StateLayout::concat)
		s_tokens.push_back(lin("enc.proj.w", "enc.proj.b", cat));
	return s_tokens.back();
}

// The window as tokens, each step's return-to-go, state(s) and (but for the
// last step) action, each with its time embedding; last_state: the last
// state token before its time embedding.
ReferenceForward::Tokens ReferenceForward::embed(const Window &w, std::vector<double> &last_state) const
{
	const ModelConfig &c = cfg_;
	const uint32_t d = c.d_model;
	const std::vector<double> &rtg_w = tensor("rtg.w").v, &rtg_b = tensor("rtg.b").v, &time_emb = tensor("time.emb").v;
	const std::vector<double> &act = tensor("act.emb").v;
	Tokens x;
	for (uint32_t t = 0; t < w.steps; t++) {
		// The time embedding's row: position in the window, or ring slot.
		const uint32_t pos = c.time_embedding == TimeEmbedding::ring_position ? (w.first_slot + t) % c.window : t;
		std::vector<double> r(d), a(d);
		Tokens s_tokens;
		for (uint32_t j = 0; j < d; j++)
			r[j] = rtg_w[j] * (w.returns[t] / c.rtg_scale) + rtg_b[j] + time_emb[pos * d + j];
		last_state = state_tokens(w, t, s_tokens);
		for (uint32_t j = 0; j < d; j++) {
			for (auto &s : s_tokens)
				s[j] += time_emb[pos * d + j];
			a[j] = act[action_index(w.actions[t], c.action_count) * d + j] + time_emb[pos * d + j];
		}
		x.push_back(r);
		for (auto &s : s_tokens)
			x.push_back(s);
		if (t + 1 < w.steps)
			x.push_back(a);
	}
	return x;
}

// Block h's causal self-attention on ln1 of the tokens x: each token's heads
// attend to it and the tokens before it; the heads' outputs through the
// projection.
ReferenceForward::Tokens ReferenceForward::attention(const std::string &h, const Tokens &x) const
{
	const uint32_t d = cfg_.d_model, H = cfg_.heads, hd = d / H;
	Tokens qkv;
	for (auto &v : x)
		qkv.push_back(lin(h + "attn.qkv.w", h + "attn.qkv.b", ln(h + "ln1", v)));
	Tokens proj(x.size());
	for (size_t q = 0; q < x.size(); q++) {
		std::vector<double> o(d, 0);
		for (uint32_t hh = 0; hh < H; hh++) {
			std::vector<double> s(q + 1);
			double mx = -1e300, sum = 0;
			for (size_t k = 0; k <= q; k++) {
				s[k] = 0;
				for (uint32_t j = 0; j < hd; j++)
					s[k] += qkv[q][hh * hd + j] * qkv[k][d + hh * hd + j];
				s[k] /= std::sqrt(static_cast<double>(hd));
				mx = std::max(mx, s[k]);
			}
			for (auto &v : s)
				sum += (v = std::exp(v - mx));
			for (size_t k = 0; k <= q; k++)
				for (uint32_t j = 0; j < hd; j++)
					o[hh * hd + j] += s[k] / sum * qkv[k][2 * d + hh * hd + j];
		}
		proj[q] = lin(h + "attn.proj.w", h + "attn.proj.b", o);
	}
	return proj;
}

// One transformer block, pre-norm: x += attention(ln1(x)); x += mlp(ln2(x)),
// the MLP's GELU the exact (erf) one.
void ReferenceForward::block(uint32_t layer, Tokens &x) const
{
	const uint32_t d = cfg_.d_model;
	const std::string h = fmt::format("h{}.", layer);
	const Tokens proj = attention(h, x);
	for (size_t q = 0; q < x.size(); q++)
		for (uint32_t j = 0; j < d; j++)
			x[q][j] += proj[q][j];
	for (auto &v : x) {
		auto f = lin(h + "mlp.fc.w", h + "mlp.fc.b", ln(h + "ln2", v));
		for (auto &u : f)
			u = 0.5 * u * (1 + std::erf(u / std::sqrt(2.0)));
		const auto p = lin(h + "mlp.proj.w", h + "mlp.proj.b", f);
		for (uint32_t j = 0; j < d; j++)
			v[j] += p[j];
	}
}

// Every token through every layer: the architecture as written down in
// policy/model.hpp.
std::vector<double> ReferenceForward::forward(const Window &w) const
{
	const uint32_t d = cfg_.d_model;
	std::vector<double> last_state;
	Tokens x = embed(w, last_state);
	for (auto &v : x)
		v = ln("ln_in", v);
	for (uint32_t l = 0; l < cfg_.layers; l++)
		block(l, x);
	auto hv = ln("ln_f", x.back());
	if (cfg_.head_residual)
		for (uint32_t j = 0; j < d; j++)
			hv[j] += last_state[j];
	std::vector<double> p = lin("head.w", "head.b", hv); // the logits, then their softmax
	const double mx = *std::max_element(p.begin(), p.end());
	double sum = 0;
	for (auto &v : p)
		sum += (v = std::exp(v - mx));
	for (auto &v : p)
		v /= sum;
	return p;
}

std::vector<double> forward_reference(const Model &m, const Window &w)
{
	return ReferenceForward(m).forward(w);
}

} // namespace dualpilot::policy
