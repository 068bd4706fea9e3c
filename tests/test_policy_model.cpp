// The model file and the cpu backend: a model survives the file bit for bit;
// every defect class is refused with a message naming it; the forward pass
// equals a straightforward double-precision reference of the same
// architecture, batched or not; int8 weights stay close to fp32.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fmt/format.h>

#include "aqm/random.hpp"
#include "common/checksum.hpp"
#include "policy/context.hpp"
#include "policy/forward_cpu.hpp"
#include "policy/forward_reference.hpp"
#include "policy/model_file.hpp"

namespace dualpilot::policy {
namespace {

ModelConfig small_config(uint32_t window = 6)
{
	ModelConfig c;
	c.feature_count = 4;
	c.feature_embed = 3;
	c.d_model = 8;
	c.layers = 2;
	c.heads = 2;
	c.window = window;
	c.mlp_hidden = 16;
	c.kernels = {1, 3, 1, 5};
	c.feature_names = {"queue_type", "drop_probability", "current_queue_delay_us", "packet_length"};
	c.rtg_scale = 100;
	return c;
}

Model model_with_norm(const ModelConfig &c, uint64_t seed)
{
	Model m = random_model(c, seed);
	// Normalisation that matters: mean and std away from 0 and 1.
	for (uint32_t f = 0; f < c.feature_count; f++) {
		m.find("norm.mean")->values[f] = 0.5f * static_cast<float>(f);
		m.find("norm.std")->values[f] = 1.0f + static_cast<float>(f);
	}
	return m;
}

struct WindowData {
	std::vector<float> returns, states;
	std::vector<uint8_t> actions;
	Window view(uint32_t steps, uint32_t first_slot = 0) const
	{
		return Window{steps, returns.data(), states.data(), actions.data(), first_slot, nullptr};
	}
};

WindowData random_window(const ModelConfig &c, aqm::Rng &rng)
{
	WindowData w;
	for (uint32_t t = 0; t < c.window; t++) {
		w.returns.push_back(static_cast<float>(rng.next_double() * 300));
		for (uint32_t f = 0; f < c.feature_count; f++)
			w.states.push_back(static_cast<float>(rng.next_double() * 4 - 1));
		w.actions.push_back(static_cast<uint8_t>(rng.next_u32() % c.action_count));
	}
	return w;
}

TEST(PolicyForward, EqualsTheReferenceForEveryWindowLength)
{
	for (int variant = 0; variant < 8; variant++) {
		ModelConfig c = small_config();
		c.head_residual = variant & 1;
		c.state_layout = variant & 2 ? StateLayout::per_feature : StateLayout::concat;
		c.time_embedding = variant & 4 ? TimeEmbedding::ring_position : TimeEmbedding::window_position;
		const Model m = model_with_norm(c, 7);
		CpuForward fwd(m);
		aqm::Rng rng(3);
		const WindowData w = random_window(c, rng);
		for (uint32_t steps = 1; steps <= c.window; steps++) {
			const Window v = w.view(steps, steps * 5 % c.window); // any ring slot for the oldest step
			Probs p;
			fwd.forward(&v, 1, &p);
			const auto want = forward_reference(m, v);
			for (int a = 0; a < 3; a++)
				EXPECT_NEAR(p.p[a], want[a], 1e-5) << "variant " << variant << " steps " << steps << " action " << a;
		}
	}
}

// A model of 37 actions (a tuner's settings): every one of its outputs is
// the reference's, in each layout, batched, with steps cached on arrival
// (the one-block ring-position variant caches each action's keys), and an
// action past the last read as the last. Tolerance 1e-5 as above: 37
// probabilities of ~1/37 each are no harder to match than 3.
TEST(PolicyForward, AModelOf37ActionsEqualsTheReference)
{
	for (int variant = 0; variant < 8; variant++) {
		ModelConfig c = small_config(5);
		c.action_count = 37;
		c.kernels = {1, 1, 1, 1};
		c.head_residual = variant & 1;
		c.state_layout = variant & 2 ? StateLayout::per_feature : StateLayout::concat;
		c.time_embedding = variant & 4 ? TimeEmbedding::ring_position : TimeEmbedding::window_position;
		c.layers = variant & 4 ? 1 : 2;
		const Model m = model_with_norm(c, 37);
		CpuForward fwd(m);
		aqm::Rng rng(8);
		WindowData w = random_window(c, rng);
		w.actions[1] = 200; // no such action: reads as action 36
		std::vector<Window> views;
		for (uint32_t steps = 1; steps <= c.window; steps++)
			views.push_back(w.view(steps, steps * 3 % c.window));
		std::vector<Probs> batch(views.size());
		fwd.forward(views.data(), views.size(), batch.data());
		for (size_t i = 0; i < views.size(); i++) {
			const std::vector<double> want = forward_reference(m, views[i]);
			ASSERT_EQ(want.size(), 37u);
			double sum = 0;
			for (uint32_t a = 0; a < 37; a++) {
				EXPECT_NEAR(batch[i].p[a], want[a], 1e-5) << "variant " << variant << " window " << i << " action " << a;
				sum += batch[i].p[a];
			}
			EXPECT_NEAR(sum, 1.0, 1e-5);
		}
		WindowData last = w;
		last.actions[1] = 36;
		const Window same = last.view(c.window);
		Probs p36;
		fwd.forward(&same, 1, &p36);
		for (uint32_t a = 0; a < 37; a++)
			EXPECT_EQ(p36.p[a], batch.back().p[a]) << "action 200 reads as action 36";
		if (!fwd.embeds_steps())
			continue;
		QueueContext plain(c.window, c.feature_count, 300), cached(c.window, c.feature_count, 300, fwd.cache_floats());
		std::vector<float> r(c.window), st(c.window * c.feature_count);
		std::vector<uint8_t> a(c.window);
		for (uint32_t t = 0; t < c.window + 2; t++) { // past the window: the ring wraps
			const float *state = &w.states[t % c.window * c.feature_count];
			const uint8_t action = w.actions[t % c.window];
			fwd.cache_step(cached.next_return(), state, action, cached.next_slot(), cached.cache());
			cached.push(state, action, 1.0f);
			plain.push(state, action, 1.0f);
		}
		Probs from_cache, from_steps;
		const Window wc = cached.layout(r.data(), st.data(), a.data());
		fwd.forward(&wc, 1, &from_cache);
		const Window ws = plain.layout(r.data(), st.data(), a.data());
		fwd.forward(&ws, 1, &from_steps);
		for (uint32_t k = 0; k < 37; k++)
			EXPECT_NEAR(from_cache.p[k], from_steps.p[k], 1e-6) << "variant " << variant << " action " << k;
	}
}

TEST(PolicyForward, ABatchGivesWhatEachWindowGivesAlone)
{
	const ModelConfig c = small_config(8);
	CpuForward fwd(model_with_norm(c, 9));
	aqm::Rng rng(5);
	std::vector<WindowData> data;
	std::vector<Window> views;
	for (int i = 0; i < 17; i++)
		data.push_back(random_window(c, rng));
	for (int i = 0; i < 17; i++)
		views.push_back(data[i].view(1 + static_cast<uint32_t>(i) % c.window));
	std::vector<Probs> batch(views.size());
	fwd.forward(views.data(), views.size(), batch.data());
	for (size_t i = 0; i < views.size(); i++) {
		Probs one;
		fwd.forward(&views[i], 1, &one);
		for (int a = 0; a < 3; a++)
			EXPECT_FLOAT_EQ(batch[i].p[a], one.p[a]);
		EXPECT_NEAR(batch[i].p[0] + batch[i].p[1] + batch[i].p[2], 1.0, 1e-6);
	}
}

// Work done once per step, as the policy worker does it (a QueueContext
// keeping each step's cache: its tokens, or for a one-block model with the
// ring-position time embedding its keys and values), gives what computing
// every step at every decision gives; with a Conv1d feature the model says
// caching would not be exact.
TEST(PolicyForward, StepsCachedOnArrivalGiveTheSameDecisions)
{
	for (int variant = 0; variant < 8; variant++) {
		ModelConfig c = small_config(5);
		c.kernels = {1, 1, 1, 1};
		c.state_layout = variant & 1 ? StateLayout::per_feature : StateLayout::concat;
		c.time_embedding = variant & 2 ? TimeEmbedding::ring_position : TimeEmbedding::window_position;
		c.layers = variant & 4 ? 1 : 2;
		c.head_residual = true;
		CpuForward fwd(model_with_norm(c, 13));
		ASSERT_TRUE(fwd.embeds_steps());
		EXPECT_EQ(fwd.caches_keys(), variant == 6 || variant == 7) << variant;
		QueueContext plain(c.window, c.feature_count, 300), cached(c.window, c.feature_count, 300, fwd.cache_floats());
		aqm::Rng rng(4);
		std::vector<float> r(c.window), st(c.window * c.feature_count);
		std::vector<uint8_t> a(c.window);
		for (int i = 0; i < 12; i++) { // past the window: the ring wraps
			float state[4];
			for (float &v : state)
				v = static_cast<float>(rng.next_double() * 3);
			const auto action = static_cast<uint8_t>(rng.next_u32() % 3);
			const float reward = static_cast<float>(rng.next_double() * 40);
			fwd.cache_step(cached.next_return(), state, action, cached.next_slot(), cached.cache());
			cached.push(state, action, reward);
			plain.push(state, action, reward);
			Probs p1, p2;
			const Window w1 = plain.layout(r.data(), st.data(), a.data());
			fwd.forward(&w1, 1, &p1);
			const Window w2 = cached.layout(r.data(), st.data(), a.data());
			ASSERT_NE(w2.cache, nullptr);
			fwd.forward(&w2, 1, &p2);
			for (int k = 0; k < 3; k++)
				EXPECT_NEAR(p1.p[k], p2.p[k], 1e-6) << "variant " << variant << " push " << i;
		}
	}
	EXPECT_FALSE(CpuForward(model_with_norm(small_config(), 1)).embeds_steps()); // kernels 3 and 5
}

TEST(PolicyForward, Int8WeightsStayCloseToFp32)
{
	const ModelConfig c = small_config();
	const Model m = model_with_norm(c, 11);
	Model q = m;
	quantize_int8(q);
	EXPECT_EQ(q.find("h0.mlp.fc.w")->dtype, DType::i8);
	EXPECT_EQ(q.find("time.emb")->dtype, DType::f32);
	CpuForward f32(m), i8(q);
	aqm::Rng rng(1);
	for (int i = 0; i < 20; i++) {
		const WindowData w = random_window(c, rng);
		const Window v = w.view(c.window);
		Probs a, b;
		f32.forward(&v, 1, &a);
		i8.forward(&v, 1, &b);
		for (int k = 0; k < 3; k++)
			EXPECT_NEAR(a.p[k], b.p[k], 0.02);
		// The int8 path is the reference's arithmetic on the dequantised weights.
		const auto want = forward_reference(q, v);
		for (int k = 0; k < 3; k++)
			EXPECT_NEAR(b.p[k], want[k], 1e-5);
	}
}

// ---- the model file ----

std::string encoded(const Model &m)
{
	std::string b;
	EXPECT_EQ(encode_model(m, b), "");
	return b;
}

void rechecksum(std::string &b)
{
	const uint64_t h = common::fnv1a64(b.data(), b.size() - 8);
	std::memcpy(b.data() + b.size() - 8, &h, 8);
}

template <class T> void patch(std::string &b, size_t at, T v)
{
	std::memcpy(b.data() + at, &v, sizeof(T));
	rechecksum(b);
}

std::string decode_error(const std::string &b)
{
	Model m;
	return decode_model(b, "m.dpm", m);
}

TEST(ModelFile, RoundTripsBitForBit)
{
	for (bool int8 : {false, true}) {
		ModelConfig c = small_config();
		c.state_layout = int8 ? StateLayout::per_feature : StateLayout::concat;
		Model m = model_with_norm(c, 21);
		if (int8)
			quantize_int8(m);
		const std::string b = encoded(m);
		Model back;
		ASSERT_EQ(decode_model(b, "m.dpm", back), "");
		EXPECT_EQ(back.config.feature_names, m.config.feature_names);
		EXPECT_EQ(back.config.kernels, m.config.kernels);
		EXPECT_EQ(back.config.rtg_scale, m.config.rtg_scale);
		EXPECT_EQ(back.config.state_layout, m.config.state_layout);
		ASSERT_EQ(back.tensors.size(), m.tensors.size());
		for (size_t i = 0; i < m.tensors.size(); i++) {
			EXPECT_EQ(back.tensors[i].values, m.tensors[i].values) << m.tensors[i].name;
			EXPECT_EQ(back.tensors[i].q, m.tensors[i].q);
			EXPECT_EQ(back.tensors[i].scales, m.tensors[i].scales);
		}
		EXPECT_EQ(encoded(back), b);
	}
	const std::string path = ::testing::TempDir() + "/round.dpm";
	const Model m = model_with_norm(small_config(), 2);
	ASSERT_EQ(write_model(m, path), "");
	Model back;
	EXPECT_EQ(read_model(path, back), "");
	EXPECT_EQ(back.parameter_count(), m.parameter_count());
}

// The action count is the file's: 37 survives bit for bit with its tensors'
// shapes; a count the tensors do not have, or outside 2..128, is refused.
TEST(ModelFile, ActionCountRoundTripsAndIsChecked)
{
	ModelConfig c = small_config();
	c.action_count = 37;
	const Model m = model_with_norm(c, 5);
	const std::string b = encoded(m);
	uint32_t stored = 0;
	std::memcpy(&stored, b.data() + 36, 4);
	EXPECT_EQ(stored, 37u);
	Model back;
	ASSERT_EQ(decode_model(b, "m.dpm", back), "");
	EXPECT_EQ(back.config.action_count, 37u);
	EXPECT_EQ(back.find("act.emb")->shape, (std::vector<uint32_t>{37, 8}));
	EXPECT_EQ(back.find("head.w")->shape, (std::vector<uint32_t>{37, 8}));
	EXPECT_EQ(back.find("head.b")->shape, (std::vector<uint32_t>{37}));
	EXPECT_EQ(encoded(back), b);
	EXPECT_EQ(CpuForward(back).config().action_count, 37u);

	const std::string three = encoded(model_with_norm(small_config(), 5));
	std::memcpy(&stored, three.data() + 36, 4);
	EXPECT_EQ(stored, 3u) << "a verdict model's file is as it always was";
	std::string bad = three;
	patch<uint32_t>(bad, 36, 37);
	EXPECT_EQ(decode_error(bad), "m.dpm: tensor 'act.emb' has shape [3x8], the hyper-parameters say [37x8]");
	patch<uint32_t>(bad, 36, 1);
	EXPECT_EQ(decode_error(bad), "m.dpm: action_count = 1 is outside 2..128");
	c.action_count = 129;
	EXPECT_EQ(check_config(c), "action_count = 129 is outside 2..128");
}

TEST(ModelFile, EachDefectIsRefusedByName)
{
	const std::string good = encoded(model_with_norm(small_config(), 4));
	std::string b;

	b = good;
	b[0] = 'X';
	EXPECT_EQ(decode_error(b), "m.dpm: not a dualpilot model file (wrong magic)");
	EXPECT_EQ(decode_error(""), "m.dpm: not a dualpilot model file (wrong magic)");

	b = good;
	patch<uint32_t>(b, 8, 7);
	EXPECT_EQ(decode_error(b), "m.dpm: version 7 (this build reads version 1)");

	EXPECT_EQ(decode_error(good.substr(0, 40)), "m.dpm: truncated: 40 bytes, shorter than the header");
	EXPECT_EQ(decode_error(good.substr(0, good.size() - 100)), "m.dpm: checksum mismatch: the file is damaged or truncated");

	b = good;
	b[good.size() / 2] ^= 0x40; // one bit of one weight
	EXPECT_EQ(decode_error(b), "m.dpm: checksum mismatch: the file is damaged or truncated");

	b = good;
	patch<uint32_t>(b, 20, 16); // d_model 8 -> 16: the tensors disagree
	EXPECT_EQ(decode_error(b), "m.dpm: tensor 'enc.proj.w' has shape [8x12], the hyper-parameters say [16x12]");

	b = good;
	patch<uint32_t>(b, 12, 1000); // feature_count
	EXPECT_EQ(decode_error(b), "m.dpm: feature_count = 1000 is outside 1..64");

	b = good;
	patch<uint32_t>(b, 20, 1u << 30); // absurd d_model
	EXPECT_EQ(decode_error(b), "m.dpm: d_model = 1073741824 is outside 1..8192");

	b = good;
	patch<uint32_t>(b, 28, 3); // heads 3 does not divide d_model 8
	EXPECT_EQ(decode_error(b), "m.dpm: d_model = 8 is not a multiple of heads = 3");

	b = good;
	patch<uint32_t>(b, 68, 5000); // tensor_count beyond the file
	EXPECT_EQ(decode_error(b), "m.dpm: truncated: the header announces 4 features and 5000 tensors");

	// The first tensor table entry: after the header, kernels and names.
	const size_t table = 72 + 4 * 4 + 32 * 4;
	b = good;
	patch<uint64_t>(b, table + 48 + 8 + 16, uint64_t{1} << 40); // its offset, far outside
	EXPECT_EQ(decode_error(b).substr(0, 37), "m.dpm: tensor 'norm.mean': data at 10");
	EXPECT_NE(decode_error(b).find("outside the file's data"), std::string::npos);

	b = good;
	patch<uint32_t>(b, table + 48 + 8, 1u << 25); // an absurd dimension
	EXPECT_EQ(decode_error(b), "m.dpm: tensor 'norm.mean': absurd dimension 33554432");

	b = good;
	patch<uint32_t>(b, table + 48, 9); // dtype
	EXPECT_EQ(decode_error(b), "m.dpm: tensor 0 ('norm.mean'): bad dtype 9 or rank 1");

	b = good;
	b.replace(table, 9, "norm.meaX");
	rechecksum(b);
	EXPECT_EQ(decode_error(b), "m.dpm: tensor 0 is 'norm.meaX', expected 'norm.mean'");

	Model m;
	EXPECT_EQ(read_model("/nonexistent.dpm", m), "/nonexistent.dpm: cannot open");
}

TEST(PolicyForward, ModelFeaturesAreFoundInTheSampledState)
{
	ModelConfig c = small_config();
	std::vector<int> index;
	ASSERT_EQ(state_feature_index(c, index), "");
	EXPECT_EQ(index, (std::vector<int>{0, 2, 3, 7}));
	c.feature_names[2] = "avg_dq_time";
	EXPECT_EQ(state_feature_index(c, index),
		  "the model's feature 'avg_dq_time' is not one of the sampled state's (queue_type burst_allowance_us "
		  "drop_probability current_queue_delay_us accumulated_probability length_in_bytes total_drops "
		  "packet_length)");
}

TEST(ModelFile, BadHyperParametersAreRefusedAtWriteToo)
{
	Model m = model_with_norm(small_config(), 1);
	m.config.kernels[1] = 4;
	std::string b;
	EXPECT_EQ(encode_model(m, b), "feature 1 (drop_probability): kernel 4 is not odd, in 1..15 and within the window of 6");
}

} // namespace
} // namespace dualpilot::policy
