// A pass as the engine runs it: the launches of the forward for one
// bucket, the copies around them, and their capture into a CUDA graph that
// each later pass of that bucket replays.
#include <cuda_bf16.h>

#include <cstring>
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

} // namespace dualpilot::gpu
