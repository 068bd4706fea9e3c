// The CUDA engine's rounding replayed on the CPU, on every machine: the
// cpu backend with the inputs and weights of the products the engine runs
// as GEMMs rounded to TF32 or bf16 (to nearest and truncated), on the
// models and the decision streams tests/test_gpu_engine.cpp compares the
// engine on. It shows the bounds that test holds the engine to
// (tests/gpu_comparison.hpp) are met by a correct engine: the replay stays
// within kEmulatedShare of them, and the most likely action agrees wherever
// the reference's top-two gap is decisive. Prints each figure.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdio>

#include "gpu_comparison.hpp"
#include "policy/model_file.hpp"

namespace dualpilot::gpu::testing {
namespace {

using policy::GemmRounding;

const char *rounding_name(GemmRounding r)
{
	switch (r) {
	case GemmRounding::tf32_nearest:
		return "tf32 nearest";
	case GemmRounding::tf32_truncate:
		return "tf32 truncate";
	case GemmRounding::bf16_nearest:
		return "bf16 nearest";
	case GemmRounding::bf16_truncate:
		return "bf16 truncate";
	case GemmRounding::none:
		break;
	}
	return "none";
}

float bits(uint32_t b) { return std::bit_cast<float>(b); }

TEST(GemmRounding, KeepsTenMantissaBitsForTf32AndSevenForBf16)
{
	const float one = 1.0f;
	// TF32's unit in the last place at 1 is 2^-10, bf16's 2^-7.
	EXPECT_EQ(policy::gemm_round(1 + 0x1p-11f, GemmRounding::tf32_nearest), 1 + 0x1p-10f); // a tie: away from 0
	EXPECT_EQ(policy::gemm_round(-1 - 0x1p-11f, GemmRounding::tf32_nearest), -1 - 0x1p-10f);
	EXPECT_EQ(policy::gemm_round(1 + 0x1p-11f - 0x1p-20f, GemmRounding::tf32_nearest), one);
	EXPECT_EQ(policy::gemm_round(1 + 0x1p-10f - 0x1p-20f, GemmRounding::tf32_truncate), one);
	EXPECT_EQ(policy::gemm_round(1 + 0x1p-8f, GemmRounding::bf16_nearest), one);               // a tie: to even
	EXPECT_EQ(policy::gemm_round(1 + 3 * 0x1p-8f, GemmRounding::bf16_nearest), 1 + 0x1p-6f);  // a tie: to even
	EXPECT_EQ(policy::gemm_round(1 + 0x1p-8f + 0x1p-20f, GemmRounding::bf16_nearest), 1 + 0x1p-7f);
	EXPECT_EQ(policy::gemm_round(-1 - 0x1p-7f + 0x1p-20f, GemmRounding::bf16_truncate), -one); // toward zero
	EXPECT_EQ(policy::gemm_round(bits(0x3f7fffff), GemmRounding::bf16_nearest), 1.0f);        // carries into the exponent
	EXPECT_EQ(policy::gemm_round(0.1f, GemmRounding::none), 0.1f);
	EXPECT_TRUE(std::isnan(policy::gemm_round(NAN, GemmRounding::bf16_nearest)));
	EXPECT_EQ(policy::gemm_round(INFINITY, GemmRounding::tf32_nearest), INFINITY);
}

// The hook changes nothing else: without rounding the replay is the cpu
// backend's forward, bit for bit.
TEST(GemmRounding, TheReplayWithoutRoundingIsTheCpuForward)
{
	for (const TestModel &t : comparison_models(11)) {
		policy::CpuForward cpu(t.model), replay(t.model);
		std::vector<policy::Probs> want(64), got(64);
		decision_stream(t.model.config, 64, 64, 2, 3, [&](const policy::Window *w, size_t n) {
			cpu.forward(w, n, want.data());
			replay.forward_rounded(w, n, got.data(), GemmRounding::none);
			for (size_t i = 0; i < n; i++)
				for (uint32_t a = 0; a < t.model.config.action_count; a++)
					ASSERT_EQ(want[i].p[a], got[i].p[a]) << t.name << " row " << i;
		});
	}
}

// One model on its stream under each rounding of a precision.
Comparison replay(const policy::Model &m, GemmRounding r, double tol, const StreamShape &s)
{
	policy::Model rounded = m;
	policy::round_gemm_weights(rounded, r);
	policy::CpuForward cpu(m), engine(rounded);
	std::vector<policy::Probs> want(s.max_batch), got(s.max_batch);
	Comparison cmp;
	decision_stream(m.config, s.queues, s.max_batch, s.rounds, s.seed, [&](const policy::Window *w, size_t n) {
		cpu.forward(w, n, want.data());
		engine.forward_rounded(w, n, got.data(), r);
		for (size_t i = 0; i < n; i++)
			cmp.add(want[i], got[i], tol, m.config.action_count);
	});
	return cmp;
}

void expect_within_bounds(const std::string &name, const policy::Model &m, const StreamShape &s)
{
	for (Precision p : {Precision::tf32, Precision::bf16})
		for (GemmRounding r : roundings(p)) {
			const double tol = tolerance(p);
			const Comparison cmp = replay(m, r, tol, s);
			SCOPED_TRACE(name + " " + rounding_name(r));
			EXPECT_GT(cmp.decisions, 0u);
			EXPECT_LE(cmp.max_diff, kEmulatedShare * tol);
			EXPECT_EQ(cmp.decisive_agree, cmp.decisive);
			EXPECT_TRUE(cmp.enough_decisive()) << cmp.summary();
			std::printf("%-22s %-13s %s\n", name.c_str(), rounding_name(r), cmp.summary().c_str());
		}
}

TEST(GemmRounding, EveryTestModelStaysWithinTheEnginesBounds)
{
	for (const TestModel &t : comparison_models(11))
		expect_within_bounds(t.name, t.model, kRandomModelStream);
}

TEST(GemmRounding, TheShippedModelsStayWithinTheEnginesBounds)
{
	for (const char *file : kShippedModels) {
		policy::Model m;
		ASSERT_EQ(policy::read_model(models_dir(DUALPILOT_SOURCE_DIR) + file, m), "");
		expect_within_bounds(file, m, kShippedModelStream);
	}
}

} // namespace
} // namespace dualpilot::gpu::testing
