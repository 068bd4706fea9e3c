#include "policy/forward_cpu.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <fmt/format.h>

#include "policy/cpu_kernels.hpp"

namespace dualpilot::policy {

float gemm_round(float v, GemmRounding r)
{
	if (r == GemmRounding::none || !std::isfinite(v))
		return v;
	const bool tf32 = r == GemmRounding::tf32_nearest || r == GemmRounding::tf32_truncate;
	const uint32_t drop = tf32 ? 13 : 16; // mantissa bits the format lacks (23 - 10, 23 - 7)
	const uint32_t low = (1u << drop) - 1;
	uint32_t bits = std::bit_cast<uint32_t>(v);
	if (r == GemmRounding::tf32_nearest) // sign and magnitude: adding half rounds ties away from zero
		bits += 1u << (drop - 1);
	else if (r == GemmRounding::bf16_nearest) // half less one, plus the kept lsb: ties to even
		bits += (low >> 1) + ((bits >> drop) & 1);
	return std::bit_cast<float>(bits & ~low);
}

void round_gemm_weights(Model &m, GemmRounding r)
{
	for (Tensor &t : m.tensors) {
		const bool state_proj = t.name.starts_with("enc.") && t.name.ends_with(".proj.w");
		const bool block = t.name.starts_with("h") && (t.name.ends_with(".attn.qkv.w") ||
							      t.name.ends_with(".attn.proj.w") ||
							      t.name.ends_with(".mlp.fc.w") || t.name.ends_with(".mlp.proj.w"));
		if (!state_proj && !block)
			continue;
		if (t.dtype == DType::i8) { // q * scale[row], as the engine uploads it
			const size_t in = t.shape[1];
			t.values.resize(t.q.size());
			for (size_t i = 0; i < t.q.size(); i++)
				t.values[i] = static_cast<float>(t.q[i]) * t.scales[i / in];
			t.q.clear();
			t.scales.clear();
			t.dtype = DType::f32;
		}
		for (float &v : t.values)
			v = gemm_round(v, r);
	}
}

template <bool kRound>
void CpuForward::round_inputs(float *x, size_t count) const
{
	if constexpr (kRound)
		for (size_t i = 0; i < count; i++)
			x[i] = gemm_round(x[i], rounding_);
}

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
	score_.resize(padded_keys()); // an attention row: at most every key of the window, padded
	head_in_.resize(cfg_.d_model);
	step_tok_.resize(size_t{cfg_.tokens_per_step()} * cfg_.d_model);
	step_x_.resize(size_t{cfg_.tokens_per_step()} * cfg_.d_model);
	step_h_.resize(size_t{cfg_.tokens_per_step()} * cfg_.d_model);
	step_qkv_.resize(size_t{cfg_.tokens_per_step()} * 3 * cfg_.d_model);
	key_ok_.resize(padded_keys());
	if (caches_keys()) {
		// Keys and values of every (action, slot) action token.
		const uint32_t d = cfg_.d_model, W = cfg_.window;
		action_kv_.resize(size_t{cfg_.action_count} * W * 2 * d);
		for (uint32_t a = 0; a < cfg_.action_count; a++)
			for (uint32_t slot = 0; slot < W; slot++) {
				enter_block(act_emb_ + size_t{a} * d, time_emb_ + size_t{slot} * d, step_x_.data(),
					    step_h_.data());
				apply_range(blocks_[0].qkv, step_h_.data(), 1, d, step_qkv_.data(), 3 * d, d, 3 * d);
				std::copy(&step_qkv_[d], &step_qkv_[3 * d], &action_kv_[(size_t{a} * W + slot) * 2 * d]);
			}
	}
}

void CpuForward::apply_range(const Linear &l, const float *x, size_t rows, size_t x_stride, float *y, size_t y_stride,
			     uint32_t o0, uint32_t o1)
{
	kernels::matmul(l.w, l.q, l.scale, l.b, l.out, l.in, x, rows, x_stride, y, y_stride, o0, o1);
}

