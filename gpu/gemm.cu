#include "gpu/gemm.hpp"

namespace dualpilot::gpu {

namespace {

struct Types {
	cudaDataType_t in;
	cublasComputeType_t compute;
};

Types types_of(Precision p)
{
	switch (p) {
	case Precision::bf16:
		return {CUDA_R_16BF, CUBLAS_COMPUTE_32F};
	case Precision::tf32:
		return {CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32};
	case Precision::fp32:
		break;
	}
	return {CUDA_R_32F, CUBLAS_COMPUTE_32F_PEDANTIC};
}

} // namespace

// cuBLAS is column-major: the row-major y[rows][out] is the column-major
// out x rows matrix y^T = W x^T, with W read transposed from its row-major
// [out][in] storage (a column-major in x out matrix) and x^T as x's
// row-major storage (a column-major in x rows matrix).
cublasStatus_t gemm(cublasHandle_t h, Precision p, const GemmShape &s, const void *x, const void *w, float *y)
{
	const Types t = types_of(p);
	const float one = 1.0f, zero = 0.0f;
	return cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(s.out), static_cast<int>(s.rows),
			    static_cast<int>(s.in), &one, w, t.in, static_cast<int>(s.in), x, t.in,
			    static_cast<int>(s.x_stride ? s.x_stride : s.in), &zero, y, CUDA_R_32F,
			    static_cast<int>(s.out), t.compute, CUBLAS_GEMM_DEFAULT);
}

cublasStatus_t gemm_batched(cublasHandle_t h, Precision p, const GemmShape &s, const void *x, long long x_step,
			    const void *w, long long w_step, float *y, long long y_step, int count)
{
	const Types t = types_of(p);
	const float one = 1.0f, zero = 0.0f;
	return cublasGemmStridedBatchedEx(h, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(s.out), static_cast<int>(s.rows),
					  static_cast<int>(s.in), &one, w, t.in, static_cast<int>(s.in), w_step, x, t.in,
					  static_cast<int>(s.x_stride ? s.x_stride : s.in), x_step, &zero, y, CUDA_R_32F,
					  static_cast<int>(s.out), y_step, count, t.compute, CUBLAS_GEMM_DEFAULT);
}

} // namespace dualpilot::gpu
