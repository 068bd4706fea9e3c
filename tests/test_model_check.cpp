// dualpilot-model check: a model file that the cpu backend evaluates as the
// double-precision reference does passes on windows from a pool; damaged
// weights and pools without the model's features do not.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>

#include "aqm/observe.hpp"
#include "aqm/random.hpp"
#include "policy/model_check.hpp"
#include "policy/model_file.hpp"
#include "experience/pool.hpp"

namespace dualpilot::policy {
namespace {

std::string tmp(const std::string &name)
{
	return (std::filesystem::temp_directory_path() / ("dualpilot_test_" + std::to_string(::getpid()) + "_" + name))
		.string();
}

// As `dualpilot-model random` makes them: the router's 8 features, typical
// magnitudes in the normalisation.
Model random_router_model(uint64_t seed, bool per_feature, bool ring_time, bool int8)
{
	ModelConfig c;
	c.feature_count = experience::kFeatureCount;
	c.kernels.assign(c.feature_count, 1);
	c.feature_names.assign(experience::kFeatureNames.begin(), experience::kFeatureNames.end());
	c.d_model = 16;
	c.layers = ring_time ? 1 : 2;
	c.heads = 2;
	c.window = 10;
	c.feature_embed = 4;
	c.mlp_hidden = 32;
	c.rtg_scale = 1000;
	c.state_layout = per_feature ? StateLayout::per_feature : StateLayout::concat;
	c.time_embedding = ring_time ? TimeEmbedding::ring_position : TimeEmbedding::window_position;
	EXPECT_EQ(check_config(c), "");
	Model m = random_model(c, seed);
	const float scale[experience::kFeatureCount] = {1, 1000, 0.1f, 10000, 0.1f, 100000, 1000, 1000};
	for (uint32_t f = 0; f < c.feature_count; f++)
		m.find("norm.std")->values[f] = scale[f];
	if (int8)
		quantize_int8(m);
	return m;
}

// Episodes of 40, 7 (shorter than the window) and 60 decisions.
experience::Pool small_pool(uint64_t seed)
{
	aqm::Rng rng(seed);
	experience::Pool p;
	const size_t lengths[] = {40, 7, 60};
	for (size_t e = 0; e < 3; e++)
		for (size_t i = 0; i < lengths[e]; i++) {
			std::array<float, experience::kFeatureCount> s{};
			s[0] = static_cast<float>(rng.next_u32() % 2);
			s[1] = static_cast<float>(rng.next_double() * 2000);
			s[2] = static_cast<float>(rng.next_double() * 0.2);
			s[3] = static_cast<float>(rng.next_double() * 20000);
			s[4] = static_cast<float>(rng.next_double() * 0.2);
			s[5] = static_cast<float>(rng.next_double() * 200000);
			s[6] = static_cast<float>(rng.next_u32() % 2000);
			s[7] = rng.next_u32() % 2 ? 1500.0f : 64.0f;
			p.add(s, static_cast<uint8_t>(rng.next_u32() % 3), experience::RewardSpec{}.of_state(s.data()),
			      i + 1 == lengths[e]);
		}
	return p;
}

// Written and read back, as the tool sees them.
Model through_file(const Model &m, const std::string &name)
{
	const std::string path = tmp(name);
	EXPECT_EQ(write_model(m, path), "");
	Model back;
	EXPECT_EQ(read_model(path, back), "");
	std::remove(path.c_str());
	return back;
}

experience::Pool pool_through_file(const experience::Pool &p)
{
	const std::string path = tmp("check_pool.dpp");
	EXPECT_EQ(experience::write_pool(p, path), "");
	experience::Pool back;
	EXPECT_EQ(experience::read_pool(path, back), "");
	std::remove(path.c_str());
	return back;
}

// Every window of the pool (107 decisions, fewer than the 2000 asked for):
// the cpu backend within 1e-5 of the reference, the same most likely action
// everywhere, for each architecture option and for int8 weights (against
// the reference on the dequantised weights).
TEST(ModelCheck, ARandomModelAgreesWithTheReferenceOnEveryPoolWindow)
{
	const experience::Pool pool = pool_through_file(small_pool(3));
	for (int variant = 0; variant < 8; variant++) {
		const Model m = through_file(random_router_model(7 + variant, variant & 1, variant & 2, variant & 4),
					     "check_model.dpm");
		CheckReport r;
		ASSERT_EQ(check_model(m, {pool}, {"pool.dpp"}, CheckOptions{}, r), "") << "variant " << variant;
		EXPECT_TRUE(r.passed) << "variant " << variant;
		EXPECT_EQ(r.int8, (variant & 4) != 0);
		EXPECT_EQ(r.windows, 107u);
		EXPECT_EQ(r.entries, 107u);
		EXPECT_EQ(r.episodes, 3u);
		EXPECT_LT(r.max_diff, 1e-5) << "variant " << variant << " at " << r.max_diff_at;
		EXPECT_EQ(r.argmax_agree, r.windows) << "variant " << variant;
		EXPECT_EQ(r.non_finite, 0u);
		EXPECT_LE(r.logged_agree, r.windows);
	}
}

// Asked for fewer windows than there are decisions: that many, evenly
// spaced, the same ones each time.
TEST(ModelCheck, FewerWindowsAreSampledDeterministically)
{
	const Model m = random_router_model(1, false, false, false);
	const experience::Pool pool = small_pool(4);
	CheckOptions opt;
	opt.windows = 25;
	CheckReport a, b;
	ASSERT_EQ(check_model(m, {pool, pool}, {}, opt, a), "");
	ASSERT_EQ(check_model(m, {pool, pool}, {}, opt, b), "");
	EXPECT_EQ(a.windows, 25u);
	EXPECT_EQ(a.entries, 214u);
	EXPECT_EQ(a.episodes, 6u);
	EXPECT_EQ(a.max_diff, b.max_diff);
	EXPECT_EQ(a.logged_agree, b.logged_agree);
}

// A weight damaged in memory (NaN) gives outputs that are not finite: the
// check fails. A weight changed in the file after writing is refused by
// the reader's checksum before any check runs.
TEST(ModelCheck, ADamagedWeightIsCaught)
{
	const experience::Pool pool = small_pool(5);
	Model m = random_router_model(2, false, false, false);
	m.find("h0.mlp.fc.w")->values[3] = std::numeric_limits<float>::quiet_NaN();
	CheckReport r;
	ASSERT_EQ(check_model(m, {pool}, {}, CheckOptions{}, r), "");
	EXPECT_FALSE(r.passed);
	EXPECT_EQ(r.non_finite, r.windows);

	const std::string path = tmp("check_damaged.dpm");
	ASSERT_EQ(write_model(random_router_model(2, false, false, false), path), "");
	std::string bytes;
	{
		std::ifstream in(path, std::ios::binary);
		bytes.assign(std::istreambuf_iterator<char>(in), {});
	}
	bytes[bytes.size() - 100] ^= 0x40; // inside the last tensor's weights
	{
		std::ofstream out(path, std::ios::binary | std::ios::trunc);
		out << bytes;
	}
	Model back;
	const std::string err = read_model(path, back);
	EXPECT_NE(err.find("checksum"), std::string::npos) << err;
	std::remove(path.c_str());
}

// The tolerance is the verdict: below the difference found, the check fails.
TEST(ModelCheck, ADifferenceBeyondTheToleranceFails)
{
	const Model m = random_router_model(3, true, false, false);
	CheckReport r;
	ASSERT_EQ(check_model(m, {small_pool(6)}, {}, CheckOptions{}, r), "");
	ASSERT_GT(r.max_diff, 0.0);
	CheckOptions tight;
	tight.tolerance = r.max_diff / 2;
	CheckReport t;
	ASSERT_EQ(check_model(m, {small_pool(6)}, {}, tight, t), "");
	EXPECT_FALSE(t.passed);
}

TEST(ModelCheck, APoolWithoutOneOfTheModelsFeaturesIsAnError)
{
	experience::Pool pool = small_pool(7);
	pool.absent_features = 1u << 6; // total_drops, as in the paper's 7-feature pools
	CheckReport r;
	const std::string err =
		check_model(random_router_model(4, false, false, false), {small_pool(8), pool}, {"a.dpp", "b.dpp"},
			    CheckOptions{}, r);
	EXPECT_NE(err.find("b.dpp: does not record total_drops"), std::string::npos) << err;
	EXPECT_NE(check_model(random_router_model(4, false, false, false), {experience::Pool{}}, {}, CheckOptions{}, r), "");
}

// As dualpilot-train computes them: discounted, restarting after each done
// flag and at the pool's end.
TEST(ModelCheck, ReturnsToGoRestartAtEachEpisodeEnd)
{
	experience::Pool p;
	const std::array<float, experience::kFeatureCount> s{};
	p.add(s, 0, 1, false);
	p.add(s, 0, 2, true);
	p.add(s, 0, 4, false);
	p.add(s, 0, 8, false);
	const std::vector<float> rtg = pool_returns_to_go(p, 0.5);
	EXPECT_EQ(rtg, (std::vector<float>{1 + 0.5f * 2, 2, 4 + 0.5f * 8, 8}));
}

} // namespace
} // namespace dualpilot::policy
