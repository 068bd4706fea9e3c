// Moving pools between machines: pool arguments expand to the files a user
// means (directories, glob patterns) or an error naming the argument; merge
// keeps every entry and ends an episode at each input's end; shard deals
// every episode to exactly one shard, deterministically.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "experience/pool.hpp"
#include "experience/pool_paths.hpp"
#include "sim/pool_tools.hpp"

namespace dualpilot::sim {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string &name)
{
	const fs::path dir = fs::temp_directory_path() / ("dualpilot_test_" + name + "_" + std::to_string(::getpid()));
	fs::remove_all(dir);
	fs::create_directories(dir);
	return dir;
}

void touch(const fs::path &p)
{
	std::ofstream f(p);
	f << "x";
}

// A pool of episodes of the given lengths; entry k's first feature is
// base + k, so that every entry can be found again. The last done flag is
// left 0, as a router's or an imported pool leaves it.
experience::Pool pool_of(const std::vector<size_t> &episodes, float base, uint32_t absent = 0)
{
	experience::Pool p;
	p.absent_features = absent;
	size_t k = 0;
	for (size_t e = 0; e < episodes.size(); e++)
		for (size_t i = 0; i < episodes[e]; i++, k++) {
			std::array<float, experience::kFeatureCount> s{};
			s[0] = base + static_cast<float>(k);
			p.add(s, static_cast<uint8_t>(k % 3), 1.0f, i + 1 == episodes[e] && e + 1 < episodes.size());
		}
	return p;
}

TEST(PoolPaths, ADirectoryGivesItsPoolsSortedAndLeavesTheRestOut)
{
	const fs::path dir = fresh_dir("paths_dir");
	for (const char *name : {"b.dpp", "a.json", "c.txt", ".hidden.dpp", ".r-port0.dpp.tmp"})
		touch(dir / name);
	fs::create_directories(dir / "sub.dpp");
	std::vector<std::string> out;
	ASSERT_EQ(experience::expand_pool_paths({dir.string()}, out), "");
	EXPECT_EQ(out, (std::vector<std::string>{(dir / "a.json").string(), (dir / "b.dpp").string()}));
	fs::remove_all(dir);
}

TEST(PoolPaths, APatternGivesItsMatchesSortedAndNoMatchIsAnErrorNamingIt)
{
	const fs::path dir = fresh_dir("paths_glob");
	for (const char *name : {"r2-port0.dpp", "r1-port1.dpp", "r1-port0.dpp", "r1-port0.json"})
		touch(dir / name);
	std::vector<std::string> out;
	ASSERT_EQ(experience::expand_pool_paths({(dir / "r1-*.dpp").string(), (dir / "r2-*").string()}, out), "");
	EXPECT_EQ(out, (std::vector<std::string>{(dir / "r1-port0.dpp").string(), (dir / "r1-port1.dpp").string(),
						 (dir / "r2-port0.dpp").string()}));
	const std::string pattern = (dir / "r9-*.dpp").string();
	std::vector<std::string> none;
	const std::string err = experience::expand_pool_paths({pattern}, none);
	EXPECT_NE(err.find(pattern + ": no file matches"), std::string::npos) << err;
	fs::remove_all(dir);
}

TEST(PoolPaths, EachBadArgumentIsNamed)
{
	const fs::path dir = fresh_dir("paths_bad");
	fs::create_directories(dir / "empty");
	touch(dir / "a.dpp");
	std::vector<std::string> out;
	std::string err = experience::expand_pool_paths({(dir / "missing.dpp").string()}, out);
	EXPECT_NE(err.find("missing.dpp: no such file"), std::string::npos) << err;
	err = experience::expand_pool_paths({(dir / "empty").string()}, out);
	EXPECT_NE(err.find("empty: a directory without pool files"), std::string::npos) << err;
	// The same file by a directory and by name: its entries would count twice.
	err = experience::expand_pool_paths({dir.string(), (dir / "a.dpp").string()}, out);
	EXPECT_NE(err.find("a.dpp: named twice"), std::string::npos) << err;
	// A plain file is passed through, whatever its name: the reader judges it.
	out.clear();
	ASSERT_EQ(experience::expand_pool_paths({(dir / "a.dpp").string()}, out), "");
	EXPECT_EQ(out.size(), 1u);
	fs::remove_all(dir);
}