void CpuForward::apply(const Linear &l, const float *x, size_t rows, size_t x_stride, float *y, size_t y_stride)
{
	kernels::matmul(l.w, l.q, l.scale, l.b, l.out, l.in, x, rows, x_stride, y, y_stride, 0, l.out);
}

bool CpuForward::embeds_steps() const
{
	for (uint32_t k : cfg_.kernels)
		if (k != 1)
			return false;
	return true;
}

// Step t of w before the time embedding: R, the state token(s), a.
template <bool kRound>
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
		if (k == 1 && enc_[f].w) { // a scalar feature: e multiply-adds, no product to set up
			const float xn = kernel_in_[0];
			for (uint32_t j = 0; j < e; j++)
				ef[j] = enc_[f].w[j] * xn + enc_[f].b[j];
		} else {
			apply(enc_[f], kernel_in_.data(), 1, 0, ef, 0);
		}
		kernels::leaky_relu(ef, e);
		round_inputs<kRound>(ef, e);
		if (cfg_.state_layout == StateLayout::per_feature)
			apply(enc_fproj_[f], ef, 1, 0, out + size_t{1 + f} * d, 0);
	}
	if (cfg_.state_layout == StateLayout::concat)
		apply(enc_proj_, enc_cat_.data(), 1, 0, out + d, 0);
	const float *a = act_emb_ + size_t{action_index(w.actions[t], cfg_.action_count)} * d;
	std::copy(a, a + d, out + size_t{S + 1} * d);
}

void CpuForward::embed_step(float rtg, const float *state, uint8_t action, float *out)
{
	const Window w{1, &rtg, state, &action, 0, nullptr};
	embed_at<false>(w, 0, out);
}

bool CpuForward::caches_keys() const
{
	return cfg_.layers == 1 && embeds_steps() && cfg_.time_embedding == TimeEmbedding::ring_position;
}

// A queue's cache. Tokens (embeds_steps): [w][tokens_per_step][d] by ring
// slot. Keys and values (caches_keys), with L = w * tokens_per_step keys
// (key s * tokens_per_step + k: token k of the step in slot s), padded to a
// multiple of 8 with keys that stay zero and are never in a window:
//   K [d][L]   each key dimension across the keys, so that one query's
//              scores are multiply-adds across keys
//   V [L][d]
//   X [w][d]   each slot's state token as it enters the block (after the
//              time embedding and ln_in): the residual of the query row
//   E [w][d]   each slot's state token before the time embedding (the
//              head_residual term)
//   Q [w][d]   each slot's state token's attention query
CpuForward::KeyCacheLayout CpuForward::key_cache_layout() const
{
	const size_t d = cfg_.d_model, L = padded_keys(), W = cfg_.window;
	KeyCacheLayout k;
	k.v = d * L;
	k.x = k.v + L * d;
	k.e = k.x + W * d;
	k.q = k.e + W * d;
	k.end = k.q + W * d;
	return k;
}

uint32_t CpuForward::cache_floats() const
{
	if (caches_keys())
		return static_cast<uint32_t>(key_cache_layout().end);
	return embeds_steps() ? cfg_.window * cfg_.tokens_per_step() * cfg_.d_model : 0;
}

void CpuForward::enter_block(const float *token, const float *pos, float *x, float *h)
{
	const uint32_t d = cfg_.d_model;
	for (uint32_t j = 0; j < d; j++)
		x[j] = token[j] + pos[j];
	kernels::layer_norm(x, ln_in_g_, ln_in_b_, d, x);
	kernels::layer_norm(x, blocks_[0].ln1_g, blocks_[0].ln1_b, d, h);
}

