#include "policy/forward_cpu.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

namespace dualpilot::policy {

namespace {

constexpr float kLnEps = 1e-5f;       // torch.nn.LayerNorm's default
constexpr float kLeakySlope = 0.01f;  // torch.nn.LeakyReLU's default

void layer_norm(const float *x, const float *g, const float *b, uint32_t d, float *y)
{
	float mean = 0;
	for (uint32_t i = 0; i < d; i++)
		mean += x[i];
	mean /= static_cast<float>(d);
	float var = 0;
	for (uint32_t i = 0; i < d; i++)
		var += (x[i] - mean) * (x[i] - mean);
	var /= static_cast<float>(d);
	const float inv = 1.0f / std::sqrt(var + kLnEps);
	for (uint32_t i = 0; i < d; i++)
		y[i] = (x[i] - mean) * inv * g[i] + b[i];
}

// torch.nn.GELU() (the exact, erf form).
inline float gelu(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }

inline float dot_f32(const float *a, const float *b, uint32_t n)
{
	float s = 0;
#pragma omp simd reduction(+ : s)
	for (uint32_t i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

// y[r] = W x[r] + b for rows r of x (strides in floats), with W stored
// transposed ([in][out]): the inner loop runs over the outputs, so it
// vectorises into multiply-adds across outputs with no horizontal sums,
// which dominate at the small widths of a student. Compiled for AVX2+FMA as
// well as the baseline and picked at load time (one dispatch per layer).
// Outputs o0 .. o1 only (the keys and values without the queries, say).
__attribute__((target_clones("avx2", "default"))) void matmul(const float *wt, const int8_t *qt, const float *scale,
							       const float *bias, uint32_t out, uint32_t in,
							       const float *x, size_t rows, size_t x_stride, float *y,
							       size_t y_stride, uint32_t o0, uint32_t o1)
{
	for (size_t r = 0; r < rows; r++) {
		const float *xr = x + r * x_stride;
		float *yr = y + r * y_stride;
		if (wt) {
			for (uint32_t o = o0; o < o1; o++)
				yr[o] = bias[o];
			for (uint32_t i = 0; i < in; i++) {
				const float xi = xr[i];
				const float *col = wt + size_t{i} * out;
				for (uint32_t o = o0; o < o1; o++)
					yr[o] += col[o] * xi;
			}
		} else {
			for (uint32_t o = o0; o < o1; o++)
				yr[o] = 0;
			for (uint32_t i = 0; i < in; i++) {
				const float xi = xr[i];
				const int8_t *col = qt + size_t{i} * out;
				for (uint32_t o = o0; o < o1; o++)
					yr[o] += static_cast<float>(col[o]) * xi;
			}
			for (uint32_t o = o0; o < o1; o++)
				yr[o] = yr[o] * scale[o] + bias[o];
		}
	}
}

} // namespace

const float *CpuForward::vec(const std::string &name) const { return model_.find(name)->values.data(); }

CpuForward::Linear CpuForward::linear(const std::string &w, const std::string &b)
{
	const Tensor *t = model_.find(w);
	Linear l;
	l.out = t->shape[0];
	l.in = t->shape[1];
	// Transposed copies, [in][out], for matmul(); kept alive by transposed_.
	if (t->dtype == DType::f32) {
		auto &wt = transposed_f32_.emplace_back(t->values.size());
		for (uint32_t o = 0; o < l.out; o++)
			for (uint32_t i = 0; i < l.in; i++)
				wt[size_t{i} * l.out + o] = t->values[size_t{o} * l.in + i];
		l.w = wt.data();
	} else {
		auto &qt = transposed_i8_.emplace_back(t->q.size());
		for (uint32_t o = 0; o < l.out; o++)
			for (uint32_t i = 0; i < l.in; i++)
				qt[size_t{i} * l.out + o] = t->q[size_t{o} * l.in + i];
		l.q = qt.data();
		l.scale = t->scales.data();
	}
	l.b = vec(b);
	return l;
}

CpuForward::CpuForward(const Model &m) : model_(m), cfg_(m.config)
{
	// Embedding tables are looked up, not multiplied: keep them fp32.
	for (const char *name : {"act.emb", "time.emb"})
		if (model_.find(name)->dtype != DType::f32)
			throw std::invalid_argument(fmt::format("{} must be fp32", name));
	mean_ = vec("norm.mean");
	std_ = vec("norm.std");
	for (uint32_t f = 0; f < cfg_.feature_count; f++)
		enc_.push_back(linear(fmt::format("enc.{}.w", f), fmt::format("enc.{}.b", f)));
	if (cfg_.state_layout == StateLayout::per_feature)
		for (uint32_t f = 0; f < cfg_.feature_count; f++)
			enc_fproj_.push_back(linear(fmt::format("enc.{}.proj.w", f), fmt::format("enc.{}.proj.b", f)));
	else
		enc_proj_ = linear("enc.proj.w", "enc.proj.b");
	rtg_ = linear("rtg.w", "rtg.b");
	head_ = linear("head.w", "head.b");
	act_emb_ = vec("act.emb");
	time_emb_ = vec("time.emb");
	ln_in_g_ = vec("ln_in.g");
	ln_in_b_ = vec("ln_in.b");
	ln_f_g_ = vec("ln_f.g");
	ln_f_b_ = vec("ln_f.b");
	for (uint32_t l = 0; l < cfg_.layers; l++) {
		const std::string h = fmt::format("h{}.", l);
		blocks_.push_back(Block{vec(h + "ln1.g"), vec(h + "ln1.b"), vec(h + "ln2.g"), vec(h + "ln2.b"),
					linear(h + "attn.qkv.w", h + "attn.qkv.b"), linear(h + "attn.proj.w", h + "attn.proj.b"),
					linear(h + "mlp.fc.w", h + "mlp.fc.b"), linear(h + "mlp.proj.w", h + "mlp.proj.b")});
	}
	// Scratch whose size the model fixes, sized once here.
	uint32_t max_kernel = 1;
	for (uint32_t k : cfg_.kernels)
		max_kernel = std::max(max_kernel, k);
	kernel_in_.resize(max_kernel);
	enc_cat_.resize(size_t{cfg_.feature_count} * cfg_.feature_embed);
	score_.resize(size_t{cfg_.tokens_per_step()} * cfg_.window);
	head_in_.resize(cfg_.d_model);
	step_tok_.resize(size_t{cfg_.tokens_per_step()} * cfg_.d_model);
}

void CpuForward::apply_range(const Linear &l, const float *x, size_t rows, size_t x_stride, float *y, size_t y_stride,
			     uint32_t o0, uint32_t o1)
{
	matmul(l.w, l.q, l.scale, l.b, l.out, l.in, x, rows, x_stride, y, y_stride, o0, o1);
}

void CpuForward::apply(const Linear &l, const float *x, size_t rows, size_t x_stride, float *y, size_t y_stride)
{
	matmul(l.w, l.q, l.scale, l.b, l.out, l.in, x, rows, x_stride, y, y_stride, 0, l.out);
}

bool CpuForward::embeds_steps() const
{
	for (uint32_t k : cfg_.kernels)
		if (k != 1)
			return false;
	return true;
}

// Step t of w before the time embedding: R, the state token(s), a.
void CpuForward::embed_at(const Window &w, uint32_t t, float *out)
{
	const uint32_t d = cfg_.d_model, F = cfg_.feature_count, e = cfg_.feature_embed, S = cfg_.state_tokens();
	const float rtg = w.returns[t] / cfg_.rtg_scale;
	for (uint32_t j = 0; j < d; j++)
		out[j] = rtg_.w[j] * rtg + rtg_.b[j];
	// State: each feature's causal window of k values, normalised.
	for (uint32_t f = 0; f < F; f++) {
		const uint32_t k = cfg_.kernels[f];
		for (uint32_t j = 0; j < k; j++) {
			const int64_t step = static_cast<int64_t>(t) - (k - 1) + j;
			kernel_in_[j] = step < 0 ? 0.0f : (w.states[step * F + f] - mean_[f]) / std_[f];
		}
		float *ef = &enc_cat_[size_t{f} * e];
		apply(enc_[f], kernel_in_.data(), 1, 0, ef, 0);
		for (uint32_t j = 0; j < e; j++)
			ef[j] = ef[j] >= 0 ? ef[j] : ef[j] * kLeakySlope;
		if (cfg_.state_layout == StateLayout::per_feature)
			apply(enc_fproj_[f], ef, 1, 0, out + size_t{1 + f} * d, 0);
	}
	if (cfg_.state_layout == StateLayout::concat)
		apply(enc_proj_, enc_cat_.data(), 1, 0, out + d, 0);
	const float *a = act_emb_ + size_t{std::min<uint8_t>(w.actions[t], kActionCount - 1)} * d;
	std::copy(a, a + d, out + size_t{S + 1} * d);
}

void CpuForward::embed_step(float rtg, const float *state, uint8_t action, float *out)
{
	const Window w{1, &rtg, state, &action, nullptr};
	embed_at(w, 0, out);
}

void CpuForward::forward(const Window *windows, size_t n, Probs *out)
{
	const uint32_t d = cfg_.d_model, H = cfg_.heads;
	const uint32_t hd = cfg_.head_dim(), m = cfg_.mlp_hidden;
	// Token layout: window i's tokens at seg_start_[i] .. +tps*steps-1 (R,
	// the state token(s), a per step; the last a left out).
	const uint32_t tps = cfg_.tokens_per_step(), S = cfg_.state_tokens();
	seg_start_.resize(n + 1);
	size_t tokens = 0;
	for (size_t i = 0; i < n; i++) {
		seg_start_[i] = static_cast<uint32_t>(tokens);
		tokens += tps * windows[i].steps - 1;
	}
	seg_start_[n] = static_cast<uint32_t>(tokens);
	x_.resize(tokens * d);
	h_.resize(tokens * d);
	qkv_.resize(tokens * 3 * d);
	att_.resize(tokens * d);
	mlp_.resize(tokens * m);
	state_emb_.resize(n * d);

	// Embeddings: each step's tokens (cached by the caller, or computed here)
	// plus the time embedding of the step's position in the window.
	for (size_t i = 0; i < n; i++) {
		const Window &w = windows[i];
		for (uint32_t t = 0; t < w.steps; t++) {
			const float *src = w.tokens ? w.tokens + size_t{t} * tps * d : step_tok_.data();
			if (!w.tokens)
				embed_at(w, t, step_tok_.data());
			const float *pos = time_emb_ + size_t{t} * d;
			float *xr = &x_[(seg_start_[i] + tps * t) * size_t{d}];
			const uint32_t count = t + 1 < w.steps ? tps : tps - 1; // the last a token is left out
			for (uint32_t k = 0; k < count; k++)
				for (uint32_t j = 0; j < d; j++)
					xr[size_t{k} * d + j] = src[size_t{k} * d + j] + pos[j];
			if (t + 1 == w.steps)
				std::copy(src + size_t{S} * d, src + size_t{S + 1} * d, &state_emb_[i * d]);
		}
	}
	for (size_t t = 0; t < tokens; t++)
		layer_norm(&x_[t * d], ln_in_g_, ln_in_b_, d, &x_[t * d]);

	const float att_scale = 1.0f / std::sqrt(static_cast<float>(hd));
	std::vector<float> &score = score_; // the attention row of one query
	for (size_t l = 0; l < blocks_.size(); l++) {
		const Block &b = blocks_[l];
		const bool last = l + 1 == blocks_.size();
		for (size_t t = 0; t < tokens; t++)
			layer_norm(&x_[t * d], b.ln1_g, b.ln1_b, d, &h_[t * d]);
		if (!last) {
			apply(b.qkv, h_.data(), tokens, d, qkv_.data(), 3 * d);
		} else {
			// Keys and values of every token, the query of each window's last one.
			apply_range(b.qkv, h_.data(), tokens, d, qkv_.data(), 3 * d, d, 3 * d);
			for (size_t i = 0; i < n; i++) {
				const size_t r = seg_start_[i + 1] - 1;
				apply_range(b.qkv, &h_[r * d], 1, d, &qkv_[r * 3 * d], 3 * d, 0, d);
			}
		}
		// Causal attention within each window; in the last layer only the
		// final state token's row is needed.
		for (size_t i = 0; i < n; i++) {
			const uint32_t s0 = seg_start_[i], s1 = seg_start_[i + 1];
			for (uint32_t q = last ? s1 - 1 : s0; q < s1; q++) {
				for (uint32_t hh = 0; hh < H; hh++) {
					const float *qv = &qkv_[size_t{q} * 3 * d + hh * hd];
					float mx = -INFINITY;
					for (uint32_t k = s0; k <= q; k++) {
						const float s = dot_f32(qv, &qkv_[size_t{k} * 3 * d + d + hh * hd], hd) * att_scale;
						score[k - s0] = s;
						mx = std::max(mx, s);
					}
					float sum = 0;
					for (uint32_t k = s0; k <= q; k++)
						sum += (score[k - s0] = std::exp(score[k - s0] - mx));
					float *o = &att_[size_t{q} * d + hh * hd];
					std::fill(o, o + hd, 0.0f);
					for (uint32_t k = s0; k <= q; k++) {
						const float p = score[k - s0] / sum;
						const float *v = &qkv_[size_t{k} * 3 * d + 2 * d + hh * hd];
						for (uint32_t j = 0; j < hd; j++)
							o[j] += p * v[j];
					}
				}
			}
		}
		// Projection, residual, MLP: every token, or the final ones only.
		auto rows_of = [&](auto &&fn) {
			if (!last) {
				fn(0u, static_cast<uint32_t>(tokens));
				return;
			}
			for (size_t i = 0; i < n; i++)
				fn(seg_start_[i + 1] - 1, seg_start_[i + 1]);
		};
		rows_of([&](uint32_t r0, uint32_t r1) {
			apply(b.proj, &att_[size_t{r0} * d], r1 - r0, d, &h_[size_t{r0} * d], d);
			for (size_t j = size_t{r0} * d; j < size_t{r1} * d; j++)
				x_[j] += h_[j];
			for (uint32_t t = r0; t < r1; t++)
				layer_norm(&x_[size_t{t} * d], b.ln2_g, b.ln2_b, d, &h_[size_t{t} * d]);
			apply(b.fc, &h_[size_t{r0} * d], r1 - r0, d, &mlp_[size_t{r0} * m], m);
			for (size_t j = size_t{r0} * m; j < size_t{r1} * m; j++)
				mlp_[j] = gelu(mlp_[j]);
			apply(b.fc_proj, &mlp_[size_t{r0} * m], r1 - r0, m, &h_[size_t{r0} * d], d);
			for (size_t j = size_t{r0} * d; j < size_t{r1} * d; j++)
				x_[j] += h_[j];
		});
	}
	// Head at each window's last state token.
	std::vector<float> &hv = head_in_;
	for (size_t i = 0; i < n; i++) {
		const float *xr = &x_[size_t{seg_start_[i + 1] - 1} * d];
		layer_norm(xr, ln_f_g_, ln_f_b_, d, hv.data());
		if (cfg_.head_residual)
			for (uint32_t j = 0; j < d; j++)
				hv[j] += state_emb_[i * d + j];
		float logits[kActionCount];
		apply(head_, hv.data(), 1, 0, logits, 0);
		const float mx = std::max({logits[0], logits[1], logits[2]});
		float sum = 0;
		for (uint32_t a = 0; a < kActionCount; a++)
			sum += (out[i].p[a] = std::exp(logits[a] - mx));
		for (uint32_t a = 0; a < kActionCount; a++)
			out[i].p[a] /= sum;
	}
}

} // namespace dualpilot::policy
