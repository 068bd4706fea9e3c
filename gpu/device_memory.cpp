// The engine's device memory: the weights, uploaded once (int8 ones
// dequantised, matrix-product weights as bf16 for the bf16 engine), and
// every activation buffer, sized for the largest bucket, allocated once.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstring>
#include <fmt/format.h>

#include "gpu/engine_impl.hpp"

namespace dualpilot::gpu {

namespace {

// A weight matrix as fp32 [out][in] (int8 ones dequantised: q * scale[row]).
std::vector<float> dequantised(const policy::Tensor &t)
{
	if (t.dtype == policy::DType::f32)
		return t.values;
	std::vector<float> v(t.q.size());
	const size_t in = t.shape.size() == 2 ? t.shape[1] : 1;
	for (size_t i = 0; i < v.size(); i++)
		v[i] = static_cast<float>(t.q[i]) * t.scales[i / in];
	return v;
}

} // namespace

Engine::Impl::~Impl()
{
	cudaSetDevice(opt.device); // the destroying thread may have another GPU current
	if (stream)
		cudaStreamSynchronize(stream);
	for (Bucket &b : buckets)
		for (size_t s = 0; s < kSlots; s++) {
			if (b.exec[s])
				cudaGraphExecDestroy(b.exec[s]);
			if (b.graph[s])
				cudaGraphDestroy(b.graph[s]);
		}
	for (cudaEvent_t e : finished)
		if (e)
			cudaEventDestroy(e);
	if (blas)
		cublasDestroy(blas);
	for (void *p : device_blocks)
		cudaFree(p);
	if (pinned)
		cudaFreeHost(pinned);
	if (stream)
		cudaStreamDestroy(stream);
}

bool Engine::Impl::check(cudaError_t e, const char *what)
{
	if (e == cudaSuccess)
		return true;
	if (error.empty())
		error = fmt::format("{}: {}", what, cudaGetErrorString(e));
	return false;
}

bool Engine::Impl::check(cublasStatus_t s, const char *what)
{
	if (s == CUBLAS_STATUS_SUCCESS)
		return true;
	if (error.empty())
		error = fmt::format("{}: {}", what, cublasGetStatusString(s));
	return false;
}

Dims Engine::Impl::dims(uint32_t bucket) const
{
	Dims dm;
	dm.bucket = bucket;
	dm.window = cfg.window;
	dm.features = cfg.feature_count;
	dm.feature_embed = cfg.feature_embed;
	dm.d_model = cfg.d_model;
	dm.heads = cfg.heads;
	dm.head_dim = cfg.head_dim();
	dm.mlp_hidden = cfg.mlp_hidden;
	dm.actions = cfg.action_count;
	dm.tokens_per_step = cfg.tokens_per_step();
	dm.state_tokens = cfg.state_tokens();
	dm.queues = opt.queues;
	dm.ring_position = cfg.time_embedding == policy::TimeEmbedding::ring_position;
	dm.head_residual = cfg.head_residual;
	dm.rtg_scale = cfg.rtg_scale;
	uint32_t offset = 0;
	for (uint32_t f = 0; f < cfg.feature_count; f++) {
		dm.kernel[f] = cfg.kernels[f];
		dm.enc_offset[f] = offset;
		offset += cfg.feature_embed * cfg.kernels[f];
	}
	return dm;
}

template <class T>
T *Engine::Impl::alloc(size_t count)
{
	void *p = nullptr;
	if (!check(cudaMalloc(&p, std::max<size_t>(count, 1) * sizeof(T)), "cudaMalloc"))
		return nullptr;
	device_blocks.push_back(p);
	return static_cast<T *>(p);
}

template <class T>
const T *Engine::Impl::upload(const std::vector<T> &v)
{
	// From pageable memory: cudaMemcpy returns once v is staged (v may go),
	// but the copy itself may still be running on the legacy stream, which the
	// engine's non-blocking stream does not wait for: create() synchronises
	// the device before any pass.
	T *d = alloc<T>(v.size());
	if (d && !check(cudaMemcpy(d, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy (weights)"))
		return nullptr;
	return d;
}

// A matrix product's weights, in the precision's input type.
const void *Engine::Impl::upload_matrix(const std::vector<float> &v)
{
	if (opt.precision != Precision::bf16)
		return upload(v);
	std::vector<__nv_bfloat16> b(v.size());
	for (size_t i = 0; i < v.size(); i++)
		b[i] = __float2bfloat16(v[i]);
	return upload(b);
}

bool Engine::Impl::load(const policy::Model &m)
{
	const uint32_t F = cfg.feature_count;
	std::vector<float> enc_w, enc_b, state_w, state_b;
	for (uint32_t f = 0; f < F; f++) {
		const auto w = dequantised(*m.find(fmt::format("enc.{}.w", f)));
		enc_w.insert(enc_w.end(), w.begin(), w.end());
		const auto &b = m.find(fmt::format("enc.{}.b", f))->values;
		enc_b.insert(enc_b.end(), b.begin(), b.end());
	}
	if (cfg.state_layout == policy::StateLayout::per_feature) {
		for (uint32_t f = 0; f < F; f++) {
			const auto w = dequantised(*m.find(fmt::format("enc.{}.proj.w", f)));
			state_w.insert(state_w.end(), w.begin(), w.end());
			const auto &b = m.find(fmt::format("enc.{}.proj.b", f))->values;
			state_b.insert(state_b.end(), b.begin(), b.end());
		}
	} else {
		state_w = dequantised(*m.find("enc.proj.w"));
		state_b = m.find("enc.proj.b")->values;
	}
	ew.mean = vec(m, "norm.mean");
	ew.std = vec(m, "norm.std");
	ew.enc_w = upload(enc_w);
	ew.enc_b = upload(enc_b);
	ew.state_b = hw.state_b = upload(state_b);
	this->state_w = upload_matrix(state_w);
	ew.rtg_w = upload(dequantised(*m.find("rtg.w")));
	ew.rtg_b = vec(m, "rtg.b");
	ew.act_emb = vec(m, "act.emb");
	ew.time_emb = vec(m, "time.emb");
	ew.ln_in_g = vec(m, "ln_in.g");
	ew.ln_in_b = vec(m, "ln_in.b");
	for (uint32_t l = 0; l < cfg.layers; l++) {
		const std::string p = fmt::format("h{}.", l);
		auto matrix = [&](const char *name) { return upload_matrix(dequantised(*m.find(p + name))); };
		layers.push_back(Layer{vec(m, p + "ln1.g"), vec(m, p + "ln1.b"), vec(m, p + "ln2.g"), vec(m, p + "ln2.b"),
				       matrix("attn.qkv.w"), matrix("attn.proj.w"), matrix("mlp.fc.w"),
				       matrix("mlp.proj.w"), vec(m, p + "attn.qkv.b"), vec(m, p + "attn.proj.b"),
				       vec(m, p + "mlp.fc.b"), vec(m, p + "mlp.proj.b")});
	}
	ew.ln1_g = layers.empty() ? nullptr : layers[0].ln1_g;
	ew.ln1_b = layers.empty() ? nullptr : layers[0].ln1_b;
	hw.ln_f_g = vec(m, "ln_f.g");
	hw.ln_f_b = vec(m, "ln_f.b");
	hw.w = upload(dequantised(*m.find("head.w")));
	hw.b = vec(m, "head.b");
	return error.empty();
}

bool Engine::Impl::allocate()
{
	const size_t B = opt.max_batch, W = cfg.window, F = cfg.feature_count, e = cfg.feature_embed;
	const size_t d = cfg.d_model, mh = cfg.mlp_hidden, S = cfg.state_tokens();
	const size_t N = B * W * cfg.tokens_per_step();
	const size_t act = opt.precision == Precision::bf16 ? sizeof(__nv_bfloat16) : sizeof(float);
	const size_t ring_floats = (size_t{opt.queues} + 1) * W * (kStepHeadFloats + F);
	pass = alloc<std::byte>(pass_capacity());
	ring = alloc<float>(ring_floats);
	enc = alloc<std::byte>(B * W * F * e * act);
	state_tok = alloc<float>(S * B * W * d);
	x = alloc<float>(N * d);
	h = alloc<std::byte>(N * d * act);
	qkv = alloc<float>(N * 3 * d);
	att = alloc<std::byte>(N * d * act);
	y = alloc<float>(N * d);
	mlp = alloc<float>(N * mh);
	g = alloc<std::byte>(N * mh * act);
	x_sel = alloc<float>(B * d);
	probs = alloc<float>(B * cfg.action_count);
	if (!error.empty())
		return false;
	// The zero queue (the ring's last) stays zero: every queue starts so.
	if (!check(cudaMemsetAsync(ring, 0, ring_floats * sizeof(float), stream), "cudaMemsetAsync (rings)"))
		return false;
	void *host = nullptr;
	const size_t pinned_bytes = kSlots * (pass_capacity() + B * cfg.action_count * sizeof(float));
	if (!check(cudaHostAlloc(&host, pinned_bytes, cudaHostAllocDefault), "cudaHostAlloc"))
		return false;
	pinned = static_cast<std::byte *>(host);
	std::memset(pinned, 0, pinned_bytes);
	for (cudaEvent_t &ev : finished)
		if (!check(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), "cudaEventCreate"))
			return false;
	return true;
}

} // namespace dualpilot::gpu
