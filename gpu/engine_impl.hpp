// The engine's state, shared by its files: engine.cpp (the API: create,
// submit, collect), device_memory.cpp (weights and buffers, allocated once),
// pass_graph.cpp (a pass as launches, captured into a graph per bucket).
// Private to gpu/: CUDA types.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <string>
#include <vector>

#include "gpu/engine.hpp"
#include "gpu/kernels.cuh"
#include "gpu/pass_layout.hpp"

namespace dualpilot::gpu {

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

	// A bucket's graph: with repoint_copies one, for slot 0, whose copy
	// nodes a launch points at its slot; without, one per slot.
	struct Bucket {
		uint32_t size = 0;
		cudaGraph_t graph[kSlots] = {};
		cudaGraphExec_t exec[kSlots] = {};
		cudaGraphNode_t copy_in = nullptr, copy_out = nullptr; // in graph[0]
	};
	std::vector<Bucket> buckets;
	bool repoint_copies = true;
	std::string repoint_refused; // why not, where the driver would not

	// Passes in flight: slots used in turn, collected oldest first.
	cudaEvent_t finished[kSlots] = {};
	uint32_t pass_rows[kSlots] = {};
	size_t in_flight = 0;
	size_t next_slot = 0;

	~Impl();
	bool on_device() { return check(cudaSetDevice(opt.device), "cudaSetDevice"); }
	bool check(cudaError_t e, const char *what);
	bool check(cublasStatus_t s, const char *what);
	size_t pass_capacity() const { return shape(opt.max_batch).capacity_bytes(); }
	PassShape shape(uint32_t bucket) const { return PassShape{bucket, cfg.window, cfg.feature_count, cfg.action_count}; }
	std::byte *pass_host(size_t slot) const { return pinned + slot * pass_capacity(); }
	float *probs_host(size_t slot) const
	{
		return reinterpret_cast<float *>(pinned + kSlots * pass_capacity()) +
		       slot * opt.max_batch * cfg.action_count;
	}
	Dims dims(uint32_t bucket) const;

	template <class T>
	T *alloc(size_t count);
	template <class T>
	const T *upload(const std::vector<T> &v);
	const void *upload_matrix(const std::vector<float> &v);
	const float *vec(const policy::Model &m, const std::string &name) { return upload(m.find(name)->values); }
	bool load(const policy::Model &m);
	bool allocate();
	bool capture();
	bool capture_graph(Bucket &b, size_t slot);
	bool find_copies(Bucket &b);
	bool copies_repoint(const Bucket &b);
	bool point_copies(const Bucket &b, size_t slot, size_t bytes);

	template <class T_act>
	bool record_forward(const Dims &dm);
	bool record_pass(const Bucket &b, size_t slot, size_t bytes);
	bool launch(const Bucket &b, size_t slot, size_t bytes);
};

} // namespace dualpilot::gpu
