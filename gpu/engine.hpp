// The CUDA inference engine: the model of policy/model.hpp on one GPU, the
// same forward as the cpu backend (policy/forward_cpu.hpp). Weights are
// uploaded once; every activation lives in buffers allocated at creation;
// the matrix products are cuBLAS's (gpu/gemm.hpp), the rest the engine's own
// kernels (gpu/kernels.cuh). Each queue's steps stay on the GPU
// (gpu/pass_layout.hpp), so a pass sends only the steps that arrived since
// the queue's previous pass.
//
// A pass - the copy of its block from pinned memory, the forward, the copy
// of the action probabilities back - is captured once per batch bucket into
// a CUDA graph and replayed; a batch is padded up to its bucket. Two passes
// may be in flight: while one runs, the caller drains its rings and packs
// the next into the other pinned buffer. A replay re-points the graph's two
// copies at the pass's pinned buffer; where the driver refuses that, the
// engine captures a graph per buffer instead (repoints_copies() says which).
//
// Host API without CUDA types, so that the router and the tests include it
// with the host compiler. Not thread-safe: one thread at a time drives an
// engine, not necessarily the one that created it (each call makes the
// engine's GPU the calling thread's current device).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gpu/gemm_precision.hpp"
#include "policy/window.hpp"
#include "policy/model.hpp"

namespace dualpilot::gpu {

// The batch buckets a pass is padded to: those below max_batch, then
// max_batch itself. bench-gpu's batches (1, 32, 256, 1024) are buckets, so
// that it times passes of the size it names.
inline constexpr uint32_t kBuckets[] = {1, 8, 32, 128, 256, 512, 1024};

inline std::vector<uint32_t> bucket_sizes(uint32_t max_batch)
{
	std::vector<uint32_t> sizes;
	for (uint32_t b : kBuckets)
		if (b < max_batch)
			sizes.push_back(b);
	sizes.push_back(max_batch);
	return sizes;
}

struct EngineOptions {
	int device = 0;
	Precision precision = Precision::tf32;
	uint32_t max_batch = 256;  // windows in one pass
	uint32_t queues = 1;       // queues whose steps the engine keeps (window.queue < queues)
	bool graphs = true;        // replay captured graphs (false: launch each kernel, for comparison)
	// A graph per pinned buffer instead of one whose copies are re-pointed:
	// what the engine falls back to where the driver refuses to re-point
	// them; set, for the tests, to run that path anyway.
	bool graph_per_buffer = false;
};

// Whether a GPU is usable: false with the reason (no device, no driver).
bool gpu_present(int device, std::string &why);
// The GPU's name and compute capability (where one can be used), the
// driver's CUDA version (0.0: no driver) and the runtime's: what a run's
// log should start with, since a runtime newer than the driver supports
// leaves no usable GPU.
std::string device_summary(int device);

class Engine {
public:
	// Null with err set where the model or the options cannot run here (no
	// GPU, not enough memory, a head wider than gpu::kMaxHeadDim, a weight
	// that is not finite is fine: its outputs are counted by the caller).
	static std::unique_ptr<Engine> create(const policy::Model &m, const EngineOptions &opt, std::string &err);
	~Engine();

	const policy::ModelConfig &config() const;
	std::vector<uint32_t> buckets() const;
	// Whether a replay re-points its bucket's graph (false: a graph per
	// pinned buffer, set or fallen back to).
	bool repoints_copies() const;
	std::string graph_mode() const; // the same in words, with the driver's refusal

	// Starts a pass on n windows (1..max_batch, each with its raw steps and
	// queue < queues). False once a CUDA or cuBLAS call has failed: error()
	// names it, and the engine does nothing more.
	bool submit(const policy::Window *windows, size_t n);
	size_t in_flight() const;
	static constexpr size_t kSlots = 2;
	bool done() const;             // the oldest pass has finished
	bool collect(policy::Probs *out); // its n distributions; blocks until then
	// submit + collect.
	bool forward(const policy::Window *windows, size_t n, policy::Probs *out);
	const std::string &error() const;

	// Launch each kernel instead of replaying the bucket's graph (or back):
	// the same work, for the tests and the benchmark.
	void set_graphs(bool on);
	// Fills the padded part of every pass block (rows and step records past
	// the real ones) with `byte` before it is copied: the tests show that
	// padding cannot reach a real row.
	void set_padding_fill(int byte);

	struct Impl;

private:
	explicit Engine(std::unique_ptr<Impl> impl);
	std::unique_ptr<Impl> impl_;
};

} // namespace dualpilot::gpu
