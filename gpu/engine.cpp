#include "gpu/engine.hpp"

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstring>
#include <fmt/format.h>

#include "gpu/gemm.hpp"
#include "gpu/kernels.cuh"
#include "gpu/pass_pack.hpp"

namespace dualpilot::gpu {

namespace {

constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20; // cuBLAS's advice for Hopper

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

bool gpu_present(int device, std::string &why)
{
	int count = 0;
	if (cudaError_t e = cudaGetDeviceCount(&count); e != cudaSuccess) {
		why = fmt::format("no usable GPU: {}", cudaGetErrorString(e));
		cudaGetLastError(); // not sticky: clear it for the caller's next call
		return false;
	}
	if (device < 0 || device >= count) {
		why = fmt::format("no GPU {} ({} present)", device, count);
		return false;
	}
	return true;
}

struct Engine::Impl {
	policy::ModelConfig cfg;
	EngineOptions opt;
	std::string error;
	int padding_fill = -1;

	cudaStream_t stream = nullptr;
	cublasHandle_t blas = nullptr;
	std::vector<void *> device_blocks; // every cudaMalloc, freed at the end
	std::byte *pinned = nullptr;       // both slots' pass blocks, then both slots' probabilities

	// Weights (device). GEMM weights are float or bf16 as the precision says.
	EmbedWeights ew{};
	HeadWeights hw{};
	const void *state_w = nullptr; // concat [d][F*e]; per_feature [F][d][e]
	struct Layer {
		const float *ln1_g, *ln1_b, *ln2_g, *ln2_b;
		const void *qkv_w, *proj_w, *fc_w, *fc_proj_w;
		const float *qkv_b, *proj_b, *fc_b, *fc_proj_b;
	};
	std::vector<Layer> layers;

	// Activations, sized for the largest bucket (gpu/kernels.cuh names them).
	std::byte *pass = nullptr;
	float *ring = nullptr, *state_tok = nullptr, *x = nullptr, *qkv = nullptr, *y = nullptr, *mlp = nullptr,
	      *x_sel = nullptr, *probs = nullptr;
	void *enc = nullptr, *h = nullptr, *att = nullptr, *g = nullptr; // matrix-product inputs

	struct Bucket {
		uint32_t size = 0;
		cudaGraph_t graph = nullptr;
		cudaGraphExec_t exec = nullptr;
		cudaGraphNode_t copy_in = nullptr, copy_out = nullptr;
	};
	std::vector<Bucket> buckets;

	// Passes in flight: slots used in turn, collected oldest first.
	cudaEvent_t finished[kSlots] = {};
	uint32_t pass_rows[kSlots] = {};
	size_t in_flight = 0;
	size_t next_slot = 0;

	~Impl();
	bool check(cudaError_t e, const char *what);
	bool check(cublasStatus_t s, const char *what);
	size_t pass_capacity() const { return shape(opt.max_batch).capacity_bytes(); }
	PassShape shape(uint32_t bucket) const { return PassShape{bucket, cfg.window, cfg.feature_count}; }
	std::byte *pass_host(size_t slot) const { return pinned + slot * pass_capacity(); }
	float *probs_host(size_t slot) const
	{
		return reinterpret_cast<float *>(pinned + kSlots * pass_capacity()) +
		       slot * opt.max_batch * policy::kActionCount;
	}
	Dims dims(uint32_t bucket) const;

	template <class T>
	T *alloc(size_t count);
	const float *upload(const std::vector<float> &v);
	const void *upload_matrix(const std::vector<float> &v);
	const float *vec(const policy::Model &m, const std::string &name) { return upload(m.find(name)->values); }
	bool load(const policy::Model &m);
	bool allocate();
	bool capture();