void CpuForward::cache_step(float rtg, const float *state, uint8_t action, uint32_t slot, float *cache)
{
	const uint32_t d = cfg_.d_model, tps = cfg_.tokens_per_step(), S = cfg_.state_tokens(), W = cfg_.window;
	slot %= W;
	if (!caches_keys()) {
		embed_step(rtg, state, action, cache + size_t{slot} * tps * d);
		return;
	}
	const uint32_t L = padded_keys();
	const KeyCacheLayout lay = key_cache_layout();
	float *K = cache, *V = cache + lay.v, *X = cache + lay.x, *E = cache + lay.e, *Q = cache + lay.q;
	embed_step(rtg, state, action, step_tok_.data());
	std::copy(&step_tok_[size_t{S} * d], &step_tok_[size_t{S + 1} * d], E + size_t{slot} * d);
	const float *pos = time_emb_ + size_t{slot} * d;
	const Block &b = blocks_[0];
	// The step's tokens through the time embedding, ln_in and ln1, then their
	// keys and values in one product; the action token's, which depend on
	// the action and the slot alone, come from a table.
	for (uint32_t k = 0; k + 1 < tps; k++)
		enter_block(&step_tok_[size_t{k} * d], pos, &step_x_[size_t{k} * d], &step_h_[size_t{k} * d]);
	std::copy(&step_x_[size_t{S} * d], &step_x_[size_t{S + 1} * d], X + size_t{slot} * d);
	apply_range(b.qkv, step_h_.data(), tps - 1, d, step_qkv_.data(), 3 * d, d, 3 * d);
	apply_range(b.qkv, &step_h_[size_t{S} * d], 1, d, Q + size_t{slot} * d, d, 0, d);
	const uint32_t a = action_index(action, cfg_.action_count);
	std::copy(&action_kv_[(size_t{a} * W + slot) * 2 * d], &action_kv_[(size_t{a} * W + slot + 1) * 2 * d],
		  &step_qkv_[size_t{tps - 1} * 3 * d + d]);
	for (uint32_t k = 0; k < tps; k++) {
		const uint32_t key = slot * tps + k;
		const float *kv = &step_qkv_[size_t{k} * 3 * d];
		for (uint32_t j = 0; j < d; j++) {
			K[size_t{j} * L + key] = kv[d + j];
			V[size_t{key} * d + j] = kv[2 * d + j];
		}
	}
}

uint32_t CpuForward::position(const Window &w, uint32_t t) const
{
	return cfg_.time_embedding == TimeEmbedding::ring_position ? slot(w, t) : t;
}

// The final LayerNorm, the head and the softmax for one window's last state
// token.
void CpuForward::head(const float *x, const float *state_emb, Probs &out)
{
	const uint32_t d = cfg_.d_model;
	kernels::layer_norm(x, ln_f_g_, ln_f_b_, d, head_in_.data());
	if (cfg_.head_residual)
		for (uint32_t j = 0; j < d; j++)
			head_in_[j] += state_emb[j];
	// The K logits into out.p, and their softmax in place.
	apply(head_, head_in_.data(), 1, 0, out.p.data(), 0);
	kernels::softmax(out.p.data(), cfg_.action_count, out.p.data());
}

// One block, keys and values cached: per window one query row (the newest
// state token) attending over the cached keys of its steps, then the block's
// projection and MLP and the head, each a matrix product over the batch.
void CpuForward::forward_cached_keys(const Window *windows, size_t n, Probs *out)
{
	const uint32_t d = cfg_.d_model, tps = cfg_.tokens_per_step();
	const uint32_t L = padded_keys();
	const KeyCacheLayout lay = key_cache_layout();
	size_rows(n, n);
	for (size_t i = 0; i < n; i++) {
		const Window &w = windows[i];
		const uint32_t newest = slot(w, w.steps - 1);
		const float *X = w.cache + lay.x, *E = w.cache + lay.e, *Q = w.cache + lay.q;
		std::copy(X + size_t{newest} * d, X + size_t{newest + 1} * d, &x_[i * d]);
		std::copy(E + size_t{newest} * d, E + size_t{newest + 1} * d, &state_emb_[i * d]);
		std::copy(Q + size_t{newest} * d, Q + size_t{newest + 1} * d, &qkv_[i * 3 * d]);
	}
	for (size_t i = 0; i < n; i++) {
		const Window &w = windows[i];
		// Keys in the window: every token of its steps but the newest step's
		// action (not known yet). Others are masked out.
		std::fill(key_ok_.begin(), key_ok_.end(), 0.0f);
		for (uint32_t t = 0; t < w.steps; t++) {
			const uint32_t s = slot(w, t);
			const uint32_t count = t + 1 < w.steps ? tps : tps - 1;
			std::fill(&key_ok_[size_t{s} * tps], &key_ok_[size_t{s} * tps + count], 1.0f);
		}
		kernels::cached_attention(&qkv_[i * 3 * d], w.cache, key_ok_.data(), cfg_.heads, cfg_.head_dim(), L,
					  score_.data(), &att_[i * d]);
	}
	block_tail<false>(blocks_[0], 0, static_cast<uint32_t>(n));
	for (size_t i = 0; i < n; i++)
		head(&x_[i * d], &state_emb_[i * d], out[i]);
}

