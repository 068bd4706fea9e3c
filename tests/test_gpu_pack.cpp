// The GPU engine's pass block, on the host: what the packer writes, how the
// kernels read a row (padding and bad rows), that sending only the fresh
// steps keeps a device-side ring in step with the host's contexts, and the
// batch buckets. Needs no GPU: the ring here is the scatter kernel's rule
// applied on the host.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gpu/engine.hpp" // bucket_sizes: no CUDA types
#include "gpu/pass_pack.hpp"
#include "policy/cpu_backend.hpp"
#include "policy/context.hpp"

namespace dualpilot::gpu {
namespace {

constexpr uint32_t kW = 5, kF = 3;

struct Steps {
	std::vector<float> returns, states;
	std::vector<uint8_t> actions;
};

policy::Window window_of(Steps &s, uint32_t steps, uint32_t first_slot, uint32_t queue, uint32_t fresh)
{
	s.returns.resize(steps);
	s.states.resize(size_t{steps} * kF);
	s.actions.resize(steps);
	for (uint32_t t = 0; t < steps; t++) {
		s.returns[t] = 100.0f + t;
		s.actions[t] = static_cast<uint8_t>(t % 3);
		for (uint32_t f = 0; f < kF; f++)
			s.states[t * kF + f] = 10.0f * t + f;
	}
	policy::Window w{steps, s.returns.data(), s.states.data(), s.actions.data(), first_slot, nullptr, queue, fresh};
	return w;
}

template <class T>
T read_at(const std::vector<std::byte> &block, size_t offset)
{
	T v;
	std::memcpy(&v, block.data() + offset, sizeof(v));
	return v;
}

TEST(PassPack, SendsEveryRowsMetadataButOnlyItsFreshSteps)
{
	const PassShape shape{8, kW, kF};
	std::vector<std::byte> block(shape.capacity_bytes());
	Steps a, b;
	const policy::Window windows[] = {window_of(a, 4, 3, 1, 1), window_of(b, 5, 2, 6, 9)};
	std::string err;
	const size_t bytes = pack_pass(shape, windows, 2, 7, block.data(), err);
	ASSERT_EQ(err, "");
	// One fresh step of the first window, all five of the second (9 capped).
	EXPECT_EQ(bytes, shape.bytes(6));
	const auto h = read_at<PassHeader>(block, 0);
	EXPECT_EQ(h.rows, 2);
	EXPECT_EQ(h.fresh_steps, 6);
	const auto m1 = read_at<RowMeta>(block, kMetaOffset + sizeof(RowMeta));
	EXPECT_EQ(m1.queue, 6);
	EXPECT_EQ(m1.steps, 5);
	EXPECT_EQ(m1.first_slot, 2);
	// The first record: the newest step (t = 3) of queue 1, in slot (3 + 3) % 5.
	const size_t rec = shape.records_offset();
	EXPECT_EQ(read_at<int32_t>(block, rec), 1);
	EXPECT_EQ(read_at<int32_t>(block, rec + 4), 1);
	EXPECT_EQ(read_at<float>(block, rec + 8), 103.0f);
	EXPECT_EQ(read_at<float>(block, rec + 12), 0.0f); // action 3 % 3
	EXPECT_EQ(read_at<float>(block, rec + 16 + 2 * 4), 32.0f);
	// The last record: the second window's newest step, slot (2 + 4) % 5.
	const size_t last = rec + 5 * shape.record_words() * 4;
	EXPECT_EQ(read_at<int32_t>(block, last), 6);
	EXPECT_EQ(read_at<int32_t>(block, last + 4), 1);
	EXPECT_EQ(read_at<float>(block, last + 8), 104.0f);
}

TEST(PassPack, AnActionPastTheLastIsSentAsTheLastAsTheCpuBackendReadsIt)
{
	const PassShape shape{1, kW, kF};
	std::vector<std::byte> block(shape.capacity_bytes());
	Steps s;
	policy::Window w = window_of(s, 2, 0, 0, 1);
	s.actions[1] = 7; // no such action
	std::string err;
	ASSERT_NE(pack_pass(shape, &w, 1, 1, block.data(), err), 0u) << err;
	EXPECT_EQ(read_at<float>(block, shape.records_offset() + 12), 2.0f);
}

TEST(PassPack, RefusesWindowsItCannotSendWithTheReason)
{
	const PassShape shape{2, kW, kF};
	std::vector<std::byte> block(shape.capacity_bytes());
	Steps s;
	std::string err;
	policy::Window w = window_of(s, 3, 0, 9, 3);
	EXPECT_EQ(pack_pass(shape, &w, 1, 4, block.data(), err), 0u);
	EXPECT_NE(err.find("queue 9"), std::string::npos) << err;
	w = window_of(s, 3, 0, 1, 3);
	w.returns = nullptr; // a cache-only window: nothing to send
	err.clear();
	EXPECT_EQ(pack_pass(shape, &w, 1, 4, block.data(), err), 0u);
	EXPECT_NE(err.find("no raw steps"), std::string::npos) << err;
	w = window_of(s, 3, 0, 1, 3);
	const policy::Window three[] = {w, w, w};
	err.clear();
	EXPECT_EQ(pack_pass(shape, three, 3, 4, block.data(), err), 0u);
	EXPECT_NE(err.find("does not fit its bucket of 2"), std::string::npos) << err;
}

TEST(PassLayout, PaddedRowsAndBadQueuesReadTheZeroQueue)
{
	const PassHeader h{3, 0, {0, 0}};
	const uint32_t queues = 10;
	// A real row, sanitised: steps into 1..w, slot into 0..w-1.
	RowView r = row_view(h, RowMeta{4, 99, -1, 0}, 0, queues, kW);
	EXPECT_EQ(r.queue, 4u);
	EXPECT_EQ(r.steps, kW);
	EXPECT_EQ(r.first_slot, kW - 1);
	// Past the header's rows, whatever the metadata says.
	r = row_view(h, RowMeta{4, 3, 1, 0}, 3, queues, kW);
	EXPECT_EQ(r.queue, queues);
	EXPECT_EQ(r.steps, 1u);
	// A queue out of range.
	r = row_view(h, RowMeta{-7, 3, 1, 0}, 1, queues, kW);
	EXPECT_EQ(r.queue, queues);
	r = row_view(h, RowMeta{10, 3, 1, 0}, 1, queues, kW);
	EXPECT_EQ(r.queue, queues);
	// A garbage header (padding filled with 0xff bytes) has no rows.
	PassHeader junk;
	std::memset(&junk, 0xff, sizeof(junk));
	EXPECT_EQ(row_view(junk, RowMeta{1, 2, 0, 0}, 0, queues, kW).queue, queues);
}

TEST(PassLayout, TheQueryIsTheNewestStepsLastStateToken)
{
	const RowView r{0, 4, 2};
	EXPECT_EQ(query_token(r, 3, 1), 3u * 3 + 1);  // R s a per step: the 4th step's s
	EXPECT_EQ(query_token(r, 10, 8), 3u * 10 + 8); // per_feature, 8 state tokens
	EXPECT_EQ(step_slot(r, 3, kW), 0u);
	EXPECT_EQ(time_position(r, 3, kW, true), 0u);
	EXPECT_EQ(time_position(r, 3, kW, false), 3u);
	EXPECT_EQ(action_of(2.0f, 3), 2u);
	EXPECT_EQ(action_of(1.0f, 3), 1u);
	EXPECT_EQ(action_of(std::nanf(""), 3), 0u);
	EXPECT_EQ(action_of(-5.0f, 3), 0u);
	EXPECT_EQ(action_of(1e30f, 3), 0u);
	EXPECT_EQ(action_of(3.0f, 3), 0u); // no such action: never a row past the act.emb table
	EXPECT_EQ(action_of(36.0f, 37), 36u);
	EXPECT_EQ(action_of(37.0f, 37), 0u);
}

// A model of K actions: an action past its last is sent as its last, as the
// cpu backend reads it (policy::action_index), not as the verdicts' last.
TEST(PassPack, ActionsAreSentAsTheModelsActionCountReadsThem)
{
	const PassShape shape{1, kW, kF, 37};
	std::vector<std::byte> block(shape.capacity_bytes());
	Steps s;
	policy::Window w = window_of(s, 2, 0, 0, 1);
	s.actions[1] = 30;
	std::string err;
	ASSERT_NE(pack_pass(shape, &w, 1, 1, block.data(), err), 0u) << err;
	EXPECT_EQ(read_at<float>(block, shape.records_offset() + 12), 30.0f);
	s.actions[1] = 200;
	ASSERT_NE(pack_pass(shape, &w, 1, 1, block.data(), err), 0u) << err;
	EXPECT_EQ(read_at<float>(block, shape.records_offset() + 12), 36.0f);
}

// The device ring as the scatter kernel writes it.
struct HostRing {
	uint32_t queues;
	std::vector<float> floats;
	explicit HostRing(uint32_t q) : queues(q), floats((size_t{q} + 1) * kW * (kStepHeadFloats + kF), 0.0f) {}
	float *step(uint32_t queue, uint32_t slot) { return &floats[(size_t{queue} * kW + slot) * (kStepHeadFloats + kF)]; }
	void scatter(const PassShape &shape, const std::vector<std::byte> &block)
	{
		const auto h = read_at<PassHeader>(block, 0);
		for (int32_t i = 0; i < h.fresh_steps; i++) {
			const size_t rec = shape.records_offset() + size_t(i) * shape.record_words() * 4;
			const auto q = read_at<int32_t>(block, rec), slot = read_at<int32_t>(block, rec + 4);
			ASSERT_TRUE(q >= 0 && uint32_t(q) < queues && slot >= 0 && uint32_t(slot) < kW);
			std::memcpy(step(q, slot), block.data() + rec + 8, (kStepHeadFloats + kF) * 4);
		}
	}
};

// Queues take steps at random and passes take random sets of them; after
// every pass the ring holds, for every row, exactly the steps of its window
// where the kernels will look (its slots from first_slot on), however many
// steps arrived in between (more than a window's worth, too).
TEST(DeviceRing, FreshStepsKeepTheRingInStepWithTheContexts)
{
	policy::ModelConfig c;
	c.feature_count = kF;
	c.feature_embed = 2;
	c.d_model = 8;
	c.layers = 1;
	c.heads = 2;
	c.window = kW;
	c.mlp_hidden = 8;
	c.kernels = {3, 1, 1}; // a Conv1d encoder: the cpu backend keeps no cache, windows carry their steps
	c.feature_names = {"a", "b", "c"};
	policy::CpuBackend cpu(policy::random_model(c, 1));
	ASSERT_EQ(cpu.cache_floats(), 0u);
	const uint32_t queues = 6;
	policy::ContextSet contexts(cpu, queues, queues, {0, 1, 2});
	HostRing ring(queues);
	std::mt19937 rng(7);
	std::vector<uint8_t> dirty(queues, 0);
	const PassShape shape{queues, kW, kF};
	std::vector<std::byte> block(shape.capacity_bytes());
	float value = 0;
	for (int round = 0; round < 400; round++) {
		const uint32_t arrivals = rng() % 9;
		for (uint32_t k = 0; k < arrivals; k++) {
			const uint32_t q = rng() % queues;
			const float state[kF] = {value, value + 0.25f, value + 0.5f};
			contexts.push(q, state, static_cast<uint8_t>(rng() % 3), 1.0f);
			value += 1;
			dirty[q] = 1;
		}
		std::vector<policy::Window> windows;
		for (uint32_t q = 0; q < queues; q++)
			if (dirty[q] && rng() % 2) { // a pass takes some of the dirty queues
				dirty[q] = 0;
				windows.push_back(contexts.window(q, windows.size()));
			}
		if (windows.empty())
			continue;
		std::string err;
		ASSERT_GT(pack_pass(shape, windows.data(), windows.size(), queues, block.data(), err), 0u) << err;
		ring.scatter(shape, block);
		const auto h = read_at<PassHeader>(block, 0);
		for (size_t i = 0; i < windows.size(); i++) {
			const auto meta = read_at<RowMeta>(block, kMetaOffset + i * sizeof(RowMeta));
			const RowView r = row_view(h, meta, static_cast<uint32_t>(i), queues, kW);
			const policy::Window &w = windows[i];
			ASSERT_EQ(r.steps, w.steps);
			for (uint32_t t = 0; t < w.steps; t++) {
				const float *s = ring.step(r.queue, step_slot(r, t, kW));
				ASSERT_EQ(s[kStepRtg], w.returns[t]) << "round " << round << " row " << i << " step " << t;
				ASSERT_EQ(action_of(s[kStepAction], shape.actions), w.actions[t]);
				for (uint32_t f = 0; f < kF; f++)
					ASSERT_EQ(s[kStepState + f], w.states[t * kF + f]);
			}
		}
	}
}

// A pass is padded up to the first bucket that holds it. bench-gpu times
// batches of 1, 32, 256 and 1024 (its headline is batch 256): each is a
// bucket, so that it times a pass of that many rows, not one padded up.
TEST(Buckets, EveryBatchBenchGpuTimesIsABucket)
{
	const std::vector<uint32_t> all = bucket_sizes(1024);
	EXPECT_EQ(all, (std::vector<uint32_t>{1, 8, 32, 128, 256, 512, 1024}));
	for (uint32_t n : {1u, 32u, 256u, 1024u})
		EXPECT_NE(std::find(all.begin(), all.end(), n), all.end()) << n;
	EXPECT_EQ(bucket_sizes(256), (std::vector<uint32_t>{1, 8, 32, 128, 256}));
	EXPECT_EQ(bucket_sizes(300), (std::vector<uint32_t>{1, 8, 32, 128, 256, 300})); // max_batch is the last
	EXPECT_EQ(bucket_sizes(1), (std::vector<uint32_t>{1}));
}

} // namespace
} // namespace dualpilot::gpu
