#include "gpu/engine.hpp"

#include <algorithm>
#include <cstring>
#include <fmt/format.h>

#include "gpu/engine_impl.hpp"
#include "gpu/pass_pack.hpp"

namespace dualpilot::gpu {

namespace {

constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20; // cuBLAS's advice for Hopper

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

std::string device_summary(int device)
{
	int driver = 0, runtime = 0;
	cudaDriverGetVersion(&driver); // 0 where no driver is installed
	cudaRuntimeGetVersion(&runtime);
	std::string gpu = "no usable GPU";
	cudaDeviceProp prop{};
	if (cudaGetDeviceProperties(&prop, device) == cudaSuccess)
		gpu = fmt::format("GPU {}: {} (sm_{}{}, {} MiB)", device, prop.name, prop.major, prop.minor,
				  prop.totalGlobalMem >> 20);
	cudaGetLastError(); // not sticky: clear it for the caller's next call
	return fmt::format("{}; CUDA driver {}.{}, runtime {}.{}", gpu, driver / 1000, driver % 1000 / 10,
			   runtime / 1000, runtime % 1000 / 10);
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
	for (uint32_t b : bucket_sizes(opt.max_batch))
		impl->buckets.push_back(Impl::Bucket{b});
	Impl &e = *impl;
	// The weights' uploads (the legacy stream) and the rings' zeros (the
	// engine's) finish before the first pass: the engine's stream is
	// non-blocking, so nothing else orders them before it.
	const bool ok = e.on_device() &&
			e.check(cudaStreamCreateWithFlags(&e.stream, cudaStreamNonBlocking), "cudaStreamCreate") &&
			e.check(cublasCreate(&e.blas), "cublasCreate") && e.check(cublasSetStream(e.blas, e.stream), "cublasSetStream") &&
			e.load(m) && e.allocate() && e.check(cudaDeviceSynchronize(), "cudaDeviceSynchronize (set-up copies)");
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
const std::string &Engine::error() const { return impl_->error; }
size_t Engine::in_flight() const { return impl_->in_flight; }
bool Engine::repoints_copies() const { return impl_->repoint_copies; }
void Engine::set_graphs(bool on) { impl_->opt.graphs = on; }
void Engine::set_padding_fill(int byte) { impl_->padding_fill = byte; }

std::vector<uint32_t> Engine::buckets() const
{
	std::vector<uint32_t> sizes;
	for (const Impl::Bucket &b : impl_->buckets)
		sizes.push_back(b.size);
	return sizes;
}

std::string Engine::graph_mode() const
{
	const Impl &e = *impl_;
	if (e.repoint_copies)
		return "a graph per bucket, its copies re-pointed at each pass's buffers";
	if (e.opt.graph_per_buffer)
		return "a graph per bucket and pinned buffer (as set)";
	return "a graph per bucket and pinned buffer (the driver would not re-point copies: " + e.repoint_refused + ")";
}

bool Engine::submit(const policy::Window *windows, size_t n)
{
	Impl &e = *impl_;
	if (!e.error.empty() || !e.on_device()) // the caller's thread may have another GPU current
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
	Impl &e = *impl_;
	if (e.in_flight == 0)
		return true;
	if (!e.on_device())
		return true; // collect() reports it
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
	if (!e.on_device())
		return false;
	const size_t oldest = (e.next_slot + kSlots - e.in_flight) % kSlots;
	e.in_flight--;
	if (!e.check(cudaEventSynchronize(e.finished[oldest]), "cudaEventSynchronize"))
		return false;
	const float *p = e.probs_host(oldest);
	const uint32_t K = e.cfg.action_count;
	for (uint32_t i = 0; i < e.pass_rows[oldest]; i++)
		for (uint32_t a = 0; a < K; a++)
			out[i].p[a] = p[i * K + a];
	return true;
}

bool Engine::forward(const policy::Window *windows, size_t n, policy::Probs *out)
{
	return submit(windows, n) && collect(out);
}

} // namespace dualpilot::gpu