void CpuForward::size_rows(size_t rows, size_t windows)
{
	const uint32_t d = cfg_.d_model;
	x_.resize(rows * d);
	h_.resize(rows * d);
	qkv_.resize(rows * 3 * d);
	att_.resize(rows * d);
	mlp_.resize(rows * cfg_.mlp_hidden);
	state_emb_.resize(windows * d);
}

// After attention (att_ rows r0 .. r1): the block's projection and residual,
// ln2, the GELU MLP and its residual, into x_.
template <bool kRound>
void CpuForward::block_tail(const Block &b, uint32_t r0, uint32_t r1)
{
	const uint32_t d = cfg_.d_model, m = cfg_.mlp_hidden;
	round_inputs<kRound>(&att_[size_t{r0} * d], size_t{r1 - r0} * d);
	apply(b.proj, &att_[size_t{r0} * d], r1 - r0, d, &h_[size_t{r0} * d], d);
	kernels::residual_add(&x_[size_t{r0} * d], &h_[size_t{r0} * d], size_t{r1 - r0} * d);
	for (uint32_t t = r0; t < r1; t++)
		kernels::layer_norm(&x_[size_t{t} * d], b.ln2_g, b.ln2_b, d, &h_[size_t{t} * d]);
	round_inputs<kRound>(&h_[size_t{r0} * d], size_t{r1 - r0} * d);
	apply(b.fc, &h_[size_t{r0} * d], r1 - r0, d, &mlp_[size_t{r0} * m], m);
	kernels::gelu(&mlp_[size_t{r0} * m], size_t{r1 - r0} * m);
	round_inputs<kRound>(&mlp_[size_t{r0} * m], size_t{r1 - r0} * m);
	apply(b.fc_proj, &mlp_[size_t{r0} * m], r1 - r0, m, &h_[size_t{r0} * d], d);
	kernels::residual_add(&x_[size_t{r0} * d], &h_[size_t{r0} * d], size_t{r1 - r0} * d);
}

void CpuForward::forward(const Window *windows, size_t n, Probs *out)
{
	// A batch comes all with step caches or all without.
	if (n > 0 && windows[0].cache && caches_keys()) {
		forward_cached_keys(windows, n, out);
		return;
	}
	forward_full<false>(windows, n, out);
}

void CpuForward::forward_rounded(const Window *windows, size_t n, Probs *out, GemmRounding r)
{
	rounding_ = r;
	forward_full<true>(windows, n, out);
}

// The batch's tokens stacked into one matrix: window i's at seg_start_[i] ..
// seg_start_[i + 1] - 1 (R, the state token(s), a per step; the last a left
// out). Sizes the rows; returns the number of tokens.
size_t CpuForward::lay_out_tokens(const Window *windows, size_t n)
{
	const uint32_t tps = cfg_.tokens_per_step();
	seg_start_.resize(n + 1);
	size_t tokens = 0;
	for (size_t i = 0; i < n; i++) {
		seg_start_[i] = static_cast<uint32_t>(tokens);
		tokens += tps * windows[i].steps - 1;
	}
	seg_start_[n] = static_cast<uint32_t>(tokens);
	size_rows(tokens, n);
	return tokens;
}

