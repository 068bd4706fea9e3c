// The CUDA engine against the cpu backend (the reference), on random models
// of every architecture option and on the shipped trained ones; graph replay
// against eager launches; padding; two passes in flight. Exits 77 (skipped)
// where no GPU can be used.
//
// Tolerances (max absolute difference of any action probability): 1e-3 with
// fp32 and TF32 products, 2e-2 with bf16; the most likely action agrees on at
// least 99.9 % of the decisions.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>

#include <fmt/format.h>

#include "gpu/backend.hpp"
#include "policy/context.hpp"
#include "policy/model_file.hpp"

namespace dualpilot::gpu {
namespace {

policy::ModelConfig config(uint32_t d, uint32_t layers, uint32_t heads, uint32_t window, uint32_t mlp)
{
	policy::ModelConfig c;
	c.feature_count = 8;
	c.feature_embed = 4;
	c.d_model = d;
	c.layers = layers;
	c.heads = heads;
	c.window = window;
	c.mlp_hidden = mlp;
	c.kernels.assign(8, 1);
	for (uint32_t f = 0; f < 8; f++)
		c.feature_names.push_back(fmt::format("f{}", f));
	c.rtg_scale = 100;
	return c;
}

// The shapes that matter: the default student (one block, slot time
// embedding), the teacher's (two blocks), per-feature tokens with Conv1d
// encoders and the head residual, a model with no block at all.
std::vector<std::pair<std::string, policy::ModelConfig>> architectures()
{
	std::vector<std::pair<std::string, policy::ModelConfig>> a;
	policy::ModelConfig student = config(16, 1, 2, 20, 32);
	student.time_embedding = policy::TimeEmbedding::ring_position;
	a.push_back({"student", student});
	a.push_back({"teacher", config(64, 2, 4, 20, 256)});
	policy::ModelConfig pf = config(32, 2, 4, 10, 64);
	pf.state_layout = policy::StateLayout::per_feature;
	pf.kernels = {1, 3, 5, 1, 3, 1, 1, 7};
	pf.head_residual = true;
	a.push_back({"per_feature_conv", pf});
	a.push_back({"no_blocks", config(16, 0, 2, 6, 16)});
	return a;
}

EngineOptions options(Precision p, uint32_t max_batch, uint32_t queues)
{
	EngineOptions opt;
	opt.precision = p;
	opt.max_batch = max_batch;
	opt.queues = queues;
	return opt;
}

struct Comparison {
	double max_diff = 0;
	size_t decisions = 0, argmax_agree = 0;
	double agreement() const { return decisions ? double(argmax_agree) / double(decisions) : 1.0; }
};

uint32_t argmax(const policy::Probs &p) { return uint32_t(std::max_element(p.p.begin(), p.p.end()) - p.p.begin()); }

// Queues take random steps and the dirty ones go through the engine in
// passes of up to max_batch; every decision is checked against the cpu
// backend on the same windows. Rounds slide the windows past their length,
// so the device rings wrap.
Comparison compare(const policy::Model &m, Precision prec, uint32_t queues, uint32_t max_batch, int rounds,
		   uint64_t seed)
{
	std::string err;
	auto gpu = GpuBackend::create(m, options(prec, max_batch, queues), err);
	EXPECT_TRUE(gpu) << err;
	Comparison cmp;
	if (!gpu)
		return cmp;
	policy::CpuForward cpu(m);
	std::vector<int> identity(m.config.feature_count);
	for (size_t f = 0; f < identity.size(); f++)
		identity[f] = static_cast<int>(f);
	policy::ContextSet contexts(*gpu, queues, max_batch, identity);
	std::mt19937 rng(static_cast<uint32_t>(seed));
	std::uniform_real_distribution<float> value(-2.0f, 2.0f);
	std::vector<uint8_t> dirty(queues, 0);
	std::vector<float> state(m.config.feature_count);
	std::vector<policy::Probs> on_gpu(max_batch), on_cpu(max_batch);
	for (int round = 0; round < rounds; round++) {
		for (uint32_t k = 0; k < queues * 2; k++) {
			const uint32_t q = rng() % queues;
			for (float &v : state)
				v = value(rng) * 3;
			contexts.push(q, state.data(), static_cast<uint8_t>(rng() % 3), std::abs(value(rng)) * 10);
			dirty[q] = 1;
		}
		std::vector<policy::Window> windows;
		auto run_pass = [&] {
			EXPECT_TRUE(gpu->submit(windows.data(), windows.size())) << gpu->error();
			EXPECT_TRUE(gpu->collect(on_gpu.data())) << gpu->error();
			cpu.forward(windows.data(), windows.size(), on_cpu.data());
			for (size_t i = 0; i < windows.size(); i++) {
				for (uint32_t a = 0; a < policy::kActionCount; a++)
					cmp.max_diff = std::max(cmp.max_diff, double(std::abs(on_gpu[i].p[a] - on_cpu[i].p[a])));
				cmp.decisions++;
				cmp.argmax_agree += argmax(on_gpu[i]) == argmax(on_cpu[i]);
			}
			windows.clear();
		};
		for (uint32_t q = 0; q < queues; q++) {
			if (!dirty[q])
				continue;
			dirty[q] = 0;
			windows.push_back(contexts.window(q, windows.size()));
			if (windows.size() == max_batch)
				run_pass();
		}
		if (!windows.empty())
			run_pass();
	}
	return cmp;
}

double tolerance(Precision p) { return p == Precision::bf16 ? 2e-2 : 1e-3; }

TEST(GpuEngine, EveryArchitectureMatchesTheCpuReferenceInEveryPrecision)
{
	for (const auto &[name, c] : architectures())
		for (Precision p : {Precision::fp32, Precision::tf32, Precision::bf16}) {
			const policy::Model m = policy::random_model(c, 11);
			const Comparison cmp = compare(m, p, 300, 256, 6, 5);
			SCOPED_TRACE(name + " " + precision_name(p));
			EXPECT_GT(cmp.decisions, 1000u);
			EXPECT_LE(cmp.max_diff, tolerance(p));
			EXPECT_GE(cmp.agreement(), 0.999);
			std::printf("%-18s %s: %zu decisions, max |diff| %.2e, argmax agreement %.4f\n", name.c_str(),
				    precision_name(p), cmp.decisions, cmp.max_diff, cmp.agreement());
		}
}

// The shipped models: in the source tree the test was built from, or under
// $DUALPILOT_SOURCE_DIR where the binary runs from another copy of the tree
// (scripts/gpu-check carries it to a GPU machine).
std::string models_dir()
{
	const char *dir = std::getenv("DUALPILOT_SOURCE_DIR");
	return std::string(dir && *dir ? dir : DUALPILOT_SOURCE_DIR) + "/configs/models/";
}

TEST(GpuEngine, TheShippedTrainedModelsMatchTheCpuReference)
{
	for (const char *file : {"paper-teacher.dpm", "paper-student.dpm"}) {
		policy::Model m;
		ASSERT_EQ(policy::read_model(models_dir() + file, m), "");
		for (Precision p : {Precision::fp32, Precision::tf32, Precision::bf16}) {
			const Comparison cmp = compare(m, p, 64, 64, 8, 9);
			SCOPED_TRACE(std::string(file) + " " + precision_name(p));
			EXPECT_LE(cmp.max_diff, tolerance(p));
			EXPECT_GE(cmp.agreement(), 0.999);
			std::printf("%-18s %s: %zu decisions, max |diff| %.2e, argmax agreement %.4f\n", file,
				    precision_name(p), cmp.decisions, cmp.max_diff, cmp.agreement());
		}
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
			a = static_cast<uint8_t>(rng() % 3);
		for (uint32_t i = 0; i < n; i++) {
			const uint32_t steps = 1 + rng() % c.window;
			windows.push_back(policy::Window{steps, &returns[size_t{i} * c.window],
							 &states[size_t{i} * c.window * c.feature_count],
							 &actions[size_t{i} * c.window], static_cast<uint32_t>(rng() % c.window),
							 nullptr, i, steps});
		}
	}
};

std::unique_ptr<Engine> engine_for(const policy::Model &m, Precision p, uint32_t max_batch, uint32_t queues)
{
	std::string err;
	auto e = Engine::create(m, options(p, max_batch, queues), err);
	EXPECT_TRUE(e) << err;
	return e;
}

TEST(GpuEngine, GraphReplayEqualsEagerLaunchesForEveryBucket)
{
	for (const auto &[name, c] : architectures()) {
		const policy::Model m = policy::random_model(c, 3);
		for (Precision p : {Precision::tf32, Precision::bf16}) {
			auto engine = engine_for(m, p, 1024, 1024);
			ASSERT_TRUE(engine);
			for (uint32_t bucket : engine->buckets()) {
				Batch batch(c, bucket, bucket);
				std::vector<policy::Probs> eager(bucket), graph(bucket);
				engine->set_graphs(false);
				ASSERT_TRUE(engine->forward(batch.windows.data(), bucket, eager.data())) << engine->error();
				engine->set_graphs(true);
				ASSERT_TRUE(engine->forward(batch.windows.data(), bucket, graph.data())) << engine->error();
				double diff = 0;
				for (uint32_t i = 0; i < bucket; i++)
					for (uint32_t a = 0; a < policy::kActionCount; a++)
						diff = std::max(diff, double(std::abs(eager[i].p[a] - graph[i].p[a])));
				EXPECT_LE(diff, 1e-6) << name << " bucket " << bucket; // the same kernels: equal
			}
		}
	}
}

// Five real rows in a bucket of eight: the three padded rows (their
// metadata and the records past the real ones) filled with zeros, with
// 0xff bytes (NaN floats, -1 queues), or holding other real queues, leave
// the five results as they are.
TEST(GpuEngine, PaddingNeverReachesARealRow)
{
	for (const auto &[name, c] : architectures()) {
		const policy::Model m = policy::random_model(c, 4);
		auto engine = engine_for(m, Precision::fp32, 8, 16);
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
			for (uint32_t a = 0; a < policy::kActionCount; a++) {
				EXPECT_EQ(zeros[i].p[a], junk[i].p[a]) << name << " row " << i;
				EXPECT_EQ(zeros[i].p[a], full[i].p[a]) << name << " row " << i;
			}
	}
}

// Two passes in flight, collected in the order they went in, give what each
// gives alone.
TEST(GpuEngine, TwoPassesInFlightAreCollectedInOrder)
{
	const policy::ModelConfig c = architectures()[1].second;
	const policy::Model m = policy::random_model(c, 8);
	auto engine = engine_for(m, Precision::fp32, 32, 64);
	ASSERT_TRUE(engine);
	Batch first(c, 32, 1);
	Batch second(c, 32, 2);
	for (policy::Window &w : second.windows)
		w.queue += 32; // other queues: the first pass's rings stay as they were
	std::vector<policy::Probs> a(32), b(32), a_alone(32), b_alone(32);
	ASSERT_TRUE(engine->submit(first.windows.data(), 32));
	ASSERT_TRUE(engine->submit(second.windows.data(), 32));
	EXPECT_EQ(engine->in_flight(), 2u);
	ASSERT_TRUE(engine->collect(a.data()));
	ASSERT_TRUE(engine->collect(b.data()));
	auto fresh = engine_for(m, Precision::fp32, 32, 64);
	ASSERT_TRUE(fresh->forward(first.windows.data(), 32, a_alone.data()));
	ASSERT_TRUE(fresh->forward(second.windows.data(), 32, b_alone.data()));
	for (uint32_t i = 0; i < 32; i++)
		for (uint32_t k = 0; k < policy::kActionCount; k++) {
			EXPECT_EQ(a[i].p[k], a_alone[i].p[k]);
			EXPECT_EQ(b[i].p[k], b_alone[i].p[k]);
		}
}

} // namespace
} // namespace dualpilot::gpu

// Skipped (77) without a GPU, with the reason.
int main(int argc, char **argv)
{
	std::string why;
	if (!dualpilot::gpu::gpu_present(0, why)) {
		std::printf("skipped: %s\n", why.c_str());
		return 77;
	}
	::testing::InitGoogleTest(&argc, argv);
	return RUN_ALL_TESTS();
}
