// The engine's matrix products through cuBLAS: y[rows][out] = x[rows][in]
// times W^T, W stored [out][in] as in the model file (row-major), fp32
// output. No bias: the kernel that reads y adds it.
//   fp32   fp32 inputs, fp32 arithmetic
//   tf32   fp32 inputs, TF32 tensor-core arithmetic (fp32 accumulation)
//   bf16   bf16 inputs (weights converted once at upload), fp32 accumulation
#pragma once

#include <cublas_v2.h>

#include <cstdint>

#include "gpu/gemm_precision.hpp"

namespace dualpilot::gpu {

struct GemmShape {
	uint32_t rows = 0; // of x and y
	uint32_t in = 0;   // x's width
	uint32_t out = 0;  // y's width
	uint32_t x_stride = 0; // elements between rows of x (0: in)
};

// One product; x and w are float or bf16 as the precision says.
cublasStatus_t gemm(cublasHandle_t h, Precision p, const GemmShape &s, const void *x, const void *w, float *y);

// `count` products at once, the i-th reading x + i * x_step, w + i * w_step
// and writing y + i * y_step (in elements): the per-feature state
// projections.
cublasStatus_t gemm_batched(cublasHandle_t h, Precision p, const GemmShape &s, const void *x, long long x_step,
			    const void *w, long long w_step, float *y, long long y_step, int count);

} // namespace dualpilot::gpu