// Each step's tokens (cached by the caller, or computed here) plus the time
// embedding of the step's position, into x_; each window's last state token
// before the time embedding into state_emb_ (the head_residual term).
template <bool kRound>
void CpuForward::embed_windows(const Window *windows, size_t n)
{
	const uint32_t d = cfg_.d_model, tps = cfg_.tokens_per_step(), S = cfg_.state_tokens();
	for (size_t i = 0; i < n; i++) {
		const Window &w = windows[i];
		for (uint32_t t = 0; t < w.steps; t++) {
			// A step cache here holds tokens (embeds_steps, not caches_keys).
			const float *src = w.cache ? w.cache + size_t{slot(w, t)} * tps * d : step_tok_.data();
			if (!w.cache)
				embed_at<kRound>(w, t, step_tok_.data());
			const float *pos = time_emb_ + size_t{position(w, t)} * d;
			float *xr = &x_[(seg_start_[i] + tps * t) * size_t{d}];
			const uint32_t count = t + 1 < w.steps ? tps : tps - 1; // the last a token is left out
			for (uint32_t k = 0; k < count; k++)
				for (uint32_t j = 0; j < d; j++)
					xr[size_t{k} * d + j] = src[size_t{k} * d + j] + pos[j];
			if (t + 1 == w.steps)
				std::copy(src + size_t{S} * d, src + size_t{S + 1} * d, &state_emb_[i * d]);
		}
	}
}

// One block over the batch's tokens in x_ (n windows, `tokens` rows of d).
// In the last block (last_only) only each window's final state token goes on
// to the head, so only its row gets a query, attention, the projection and
// the MLP; every token still gives its key and value.
template <bool kRound>
void CpuForward::transformer_block(const Block &b, size_t n, size_t tokens, bool last_only)
{
	const uint32_t d = cfg_.d_model;
	for (size_t t = 0; t < tokens; t++)
		kernels::layer_norm(&x_[t * d], b.ln1_g, b.ln1_b, d, &h_[t * d]);
	round_inputs<kRound>(h_.data(), tokens * d);
	if (!last_only) {
		apply(b.qkv, h_.data(), tokens, d, qkv_.data(), 3 * d);
	} else {
		apply_range(b.qkv, h_.data(), tokens, d, qkv_.data(), 3 * d, d, 3 * d);
		for (size_t i = 0; i < n; i++) {
			const size_t r = seg_start_[i + 1] - 1;
			apply_range(b.qkv, &h_[r * d], 1, d, &qkv_[r * 3 * d], 3 * d, 0, d);
		}
	}
	// Causal attention within each window: its T tokens, H heads of hd.
	for (size_t i = 0; i < n; i++) {
		const uint32_t s0 = seg_start_[i], T = seg_start_[i + 1] - s0;
		kernels::causal_attention(&qkv_[size_t{s0} * 3 * d], T, last_only ? T - 1 : 0, cfg_.heads, cfg_.head_dim(),
					  score_.data(), &att_[size_t{s0} * d]);
	}
	if (!last_only) {
		block_tail<kRound>(b, 0, static_cast<uint32_t>(tokens));
		return;
	}
	for (size_t i = 0; i < n; i++)
		block_tail<kRound>(b, seg_start_[i + 1] - 1, seg_start_[i + 1]);
}

// Every token of every window through the model, then the head at each
// window's last state token.
template <bool kRound>
void CpuForward::forward_full(const Window *windows, size_t n, Probs *out)
{
	const uint32_t d = cfg_.d_model;
	const size_t tokens = lay_out_tokens(windows, n);
	embed_windows<kRound>(windows, n);
	for (size_t t = 0; t < tokens; t++)
		kernels::layer_norm(&x_[t * d], ln_in_g_, ln_in_b_, d, &x_[t * d]);
	for (size_t l = 0; l < blocks_.size(); l++)
		transformer_block<kRound>(blocks_[l], n, tokens, l + 1 == blocks_.size());
	for (size_t i = 0; i < n; i++)
		head(&x_[size_t{seg_start_[i + 1] - 1} * d], &state_emb_[i * d], out[i]);
}

} // namespace dualpilot::policy
