// A pass as the engine runs it: the launches of the forward for one
// bucket, the copies around them, and their capture into a CUDA graph that
// each later pass of that bucket replays.
#include <cuda_bf16.h>

#include <cstring>
#include <fmt/format.h>
#include <utility>
#include <vector>

#include "gpu/engine_impl.hpp"
#include "gpu/gemm.hpp"

namespace dualpilot::gpu {

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
			action_head(pass, x_sel, y, L.fc_proj_b, state_tok, hw, dm, probs, stream); // probs [B][K]
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
	return ok && check(cudaMemcpyAsync(probs_host(slot), probs, size_t{b.size} * cfg.action_count * sizeof(float),
					   cudaMemcpyDeviceToHost, stream),
			   "cudaMemcpyAsync (out)");
}

// Each bucket's pass, run once eagerly (cuBLAS settles its choices and
// allocations outside the capture), then captured with slot 0's buffers
// and the bucket's whole block in. A launch re-points the graph's two
// copies at its slot and its block's size; where the driver will not (a
// copy not captured 1-D, a refused update), every bucket is captured anew,
// once per slot, and those graphs' copies take whole blocks (the records
// past a pass's own are never read: gpu/pass_layout.hpp).
bool Engine::Impl::capture()
{
	repoint_copies = !opt.graph_per_buffer;
	for (Bucket &b : buckets) {
		PassHeader empty{0, 0, {0, 0}};
		std::memcpy(pass_host(0), &empty, sizeof(empty));
		if (!record_pass(b, 0, shape(b.size).capacity_bytes()) || !check(cudaStreamSynchronize(stream), "warm-up pass"))
			return false;
		if (!capture_graph(b, 0) || !find_copies(b))
			return false;
		if (repoint_copies && !copies_repoint(b))
			repoint_copies = false;
	}
	if (!repoint_copies)
		for (Bucket &b : buckets)
			if (!capture_graph(b, 0) || !capture_graph(b, 1)) // graph 0's copies may have been re-pointed
				return false;
	return true;
}

// The bucket's pass on slot's buffers, whole blocks in, as graph[slot]
// (replacing one captured before).
bool Engine::Impl::capture_graph(Bucket &b, size_t slot)
{
	if (b.exec[slot])
		cudaGraphExecDestroy(std::exchange(b.exec[slot], nullptr));
	if (b.graph[slot])
		cudaGraphDestroy(std::exchange(b.graph[slot], nullptr));
	if (!check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture"))
		return false;
	const bool recorded = record_pass(b, slot, shape(b.size).capacity_bytes());
	const bool ended = check(cudaStreamEndCapture(stream, &b.graph[slot]), "cudaStreamEndCapture");
	return recorded && ended && check(cudaGraphInstantiate(&b.exec[slot], b.graph[slot], 0), "cudaGraphInstantiate");
}

// The slot-0 graph's copies, told apart by both their ends: the block from
// slot 0's pinned buffer into the device's, the probabilities from the
// device into slot 0's pinned ones. A graph with any other copy is not the
// pass launch() re-points: refused, each copy named.
bool Engine::Impl::find_copies(Bucket &b)
{
	size_t count = 0;
	if (!check(cudaGraphGetNodes(b.graph[0], nullptr, &count), "cudaGraphGetNodes"))
		return false;
	std::vector<cudaGraphNode_t> nodes(count);
	if (!check(cudaGraphGetNodes(b.graph[0], nodes.data(), &count), "cudaGraphGetNodes"))
		return false;
	std::string seen;
	size_t copies = 0;
	b.copy_in = b.copy_out = nullptr;
	for (cudaGraphNode_t n : nodes) {
		cudaGraphNodeType type;
		if (!check(cudaGraphNodeGetType(n, &type), "cudaGraphNodeGetType"))
			return false;
		if (type != cudaGraphNodeTypeMemcpy)
			continue;
		cudaMemcpy3DParms p{};
		if (!check(cudaGraphMemcpyNodeGetParams(n, &p), "cudaGraphMemcpyNodeGetParams"))
			return false;
		copies++;
		seen += fmt::format(" [{} -> {}, {} x {} x {}]", p.srcPtr.ptr, p.dstPtr.ptr, p.extent.width, p.extent.height,
				    p.extent.depth);
		if (p.srcPtr.ptr == pass_host(0) && p.dstPtr.ptr == pass)
			b.copy_in = n;
		else if (p.srcPtr.ptr == probs && p.dstPtr.ptr == probs_host(0))
			b.copy_out = n;
	}
	if (copies != 2 || !b.copy_in || !b.copy_out) {
		error = fmt::format("the captured pass of bucket {} has {} copies:{}; expected two, the block in ({} -> {}) "
				    "and the probabilities out ({} -> {})",
				    b.size, copies, seen, static_cast<const void *>(pass_host(0)), static_cast<const void *>(pass),
				    static_cast<const void *>(probs), static_cast<const void *>(probs_host(0)));
		return false;
	}
	return true;
}

// Whether launch() may re-point this bucket's copies: both were captured
// 1-D (cudaGraphExecMemcpyNodeSetParams1D takes no other) and the driver
// takes them pointed at slot 1 and back. A refusal is no error: the engine
// captures a graph per slot instead, and says why (graph_mode()).
bool Engine::Impl::copies_repoint(const Bucket &b)
{
	for (cudaGraphNode_t n : {b.copy_in, b.copy_out}) {
		cudaMemcpy3DParms p{};
		if (cudaGraphMemcpyNodeGetParams(n, &p) != cudaSuccess || p.srcArray || p.dstArray || p.extent.height != 1 ||
		    p.extent.depth != 1 || p.srcPos.x || p.dstPos.x) {
			cudaGetLastError();
			repoint_refused = fmt::format("bucket {}: a copy was not captured 1-D", b.size);
			return false;
		}
	}
	const std::string before = error;
	const size_t bytes = shape(b.size).capacity_bytes();
	if (point_copies(b, 1, bytes) && point_copies(b, 0, bytes))
		return true;
	repoint_refused = fmt::format("bucket {}: {}", b.size, error);
	error = before; // not the engine's failure
	cudaGetLastError();
	return false;
}

// The two copies of the bucket's graph pointed at slot's buffers, `bytes`
// of the block in.
bool Engine::Impl::point_copies(const Bucket &b, size_t slot, size_t bytes)
{
	const size_t out_bytes = size_t{b.size} * cfg.action_count * sizeof(float);
	return check(cudaGraphExecMemcpyNodeSetParams1D(b.exec[0], b.copy_in, pass, pass_host(slot), bytes,
							 cudaMemcpyHostToDevice),
		     "cudaGraphExecMemcpyNodeSetParams1D (in)") &&
	       check(cudaGraphExecMemcpyNodeSetParams1D(b.exec[0], b.copy_out, probs_host(slot), probs, out_bytes,
							 cudaMemcpyDeviceToHost),
		     "cudaGraphExecMemcpyNodeSetParams1D (out)");
}

bool Engine::Impl::launch(const Bucket &b, size_t slot, size_t bytes)
{
	if (!opt.graphs)
		return record_pass(b, slot, bytes);
	if (!repoint_copies) // the slot's own graph, whole blocks in
		return check(cudaGraphLaunch(b.exec[slot], stream), "cudaGraphLaunch");
	return point_copies(b, slot, bytes) && check(cudaGraphLaunch(b.exec[0], stream), "cudaGraphLaunch");
}

} // namespace dualpilot::gpu
