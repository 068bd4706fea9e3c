// Training: returns-to-go by hand; the libtorch module and the cpu backend
// compute the same thing from the same weights (export round trip, within
// 1e-5); a short run on a separable pool learns it.
#include <gtest/gtest.h>

#include <random>

#include "policy/forward_cpu.hpp"
#include "policy/model_file.hpp"
#include "policy/training/torch_model.hpp"
#include "policy/training/train.hpp"

namespace dualpilot::policy {
namespace {

TEST(Training, ReturnsToGoMatchAHandComputedExample)
{
	// Two episodes: [1, 2, 3] and [4, 5]; gamma 0.5.
	const auto r = returns_to_go({1, 2, 3, 4, 5}, {0, 0, 1, 0, 1}, 0.5);
	ASSERT_EQ(r.size(), 5u);
	EXPECT_FLOAT_EQ(r[0], 1 + 0.5f * 2 + 0.25f * 3); // 2.75
	EXPECT_FLOAT_EQ(r[1], 2 + 0.5f * 3);             // 3.5
	EXPECT_FLOAT_EQ(r[2], 3);
	EXPECT_FLOAT_EQ(r[3], 4 + 0.5f * 5);             // the next episode does not reach back
	EXPECT_FLOAT_EQ(r[4], 5);
}

ModelConfig config(StateLayout layout, bool residual)
{
	ModelConfig c;
	c.feature_count = sim::kFeatureCount;
	c.feature_embed = 3;
	c.d_model = 12;
	c.layers = 2;
	c.heads = 3;
	c.window = 7;
	c.mlp_hidden = 20;
	c.kernels = {1, 3, 1, 5, 1, 1, 3, 1};
	c.feature_names.assign(sim::kFeatureNames.begin(), sim::kFeatureNames.end());
	c.state_layout = layout;
	c.head_residual = residual;
	c.rtg_scale = 50;
	return c;
}

// libtorch's softmax at the last step of a window of `steps` steps.
std::array<float, 3> torch_probs(PolicyNet &net, const std::vector<float> &r, const std::vector<float> &s,
				 const std::vector<int64_t> &a, uint32_t steps)
{
	torch::NoGradGuard g;
	const int64_t F = sim::kFeatureCount;
	const auto rt = torch::from_blob(const_cast<float *>(r.data()), {1, steps}, torch::kFloat).clone();
	const auto st = torch::from_blob(const_cast<float *>(s.data()), {1, steps, F}, torch::kFloat).clone();
	const auto at = torch::from_blob(const_cast<int64_t *>(a.data()), {1, steps}, torch::kLong).clone();
	const auto p = net->forward(rt, st, at).select(1, steps - 1).softmax(-1)[0];
	return {p[0].item<float>(), p[1].item<float>(), p[2].item<float>()};
}

TEST(Training, ExportedWeightsGiveTheTorchForwardOnTheCpuBackend)
{
	torch::manual_seed(3);
	for (int variant = 0; variant < 4; variant++) {
		PolicyNet net(config(variant & 1 ? StateLayout::per_feature : StateLayout::concat, variant & 2));
		{
			torch::NoGradGuard g;
			net->norm_mean.uniform_(-1, 1);
			net->norm_std.uniform_(0.5, 2);
		}
		// Through the file, as the router would read it.
		std::string bytes;
		ASSERT_EQ(encode_model(export_model(net), bytes), "");
		Model m;
		ASSERT_EQ(decode_model(bytes, "export", m), "");
		CpuForward cpu(m);
		PolicyNet back = import_model(m);
		std::mt19937 rng(variant);
		std::uniform_real_distribution<float> u(-2, 2);
		const uint32_t w = m.config.window;
		std::vector<float> r(w), s(w * sim::kFeatureCount);
		std::vector<int64_t> a(w);
		std::vector<uint8_t> a8(w);
		for (auto &v : r)
			v = u(rng) * 30;
		for (auto &v : s)
			v = u(rng);
		for (uint32_t t = 0; t < w; t++)
			a8[t] = static_cast<uint8_t>(a[t] = rng() % 3);
		for (uint32_t steps = 1; steps <= w; steps++) {
			const Window win{steps, r.data(), s.data(), a8.data()};
			Probs p;
			cpu.forward(&win, 1, &p);
			const auto want = torch_probs(net, r, s, a, steps);
			const auto again = torch_probs(back, r, s, a, steps);
			for (int k = 0; k < 3; k++) {
				EXPECT_NEAR(p.p[k], want[k], 1e-5) << "variant " << variant << " steps " << steps;
				EXPECT_FLOAT_EQ(again[k], want[k]);
			}
		}
	}
}

// Actions that a rule of the state decides: drop above a delay, mark L4S
// packets above a lower one, else enqueue. A short run must learn it well
// above always answering the majority action.
TEST(Training, ATinyRunLearnsASeparablePool)
{
	std::mt19937 rng(9);
	std::uniform_real_distribution<float> u(0, 1);
	std::vector<sim::Pool> pools(3);
	for (sim::Pool &p : pools) {
		for (int i = 0; i < 3000; i++) {
			std::array<float, sim::kFeatureCount> st{};
			for (auto &v : st)
				v = u(rng);
			st[0] = u(rng) < 0.5f ? 0.0f : 1.0f;     // queue type
			st[3] = u(rng) * 20000;                  // delay, us
			const uint8_t action = st[3] > 15000 ? 1 : (st[0] == 1 && st[3] > 5000) ? 2 : 0;
			p.add(st, action, 1500.0f / (st[3] + 1), i == 2999);
		}
	}
	TrainOptions opt;
	opt.model.d_model = 16;
	opt.model.layers = 1;
	opt.model.heads = 2;
	opt.model.feature_embed = 4;
	opt.model.mlp_hidden = 32;
	opt.model.window = 4;
	opt.steps = 300;
	opt.batch = 32;
	opt.lr = 3e-3;
	opt.warmup = 20;
	opt.eval_every = 100;
	opt.val_windows = 500;
	opt.threads = 1;
	Model m;
	TrainReport r;
	ASSERT_EQ(train_policy(pools, opt, m, r), "");
	EXPECT_EQ(r.train_episodes, 2u);
	EXPECT_EQ(r.val_episodes, 1u);
	EXPECT_LT(r.final_train_loss, r.first_loss * 0.5);
	EXPECT_GT(r.val_accuracy, 0.9);
	EXPECT_GT(r.val_accuracy, r.majority_accuracy + 0.2);
	// What it wrote runs on the cpu backend.
	std::string bytes;
	EXPECT_EQ(encode_model(m, bytes), "");
}

TEST(Training, TooLittleDataIsAnError)
{
	sim::Pool p;
	p.add({}, 0, 1, true);
	TrainOptions opt;
	Model m;
	TrainReport r;
	EXPECT_EQ(train_policy({p}, opt, m, r),
		  "not enough data: 0 training and 0 validation episodes of at least 20 steps (the window)");
	EXPECT_EQ(train_policy({}, opt, m, r), "the pools hold no entries");
}

} // namespace
} // namespace dualpilot::policy