	template <class T_act>
	bool record_forward(const Dims &dm);
	bool record_pass(const Bucket &b, size_t slot, size_t bytes);
	bool launch(const Bucket &b, size_t slot, size_t bytes);
};

Engine::Impl::~Impl()
{
	if (stream)
		cudaStreamSynchronize(stream);
	for (Bucket &b : buckets) {
		if (b.exec)
			cudaGraphExecDestroy(b.exec);
		if (b.graph)
			cudaGraphDestroy(b.graph);
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

const float *Engine::Impl::upload(const std::vector<float> &v)
{
	float *d = alloc<float>(v.size());
	if (d && !check(cudaMemcpy(d, v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy"))
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
	__nv_bfloat16 *d = alloc<__nv_bfloat16>(b.size());
	if (d && !check(cudaMemcpy(d, b.data(), b.size() * sizeof(b[0]), cudaMemcpyHostToDevice), "cudaMemcpy"))
		return nullptr;
	return d;
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
	probs = alloc<float>(B * policy::kActionCount);
	if (!error.empty())
		return false;
	// The zero queue (the ring's last) stays zero: every queue starts so.
	if (!check(cudaMemset(ring, 0, ring_floats * sizeof(float)), "cudaMemset"))
		return false;
	void *host = nullptr;
	const size_t pinned_bytes = kSlots * (pass_capacity() + B * policy::kActionCount * sizeof(float));
	if (!check(cudaHostAlloc(&host, pinned_bytes, cudaHostAllocDefault), "cudaHostAlloc"))
		return false;
	pinned = static_cast<std::byte *>(host);
	std::memset(pinned, 0, pinned_bytes);
	for (cudaEvent_t &ev : finished)
		if (!check(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), "cudaEventCreate"))
			return false;
	return true;
}

// The forward of one bucket (B rows, N = B*T tokens), as a sequence of
// launches on the engine's stream.
template <class T_act>
bool Engine::Impl::record_forward(const Dims &dm)
{
	const Precision p = opt.precision;
	const uint32_t B = dm.bucket, W = dm.window, F = dm.features, e = dm.feature_embed, d = dm.d_model;
	const uint32_t mh = dm.mlp_hidden, N = dm.tokens();
	T_act *enc_a = static_cast<T_act *>(enc), *h_a = static_cast<T_act *>(h), *att_a = static_cast<T_act *>(att),
	      *g_a = static_cast<T_act *>(g);
	scatter_steps(pass, ring, dm, stream);
	encode_steps<T_act>(pass, ring, ew, dm, enc_a, stream);                  // enc [B*W][F*e]
	if (cfg.state_layout == policy::StateLayout::per_feature) {             // state_tok [F][B*W][d]
		if (!check(gemm_batched(blas, p, GemmShape{B * W, e, d, F * e}, enc_a, e, state_w, size_t{d} * e,
					state_tok, size_t{B} * W * d, static_cast<int>(F)),
			   "cublasGemmStridedBatchedEx (state projections)"))
			return false;
	} else if (!check(gemm(blas, p, GemmShape{B * W, F * e, d, 0}, enc_a, state_w, state_tok), // [B*W][d]
			  "cublasGemmEx (state projection)")) {
		return false;
	}
	assemble_tokens<T_act>(pass, ring, state_tok, ew, dm, x, h_a, stream); // x, h [N][d]
	for (size_t l = 0; l < layers.size(); l++) {
		const Layer &L = layers[l];
		const bool last = l + 1 == layers.size();
		if (!check(gemm(blas, p, GemmShape{N, d, 3 * d, 0}, h_a, L.qkv_w, qkv), "cublasGemmEx (qkv)")) // [N][3d]
			return false;
		// Every token through the block, but in the last one only each row's
		// query token: rows = N, or B with x_sel [B][d] as the residual.
		const uint32_t rows = last ? B : N;
		float *res = last ? x_sel : x;
		if (last)
			attention_query<T_act>(pass, qkv, L.qkv_b, x, dm, att_a, x_sel, stream); // att [B][d]
		else
			attention_all<T_act>(qkv, L.qkv_b, dm, att_a, stream); // att [N][d]
		if (!check(gemm(blas, p, GemmShape{rows, d, d, 0}, att_a, L.proj_w, y), "cublasGemmEx (attn.proj)"))
			return false;
		residual_layer_norm<T_act>(res, y, L.proj_b, L.ln2_g, L.ln2_b, h_a, rows, d, stream);
		if (!check(gemm(blas, p, GemmShape{rows, d, mh, 0}, h_a, L.fc_w, mlp), "cublasGemmEx (mlp.fc)")) // [rows][mh]
			return false;
		bias_gelu<T_act>(mlp, L.fc_b, rows, mh, g_a, stream);
		if (!check(gemm(blas, p, GemmShape{rows, mh, d, 0}, g_a, L.fc_proj_w, y), "cublasGemmEx (mlp.proj)"))
			return false;
		if (last) // the residual goes into the head's kernel
			action_head(pass, x_sel, y, L.fc_proj_b, state_tok, hw, dm, probs, stream); // probs [B][3]
		else
			residual_layer_norm<T_act>(x, y, L.fc_proj_b, layers[l + 1].ln1_g, layers[l + 1].ln1_b, h_a, N, d,
						   stream);
	}
	if (layers.empty()) {
		gather_query(pass, x, dm, x_sel, stream);
		action_head(pass, x_sel, nullptr, nullptr, state_tok, hw, dm, probs, stream);
	}
	return check(cudaGetLastError(), "kernel launch");
}

// The whole pass: the block in, the forward, the probabilities out.
bool Engine::Impl::record_pass(const Bucket &b, size_t slot, size_t bytes)
{
	if (!check(cudaMemcpyAsync(pass, pass_host(slot), bytes, cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync (in)"))
		return false;
	const Dims dm = dims(b.size);
	const bool ok = opt.precision == Precision::bf16 ? record_forward<__nv_bfloat16>(dm) : record_forward<float>(dm);
	return ok && check(cudaMemcpyAsync(probs_host(slot), probs, size_t{b.size} * policy::kActionCount * sizeof(float),
					   cudaMemcpyDeviceToHost, stream),
			   "cudaMemcpyAsync (out)");
}

// Each bucket's pass, run once eagerly (cuBLAS settles its choices and
// allocations outside the capture), then captured with the largest copy in;
// a launch sets the copies' slot and size (gpu/pass_layout.hpp).
bool Engine::Impl::capture()
{
	for (Bucket &b : buckets) {
		PassHeader empty{0, 0, {0, 0}};
		std::memcpy(pass_host(0), &empty, sizeof(empty));
		const size_t bytes = shape(b.size).capacity_bytes();
		if (!record_pass(b, 0, bytes) || !check(cudaStreamSynchronize(stream), "warm-up pass"))
			return false;
		if (!check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture"))
			return false;
		const bool recorded = record_pass(b, 0, bytes);
		const bool ended = check(cudaStreamEndCapture(stream, &b.graph), "cudaStreamEndCapture");
		if (!recorded || !ended || !check(cudaGraphInstantiate(&b.exec, b.graph, 0), "cudaGraphInstantiate"))
			return false;
		size_t count = 0;
		if (!check(cudaGraphGetNodes(b.graph, nullptr, &count), "cudaGraphGetNodes"))
			return false;
		std::vector<cudaGraphNode_t> nodes(count);
		if (!check(cudaGraphGetNodes(b.graph, nodes.data(), &count), "cudaGraphGetNodes"))
			return false;
		for (cudaGraphNode_t n : nodes) {
			cudaGraphNodeType type;
			cudaMemcpy3DParms params{};
			if (!check(cudaGraphNodeGetType(n, &type), "cudaGraphNodeGetType"))
				return false;
			if (type != cudaGraphNodeTypeMemcpy)
				continue;
			if (!check(cudaGraphMemcpyNodeGetParams(n, &params), "cudaGraphMemcpyNodeGetParams"))
				return false;
			(params.dstPtr.ptr == pass ? b.copy_in : b.copy_out) = n;
		}
		if (!b.copy_in || !b.copy_out) {
			error = "the captured pass has no copy in or out";
			return false;
		}
	}
	return true;
}

bool Engine::Impl::launch(const Bucket &b, size_t slot, size_t bytes)
{
	if (!opt.graphs)
		return record_pass(b, slot, bytes);
	const size_t out_bytes = size_t{b.size} * policy::kActionCount * sizeof(float);
	return check(cudaGraphExecMemcpyNodeSetParams1D(b.exec, b.copy_in, pass, pass_host(slot), bytes,
							 cudaMemcpyHostToDevice),
		     "cudaGraphExecMemcpyNodeSetParams1D (in)") &&
	       check(cudaGraphExecMemcpyNodeSetParams1D(b.exec, b.copy_out, probs_host(slot), probs, out_bytes,
							 cudaMemcpyDeviceToHost),
		     "cudaGraphExecMemcpyNodeSetParams1D (out)") &&
	       check(cudaGraphLaunch(b.exec, stream), "cudaGraphLaunch");
}

std::unique_ptr<Engine> Engine::create(const policy::Model &m, const EngineOptions &opt, std::string &err)
{
	if (std::string e = policy::check_config(m.config); !e.empty() || !(e = policy::check_tensors(m)).empty()) {
		err = e;
		return nullptr;
	}
	for (const char *name : {"act.emb", "time.emb"}) // looked up, not multiplied (as the cpu backend)
		if (m.find(name)->dtype != policy::DType::f32) {
			err = fmt::format("{} must be fp32", name);
			return nullptr;
		}
	if (m.config.head_dim() > kMaxHeadDim) {
		err = fmt::format("heads of {} dimensions: the engine's attention takes at most {}", m.config.head_dim(),
				  kMaxHeadDim);
		return nullptr;
	}
	if (opt.max_batch < 1 || opt.max_batch > 65536 || opt.queues < 1) {
		err = fmt::format("max_batch {} (1..65536) and queues {} (>= 1)", opt.max_batch, opt.queues);
		return nullptr;
	}
	if (!gpu_present(opt.device, err))
		return nullptr;
	auto impl = std::make_unique<Impl>();
	impl->cfg = m.config;
	impl->opt = opt;
	for (uint32_t b : kBuckets)
		if (b < opt.max_batch)
			impl->buckets.push_back(Impl::Bucket{b});
	impl->buckets.push_back(Impl::Bucket{opt.max_batch});
	Impl &e = *impl;
	const bool ok = e.check(cudaSetDevice(opt.device), "cudaSetDevice") &&
			e.check(cudaStreamCreateWithFlags(&e.stream, cudaStreamNonBlocking), "cudaStreamCreate") &&
			e.check(cublasCreate(&e.blas), "cublasCreate") && e.check(cublasSetStream(e.blas, e.stream), "cublasSetStream") &&
			e.load(m) && e.allocate();
	void *workspace = ok ? e.alloc<std::byte>(kCublasWorkspaceBytes) : nullptr;
	if (!ok || !workspace || !e.check(cublasSetWorkspace(e.blas, workspace, kCublasWorkspaceBytes), "cublasSetWorkspace") ||
	    !e.capture() || !e.check(cudaStreamSynchronize(e.stream), "cudaStreamSynchronize")) {
		err = e.error;
		return nullptr;
	}
	return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

const policy::ModelConfig &Engine::config() const { return impl_->cfg; }
const EngineOptions &Engine::options() const { return impl_->opt; }
const std::string &Engine::error() const { return impl_->error; }
size_t Engine::in_flight() const { return impl_->in_flight; }
void Engine::set_graphs(bool on) { impl_->opt.graphs = on; }
void Engine::set_padding_fill(int byte) { impl_->padding_fill = byte; }

std::vector<uint32_t> Engine::buckets() const
{
	std::vector<uint32_t> sizes;
	for (const Impl::Bucket &b : impl_->buckets)
		sizes.push_back(b.size);
	return sizes;
}

uint32_t Engine::bucket_for(size_t n) const
{
	for (const Impl::Bucket &b : impl_->buckets)
		if (n <= b.size)
			return b.size;
	return 0;
}

bool Engine::submit(const policy::Window *windows, size_t n)
{
	Impl &e = *impl_;
	if (!e.error.empty())
		return false;
	if (e.in_flight == kSlots) {
		e.error = "a pass was submitted with both slots in flight";
		return false;
	}
	const auto bucket = std::find_if(e.buckets.begin(), e.buckets.end(), [n](const Impl::Bucket &b) { return n <= b.size; });
	if (n == 0 || bucket == e.buckets.end()) {
		e.error = fmt::format("a pass of {} windows (1..{})", n, e.opt.max_batch);
		return false;
	}
	const size_t slot = e.next_slot;
	const PassShape shape = e.shape(bucket->size);
	std::byte *block = e.pass_host(slot);
	const size_t bytes = pack_pass(shape, windows, n, e.opt.queues, block, e.error);
	if (bytes == 0)
		return false;
	if (e.padding_fill >= 0) { // the rows past n and the records past the real ones
		std::memset(block + kMetaOffset + n * sizeof(RowMeta), e.padding_fill, (bucket->size - n) * sizeof(RowMeta));
		std::memset(block + bytes, e.padding_fill, shape.capacity_bytes() - bytes);
	}
	if (!e.launch(*bucket, slot, e.padding_fill >= 0 ? shape.capacity_bytes() : bytes) ||
	    !e.check(cudaEventRecord(e.finished[slot], e.stream), "cudaEventRecord"))
		return false;
	e.pass_rows[slot] = static_cast<uint32_t>(n);
	e.in_flight++;
	e.next_slot = (slot + 1) % kSlots;
	return true;
}

bool Engine::done() const
{
	const Impl &e = *impl_;
	if (e.in_flight == 0)
		return true;
	const size_t oldest = (e.next_slot + kSlots - e.in_flight) % kSlots;
	return cudaEventQuery(e.finished[oldest]) != cudaErrorNotReady;
}

bool Engine::collect(policy::Probs *out)
{
	Impl &e = *impl_;
	if (e.in_flight == 0) {
		e.error = "collect with no pass in flight";
		return false;
	}
	const size_t oldest = (e.next_slot + kSlots - e.in_flight) % kSlots;
	e.in_flight--;
	if (!e.check(cudaEventSynchronize(e.finished[oldest]), "cudaEventSynchronize"))
		return false;
	const float *p = e.probs_host(oldest);
	for (uint32_t i = 0; i < e.pass_rows[oldest]; i++)
		for (uint32_t a = 0; a < policy::kActionCount; a++)
			out[i].p[a] = p[i * policy::kActionCount + a];
	return true;
}

bool Engine::forward(const policy::Window *windows, size_t n, policy::Probs *out)
{
	return submit(windows, n) && collect(out);
}

} // namespace dualpilot::gpu