TEST(PoolMerge, EveryEntryIsKeptAndEachInputsEndEndsAnEpisode)
{
	const experience::Pool a = pool_of({3, 2}, 0), b = pool_of({4}, 100, 1u << 6);
	experience::Pool merged;
	EXPECT_EQ(append_episodes(merged, a), "");
	EXPECT_EQ(append_episodes(merged, b), "");
	ASSERT_EQ(merged.size(), 9u);
	EXPECT_EQ(merged.dones, (std::vector<uint8_t>{0, 0, 1, 0, 1, 0, 0, 0, 1}));
	EXPECT_EQ(merged.absent_features, 1u << 6); // absent in one input: absent in the merge
	EXPECT_EQ(merged.states[5 * experience::kFeatureCount], 100.0f);
	EXPECT_EQ(count_episodes(merged), 3u);
	experience::Pool other = pool_of({1}, 0);
	other.reward_definition = "something else";
	EXPECT_NE(append_episodes(merged, other).find("differs"), std::string::npos);
	EXPECT_EQ(merged.reward_definition.rfind("mixed: ", 0), 0u);
}

// Episode i, counted across the inputs in order, goes to shard i mod N: every
// entry in exactly one shard, each shard's episodes whole and in order.
TEST(PoolShard, EveryEpisodeGoesToExactlyOneShardByItsIndex)
{
	const std::vector<experience::Pool> pools = {pool_of({3, 1}, 0), pool_of({2}, 100, 1u << 6), pool_of({5, 2, 4}, 200)};
	// Episodes: 0 [0..2], 1 [3], 2 [100..101], 3 [200..204], 4 [205..206], 5 [207..210].
	std::vector<experience::Pool> shards;
	ASSERT_EQ(shard_episodes(pools, 4, shards), "");
	ASSERT_EQ(shards.size(), 4u);
	const std::vector<std::vector<float>> want = {
		{0, 1, 2, 205, 206}, {3, 207, 208, 209, 210}, {100, 101}, {200, 201, 202, 203, 204}};
	std::map<float, int> seen;
	for (size_t k = 0; k < 4; k++) {
		std::vector<float> firsts;
		for (size_t i = 0; i < shards[k].size(); i++) {
			firsts.push_back(shards[k].states[i * experience::kFeatureCount]);
			seen[firsts.back()]++;
		}
		EXPECT_EQ(firsts, want[k]) << "shard " << k;
		EXPECT_EQ(shards[k].absent_features, 1u << 6) << "every shard: the union of the absent features";
		EXPECT_EQ(shards[k].dones.back(), 1);
	}
	EXPECT_EQ(shards[0].dones, (std::vector<uint8_t>{0, 0, 1, 0, 1}));
	EXPECT_EQ(seen.size(), 17u);
	for (const auto &[entry, count] : seen)
		EXPECT_EQ(count, 1) << "entry " << entry;
	// Deterministic: the same inputs give the same shards.
	std::vector<experience::Pool> again;
	ASSERT_EQ(shard_episodes(pools, 4, again), "");
	for (size_t k = 0; k < 4; k++)
		EXPECT_EQ(again[k].states, shards[k].states);
}

TEST(PoolShard, MoreShardsThanEpisodesIsRefused)
{
	std::vector<experience::Pool> shards;
	const std::string err = shard_episodes({pool_of({3, 1}, 0)}, 3, shards);
	EXPECT_NE(err.find("3 shards but the pools hold 2 episodes"), std::string::npos) << err;
	EXPECT_TRUE(shards.empty());
	EXPECT_NE(shard_episodes({pool_of({3}, 0)}, 0, shards), "");
}

} // namespace
} // namespace dualpilot::sim
