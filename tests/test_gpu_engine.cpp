// The CUDA engine against the cpu backend (the reference), in each
// precision (the tests are named .../fp32, .../tf32, .../bf16, so that
// compute-sanitizer can take one precision at a time): random models of
// every architecture option, heads of 48 and 64 dimensions, int8-quantised
// ones, the shipped trained ones; graph replay and eager launches; every
// bucket at sizes between buckets; padding; two passes in flight; a graph
// per pinned buffer; a thread other than the creator's. Exits 77 (skipped)
// where no GPU can be used, after printing the GPU, driver and runtime.
//
// The bounds (max |difference| of any action probability, and where the
// most likely action must agree) are tests/gpu_comparison.hpp's, argued
// there from the engine's rounding replayed on the CPU
// (tests/test_gpu_rounding.cpp).
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <ostream>
#include <random>
#include <thread>

#include "gpu/backend.hpp"
#include "gpu_comparison.hpp"
#include "policy/model_file.hpp"

namespace dualpilot::gpu {
// How gtest shows a test's precision.
void PrintTo(Precision p, std::ostream *os) { *os << precision_name(p); }
} // namespace dualpilot::gpu

namespace dualpilot::gpu::testing {
namespace {

EngineOptions options(Precision p, uint32_t max_batch, uint32_t queues)
{
	EngineOptions opt;
	opt.precision = p;
	opt.max_batch = max_batch;
	opt.queues = queues;
	return opt;
}

class GpuEngine : public ::testing::TestWithParam<Precision> {
protected:
	Precision precision() const { return GetParam(); }
	double tol() const { return tolerance(GetParam()); }
};

std::string precision_label(const ::testing::TestParamInfo<Precision> &info) { return precision_name(info.param); }

INSTANTIATE_TEST_SUITE_P(, GpuEngine, ::testing::Values(Precision::fp32, Precision::tf32, Precision::bf16),
			 precision_label);

// A model's stream (gpu_comparison.hpp) through the gpu backend, graph
// replay or eager launches, each decision against the cpu backend on the
// same windows.
Comparison compare(const policy::Model &m, Precision prec, const StreamShape &s, bool graphs)
{
	std::string err;
	auto gpu = GpuBackend::create(m, options(prec, s.max_batch, s.queues), err);
	EXPECT_TRUE(gpu) << err;
	Comparison cmp;
	if (!gpu)
		return cmp;
	gpu->engine().set_graphs(graphs);
	policy::CpuForward cpu(m);
	std::vector<policy::Probs> on_gpu(s.max_batch), on_cpu(s.max_batch);
	decision_stream(m.config, s.queues, s.max_batch, s.rounds, s.seed, [&](const policy::Window *w, size_t n) {
		EXPECT_TRUE(gpu->submit(w, n)) << gpu->error();
		EXPECT_TRUE(gpu->collect(on_gpu.data())) << gpu->error();
		cpu.forward(w, n, on_cpu.data());
		for (size_t i = 0; i < n; i++)
			cmp.add(on_cpu[i], on_gpu[i], tolerance(prec), m.config.action_count);
	});
	return cmp;
}

void expect_within_bounds(const Comparison &cmp, double tol)
{
	EXPECT_LE(cmp.max_diff, tol);
	EXPECT_EQ(cmp.decisive_agree, cmp.decisive);
	EXPECT_TRUE(cmp.enough_decisive()) << cmp.summary();
}

TEST_P(GpuEngine, EveryTestModelMatchesTheCpuReference)
{
	for (const TestModel &t : comparison_models(11)) {
		const Comparison cmp = compare(t.model, precision(), kRandomModelStream, true);
		SCOPED_TRACE(t.name);
		EXPECT_GT(cmp.decisions, 1000u);
		expect_within_bounds(cmp, tol());
		std::printf("%-18s %s graphs: %s\n", t.name.c_str(), precision_name(precision()), cmp.summary().c_str());
	}
}

TEST_P(GpuEngine, EagerLaunchesMatchTheCpuReference)
{
	for (const TestModel &t : comparison_models(11)) {
		const Comparison cmp = compare(t.model, precision(), kRandomModelStream, false);
		SCOPED_TRACE(t.name);
		EXPECT_GT(cmp.decisions, 1000u);
		expect_within_bounds(cmp, tol());
		std::printf("%-18s %s eager: %s\n", t.name.c_str(), precision_name(precision()), cmp.summary().c_str());
	}
}

// A tuner's models of 37 and of kMaxActions actions (the head's lanes then
// hold 2 and 4 actions each; the action embedding K rows): the cpu
// backend's distributions, with graphs and with eager launches. Only the
// difference is held to the bound: K near-equal probabilities leave few
// decisive decisions to count.
TEST_P(GpuEngine, ModelsOfManyActionsMatchTheCpuReference)
{
	for (uint32_t K : {37u, policy::kMaxActions}) {
		for (auto [name, c] : {architectures()[0], architectures()[1]}) {
			c.action_count = K;
			const policy::Model m = policy::random_model(c, 12);
			for (bool graphs : {true, false}) {
				const Comparison cmp = compare(m, precision(), kRandomModelStream, graphs);
				SCOPED_TRACE(fmt::format("{} with {} actions, graphs {}", name, K, graphs));
				EXPECT_GT(cmp.decisions, 1000u);
				EXPECT_LE(cmp.max_diff, tol());
			}
		}
	}
}

TEST_P(GpuEngine, TheShippedTrainedModelsMatchTheCpuReference)
{
	for (const char *file : kShippedModels) {
		policy::Model m;
		ASSERT_EQ(policy::read_model(models_dir(DUALPILOT_SOURCE_DIR) + file, m), "");
		const Comparison cmp = compare(m, precision(), kShippedModelStream, true);
		SCOPED_TRACE(file);
		expect_within_bounds(cmp, tol());
		std::printf("%-18s %s: %s\n", file, precision_name(precision()), cmp.summary().c_str());
	}
}

// Windows of n queues, each with its whole window fresh, so that a pass can
// be run twice on the same inputs (the ring is rewritten with the same
// steps).
struct Batch {
	std::vector<float> returns, states;
	std::vector<uint8_t> actions;
	std::vector<policy::Window> windows;
	Batch(const policy::ModelConfig &c, uint32_t n, uint64_t seed)
		: returns(size_t{n} * c.window), states(size_t{n} * c.window * c.feature_count),
		  actions(size_t{n} * c.window)
	{
		std::mt19937 rng(static_cast<uint32_t>(seed));
		std::uniform_real_distribution<float> value(-3.0f, 3.0f);
		for (float &v : returns)
			v = 50 + value(rng) * 10;
		for (float &v : states)
			v = value(rng);
		for (uint8_t &a : actions)
			a = static_cast<uint8_t>(rng() % c.action_count);
		for (uint32_t i = 0; i < n; i++) {
			const uint32_t steps = 1 + rng() % c.window;
			const uint32_t first_slot = rng() % c.window;
			windows.push_back(policy::Window{steps, &returns[size_t{i} * c.window],
							 &states[size_t{i} * c.window * c.feature_count],
							 &actions[size_t{i} * c.window], first_slot, nullptr, i, steps});
		}
	}
};

std::unique_ptr<Engine> engine_for(const policy::Model &m, EngineOptions opt)
{
	std::string err;
	auto e = Engine::create(m, opt, err);
	EXPECT_TRUE(e) << err;
	return e;
}

// Over the first n rows' K actions.
double max_diff(const std::vector<policy::Probs> &a, const std::vector<policy::Probs> &b, size_t n, uint32_t K)
{
	double diff = 0;
	for (size_t i = 0; i < n; i++)
		for (uint32_t k = 0; k < K; k++)
			diff = std::max(diff, double(std::abs(a[i].p[k] - b[i].p[k])));
	return diff;
}

TEST_P(GpuEngine, GraphReplayEqualsEagerLaunchesForEveryBucket)
{
	for (const auto &[name, c] : architectures()) {
		const policy::Model m = policy::random_model(c, 3);
		auto engine = engine_for(m, options(precision(), 1024, 1024));
		ASSERT_TRUE(engine);
		for (uint32_t bucket : engine->buckets()) {
			Batch batch(c, bucket, bucket);
			std::vector<policy::Probs> eager(bucket), graph(bucket);
			engine->set_graphs(false);
			ASSERT_TRUE(engine->forward(batch.windows.data(), bucket, eager.data())) << engine->error();
			engine->set_graphs(true);
			ASSERT_TRUE(engine->forward(batch.windows.data(), bucket, graph.data())) << engine->error();
			EXPECT_LE(max_diff(eager, graph, bucket, c.action_count), 1e-6) << name << " bucket " << bucket; // the same kernels
		}
	}
}

// Each bucket at sizes below it (and at 1, the smallest's only size): a
// pass of n rows padded up to its bucket gives the cpu backend's answers
// for its n windows.
TEST_P(GpuEngine, EveryBucketMatchesTheCpuReferenceBetweenItsSizes)
{
	const std::vector<uint32_t> expected{1, 8, 32, 128, 256, 512, 1024};
	for (const auto &[name, c] : architectures()) {
		const policy::Model m = policy::random_model(c, 6);
		auto engine = engine_for(m, options(precision(), 1024, 1024));
		ASSERT_TRUE(engine);
		EXPECT_EQ(engine->buckets(), expected);
		policy::CpuForward cpu(m);
		for (uint32_t n : {1u, 2u, 7u, 9u, 20u, 31u, 33u, 100u, 127u, 129u, 200u, 255u, 300u, 511u, 600u, 1000u}) {
			Batch batch(c, n, 100 + n);
			std::vector<policy::Probs> on_gpu(n), on_cpu(n);
			ASSERT_TRUE(engine->forward(batch.windows.data(), n, on_gpu.data())) << engine->error();
			cpu.forward(batch.windows.data(), n, on_cpu.data());
			Comparison cmp;
			for (uint32_t i = 0; i < n; i++)
				cmp.add(on_cpu[i], on_gpu[i], tol(), c.action_count);
			SCOPED_TRACE(fmt::format("{} n {}", name, n));
			EXPECT_LE(cmp.max_diff, tol());
			EXPECT_EQ(cmp.decisive_agree, cmp.decisive);
		}
	}
}

// Five real rows in a bucket of eight: the three padded rows (their
// metadata and the records past the real ones) filled with zeros, with
// 0xff bytes (NaN floats, -1 queues), or holding other real queues, leave
// the five results as they are.
TEST_P(GpuEngine, PaddingNeverReachesARealRow)
{
	for (const auto &[name, c] : architectures()) {
		const policy::Model m = policy::random_model(c, 4);
		auto engine = engine_for(m, options(precision(), 8, 16));
		ASSERT_TRUE(engine);
		Batch batch(c, 8, 21);
		std::vector<policy::Probs> full(8), zeros(5), junk(5);
		engine->set_padding_fill(0x00);
		ASSERT_TRUE(engine->forward(batch.windows.data(), 5, zeros.data())) << engine->error();
		engine->set_padding_fill(0xff);
		ASSERT_TRUE(engine->forward(batch.windows.data(), 5, junk.data())) << engine->error();
		engine->set_padding_fill(-1);
		ASSERT_TRUE(engine->forward(batch.windows.data(), 8, full.data())) << engine->error();
		for (uint32_t i = 0; i < 5; i++)
			for (uint32_t a = 0; a < c.action_count; a++) {
				EXPECT_EQ(zeros[i].p[a], junk[i].p[a]) << name << " row " << i;
				EXPECT_EQ(zeros[i].p[a], full[i].p[a]) << name << " row " << i;
			}
	}
}

// Two passes in flight (one per pinned buffer), collected in the order they
// went in, give what each gives alone; with the copies re-pointed and with a
// graph per pinned buffer.
TEST_P(GpuEngine, TwoPassesInFlightAreCollectedInOrder)
{
	const policy::ModelConfig c = architectures()[1].second;
	const policy::Model m = policy::random_model(c, 8);
	Batch first(c, 32, 1);
	Batch second(c, 32, 2);
	for (policy::Window &w : second.windows)
		w.queue += 32; // other queues: the first pass's rings stay as they were
	std::vector<policy::Probs> a_alone(32), b_alone(32);
	auto alone = engine_for(m, options(precision(), 32, 64));
	ASSERT_TRUE(alone);
	ASSERT_TRUE(alone->forward(first.windows.data(), 32, a_alone.data()));
	ASSERT_TRUE(alone->forward(second.windows.data(), 32, b_alone.data()));
	for (bool per_buffer : {false, true}) {
		EngineOptions opt = options(precision(), 32, 64);
		opt.graph_per_buffer = per_buffer;
		auto engine = engine_for(m, opt);
		ASSERT_TRUE(engine);
		std::printf("%s: %s\n", precision_name(precision()), engine->graph_mode().c_str());
		if (per_buffer) {
			EXPECT_FALSE(engine->repoints_copies());
		}
		std::vector<policy::Probs> a(32), b(32);
		for (int round = 0; round < 3; round++) { // each slot's buffers used more than once
			ASSERT_TRUE(engine->submit(first.windows.data(), 32)) << engine->error();
			ASSERT_TRUE(engine->submit(second.windows.data(), 32)) << engine->error();
			EXPECT_EQ(engine->in_flight(), 2u);
			ASSERT_TRUE(engine->collect(a.data())) << engine->error();
			ASSERT_TRUE(engine->collect(b.data())) << engine->error();
			for (uint32_t i = 0; i < 32; i++)
				for (uint32_t k = 0; k < c.action_count; k++) {
					EXPECT_EQ(a[i].p[k], a_alone[i].p[k]) << "per buffer " << per_buffer << " round " << round;
					EXPECT_EQ(b[i].p[k], b_alone[i].p[k]) << "per buffer " << per_buffer << " round " << round;
				}
		}
	}
}

// The policy worker creates the engine on the main thread and drives it
// from a service lcore, where another GPU (device 0) may be current: on the
// last GPU, passes submitted, polled and collected on another thread give
// what they give on the creator's.
TEST_P(GpuEngine, AnotherThreadDrivesTheEngineOnItsOwnGpu)
{
	int count = 0;
	ASSERT_EQ(cudaGetDeviceCount(&count), cudaSuccess);
	const policy::ModelConfig c = architectures()[0].second;
	const policy::Model m = policy::random_model(c, 9);
	EngineOptions opt = options(precision(), 64, 64);
	opt.device = count - 1;
	auto engine = engine_for(m, opt);
	ASSERT_TRUE(engine);
	Batch batch(c, 50, 31);
	std::vector<policy::Probs> here(50), there(50);
	ASSERT_TRUE(engine->forward(batch.windows.data(), 50, here.data())) << engine->error();
	bool ok = false;
	int current = -1;
	std::thread worker([&] {
		cudaSetDevice(0); // what a fresh thread has; another GPU where there are several
		ok = engine->submit(batch.windows.data(), 50);
		while (ok && !engine->done())
			std::this_thread::yield();
		ok = ok && engine->collect(there.data());
		cudaGetDevice(&current);
	});
	worker.join();
	ASSERT_TRUE(ok) << engine->error();
	EXPECT_EQ(current, count - 1);
	for (uint32_t i = 0; i < 50; i++)
		for (uint32_t k = 0; k < c.action_count; k++)
			EXPECT_EQ(here[i].p[k], there[i].p[k]) << "row " << i;
	std::printf("%d GPU(s); the engine on GPU %d\n", count, count - 1);
}

} // namespace
} // namespace dualpilot::gpu::testing

// Skipped (77) without a GPU, with the reason; the GPU, the driver's and
// the runtime's CUDA versions first, either way. --gtest_list_tests lists
// the tests anywhere.
int main(int argc, char **argv)
{
	::testing::InitGoogleTest(&argc, argv);
	if (GTEST_FLAG_GET(list_tests))
		return RUN_ALL_TESTS();
	std::printf("%s\n", dualpilot::gpu::device_summary(0).c_str());
	std::string why;
	if (!dualpilot::gpu::gpu_present(0, why)) {
		std::printf("skipped: %s\n", why.c_str());
		return 77;
	}
	return RUN_ALL_TESTS();
}
