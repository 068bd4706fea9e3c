#include "policy/cpu_kernels.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "policy/model.hpp"

// An AVX2 clone beside the default of each hot kernel, picked once at load
// by an ifunc resolver. Under ThreadSanitizer the resolver would run before
// the sanitizer's runtime is up and crash at start-up, so there the default
// alone is built (the TSan tests check the protocol, not the speed).
#if defined(__SANITIZE_THREAD__)
#define DUALPILOT_AVX2_CLONES
#else
#define DUALPILOT_AVX2_CLONES __attribute__((target_clones("avx2", "default")))
#endif

namespace dualpilot::policy::kernels {

namespace {

// torch.nn.GELU() (the exact, erf form), for the tail of a row.
inline float gelu_one(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }

// Eight floats as one value: a vector register (AVX) in the avx2 clones,
// a pair of SSE registers in the baseline ones.
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

// e^x, eight at a time: Cephes' expf (range reduction by ln 2 in two parts,
// a degree-5 polynomial, the exponent set directly), within 2 ulp; x below
// -87 gives about 1e-38, not 0.
inline void exp8(v8f &x)
{
	const v8f hi = x > 88.0f ? v8f{} + 88.0f : x;
	x = hi < -87.0f ? v8f{} - 87.0f : hi;
	const v8f fx = x * 1.44269504088896341f + 0.5f;
	v8i n = __builtin_convertvector(fx, v8i);
	n += (__builtin_convertvector(n, v8f) > fx); // truncation to floor: -1 where it rounded up
	const v8f fn = __builtin_convertvector(n, v8f);
	x = x - fn * 0.693359375f + fn * 2.12194440e-4f;
	const v8f z = x * x;
	v8f y = 1.9875691500e-4f * x + 1.3981999507e-3f;
	y = y * x + 8.3334519073e-3f;
	y = y * x + 4.1665795894e-2f;
	y = y * x + 1.6666665459e-1f;
	y = y * x + 5.0000001201e-1f;
	y = y * z + x + 1.0f;
	const v8i bits = (n + 127) << 23;
	v8f scale;
	std::memcpy(&scale, &bits, sizeof(scale));
	x = y * scale;
}

inline float dot_f32(const float *a, const float *b, uint32_t n)
{
	float s = 0;
#pragma omp simd reduction(+ : s)
	for (uint32_t i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

// Outputs o0 .. o0 + 8V of R rows, accumulated in R*V vector registers
// across the whole input loop (instead of loading and storing y per input).
// Several rows share each weight load and give the adds independent chains
// to overlap. Every row sums its inputs in the same order whatever R, so a
// queue's decision does not depend on the batch it is in.
template <uint32_t R, uint32_t V>
[[gnu::always_inline]] inline void rows_block(const float *wt, const float *bias, uint32_t out, uint32_t in,
					       const float *x, size_t x_stride, float *y, size_t y_stride, uint32_t o0)
{
	v8f acc[R][V], w;
	for (uint32_t r = 0; r < R; r++)
		std::memcpy(acc[r], bias + o0, sizeof(acc[r]));
	for (uint32_t i = 0; i < in; i++) {
		const float *col = wt + size_t{i} * out + o0;
		for (uint32_t v = 0; v < V; v++) {
			std::memcpy(&w, col + 8 * v, sizeof(w));
			for (uint32_t r = 0; r < R; r++)
				acc[r][v] += w * x[r * x_stride + i];
		}
	}
	for (uint32_t r = 0; r < R; r++)
		std::memcpy(y + r * y_stride + o0, acc[r], sizeof(acc[r]));
}

// One output of one row: the tail of a width that is not a multiple of 8.
[[gnu::always_inline]] inline void row_one(const float *wt, const float *bias, uint32_t out, uint32_t in, const float *x, float *y, uint32_t o)
{
	float acc = bias[o];
	for (uint32_t i = 0; i < in; i++)
		acc += wt[size_t{i} * out + o] * x[i];
	y[o] = acc;
}

// Outputs o0 .. o1 of R rows (at most 8 accumulator registers at a time).
template <uint32_t R>
[[gnu::always_inline]] inline void rows_all(const float *wt, const float *bias, uint32_t out, uint32_t in, const float *x, size_t x_stride,
		     float *y, size_t y_stride, uint32_t o0, uint32_t o1)
{
	uint32_t o = o0;
	for (; o + 32 <= o1; o += 32) {
		if constexpr (R == 4) {
			rows_block<2, 4>(wt, bias, out, in, x, x_stride, y, y_stride, o);
			rows_block<2, 4>(wt, bias, out, in, x + 2 * x_stride, x_stride, y + 2 * y_stride, y_stride, o);
		} else {
			rows_block<R, 4>(wt, bias, out, in, x, x_stride, y, y_stride, o);
		}
	}
	if (o + 16 <= o1) {
		rows_block<R, 2>(wt, bias, out, in, x, x_stride, y, y_stride, o);
		o += 16;
	}
	if (o + 8 <= o1) {
		rows_block<R, 1>(wt, bias, out, in, x, x_stride, y, y_stride, o);
		o += 8;
	}
	for (; o < o1; o++)
		for (uint32_t r = 0; r < R; r++)
			row_one(wt, bias, out, in, x + r * x_stride, y + r * y_stride, o);
}

} // namespace

void layer_norm(const float *x, const float *g, const float *b, uint32_t d, float *y)
{
	float mean = 0;
#pragma omp simd reduction(+ : mean)
	for (uint32_t i = 0; i < d; i++)
		mean += x[i];
	mean /= static_cast<float>(d);
	float var = 0;
#pragma omp simd reduction(+ : var)
	for (uint32_t i = 0; i < d; i++)
		var += (x[i] - mean) * (x[i] - mean);
	var /= static_cast<float>(d);
	const float inv = 1.0f / std::sqrt(var + kLnEps);
	for (uint32_t i = 0; i < d; i++)
		y[i] = (x[i] - mean) * inv * g[i] + b[i];
}

void leaky_relu(float *x, size_t count)
{
	for (size_t i = 0; i < count; i++)
		x[i] = x[i] >= 0 ? x[i] : x[i] * kLeakySlope;
}

// Eight at a time, the tail with std::erf.
DUALPILOT_AVX2_CLONES void gelu(float *x, size_t count)
{
	size_t i = 0;
	for (; i + 8 <= count; i += 8) {
		v8f v;
		std::memcpy(&v, x + i, sizeof(v));
		const v8f u = v * 0.70710678118654752f;
		const v8f a = u < 0.0f ? -u : u;
		const v8f t = 1.0f / (1.0f + 0.3275911f * a);
		v8f e = -(a * a);
		exp8(e);
		const v8f poly = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t +
				  0.254829592f) * t;
		const v8f erf_abs = 1.0f - poly * e;
		const v8f erf = u < 0.0f ? -erf_abs : erf_abs;
		v = 0.5f * v * (1.0f + erf);
		std::memcpy(x + i, &v, sizeof(v));
	}
	for (; i < count; i++)
		x[i] = gelu_one(x[i]);
}

void residual_add(float *x, const float *y, size_t count)
{
	for (size_t i = 0; i < count; i++)
		x[i] += y[i];
}

void softmax(const float *logits, uint32_t n, float *p)
{
	float mx = logits[0];
	for (uint32_t i = 1; i < n; i++)
		mx = std::max(mx, logits[i]);
	float sum = 0;
	for (uint32_t i = 0; i < n; i++)
		sum += (p[i] = std::exp(logits[i] - mx));
	for (uint32_t i = 0; i < n; i++)
		p[i] /= sum;
}

// W stored transposed: the inner loop runs over the outputs, so it
// vectorises into multiply-adds across outputs with no horizontal sums,
// which dominate at the small widths of a student. One dispatch per layer.
DUALPILOT_AVX2_CLONES void matmul(const float *wt, const int8_t *qt, const float *scale, const float *bias,
				  uint32_t out, uint32_t in, const float *x, size_t rows, size_t x_stride, float *y,
				  size_t y_stride, uint32_t o0, uint32_t o1)
{
	if (wt) {
		size_t r = 0;
		for (; r + 4 <= rows; r += 4)
			rows_all<4>(wt, bias, out, in, x + r * x_stride, x_stride, y + r * y_stride, y_stride, o0, o1);
		if (r + 2 <= rows) {
			rows_all<2>(wt, bias, out, in, x + r * x_stride, x_stride, y + r * y_stride, y_stride, o0, o1);
			r += 2;
		}
		if (r < rows)
			rows_all<1>(wt, bias, out, in, x + r * x_stride, x_stride, y + r * y_stride, y_stride, o0, o1);
		return;
	}
	for (size_t r = 0; r < rows; r++) {
		const float *xr = x + r * x_stride;
		float *yr = y + r * y_stride;
		for (uint32_t o = o0; o < o1; o++)
			yr[o] = 0;
		for (uint32_t i = 0; i < in; i++) {
			const float xi = xr[i];
			const int8_t *col = qt + size_t{i} * out;
			for (uint32_t o = o0; o < o1; o++)
				yr[o] += static_cast<float>(col[o]) * xi;
		}
		for (uint32_t o = o0; o < o1; o++)
			yr[o] = yr[o] * scale[o] + bias[o];
	}
}

void causal_attention(const float *qkv, uint32_t tokens, uint32_t first_query, uint32_t heads, uint32_t hd,
		      float *score, float *att)
{
	const uint32_t d = heads * hd;
	const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
	for (uint32_t q = first_query; q < tokens; q++) {
		for (uint32_t hh = 0; hh < heads; hh++) {
			const float *qv = &qkv[size_t{q} * 3 * d + hh * hd];
			float mx = -INFINITY;
			for (uint32_t k = 0; k <= q; k++) {
				const float s = dot_f32(qv, &qkv[size_t{k} * 3 * d + d + hh * hd], hd) * scale;
				score[k] = s;
				mx = std::max(mx, s);
			}
			float sum = 0;
			for (uint32_t k = 0; k <= q; k++)
				sum += (score[k] = std::exp(score[k] - mx));
			float *o = &att[size_t{q} * d + hh * hd];
			std::fill(o, o + hd, 0.0f);
			for (uint32_t k = 0; k <= q; k++) {
				const float p = score[k] / sum;
				const float *v = &qkv[size_t{k} * 3 * d + 2 * d + hh * hd];
				for (uint32_t j = 0; j < hd; j++)
					o[j] += p * v[j];
			}
		}
	}
}

DUALPILOT_AVX2_CLONES void cached_attention(const float *q, const float *cache, const float *key_ok, uint32_t heads,
					    uint32_t hd, uint32_t L, float *score, float *out)
{
	const uint32_t d = heads * hd;
	const float *K = cache, *V = cache + size_t{d} * L;
	const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
	for (uint32_t hh = 0; hh < heads; hh++) {
		// Eight keys at a time, their scores kept in a register over the
		// head's dimensions.
		for (uint32_t k = 0; k < L; k += 8) {
			v8f acc{}, kv;
			for (uint32_t j = hh * hd; j < (hh + 1) * hd; j++) {
				std::memcpy(&kv, K + size_t{j} * L + k, sizeof(kv));
				acc += kv * (q[j] * scale);
			}
			std::memcpy(score + k, &acc, sizeof(acc));
		}
		float mx = -INFINITY;
		for (uint32_t k = 0; k < L; k++)
			mx = key_ok[k] != 0.0f ? std::max(mx, score[k]) : mx;
		v8f sum8{};
		for (uint32_t k = 0; k < L; k += 8) {
			v8f s, ok;
			std::memcpy(&s, score + k, sizeof(s));
			std::memcpy(&ok, key_ok + k, sizeof(ok));
			s -= mx;
			exp8(s);
			s *= ok;
			sum8 += s;
			std::memcpy(score + k, &s, sizeof(s));
		}
		float sum = 0;
		for (int j = 0; j < 8; j++)
			sum += sum8[j];
		const float inv = 1.0f / sum;
		float *o = out + hh * hd;
		uint32_t j = 0;
		for (; j + 8 <= hd; j += 8) { // eight dimensions in a register over the keys
			v8f acc{}, v;
			for (uint32_t k = 0; k < L; k++) {
				std::memcpy(&v, V + size_t{k} * d + hh * hd + j, sizeof(v));
				acc += v * score[k];
			}
			acc *= inv;
			std::memcpy(o + j, &acc, sizeof(acc));
		}
		for (; j < hd; j++) {
			float acc = 0;
			for (uint32_t k = 0; k < L; k++)
				acc += V[size_t{k} * d + hh * hd + j] * score[k];
			o[j] = acc * inv;
		}
	}
}

} // namespace dualpilot::policy::kernels
