// Rotated experience pools (dataplane/pool_writer.hpp): a collector that
// lists the directory while the router writes only ever finds whole,
// checksummed files; every sample lands in exactly one file; names say
// router, port, UTC time and sequence.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "dataplane/pool_writer.hpp"

namespace dualpilot::dataplane {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string &name)
{
	const fs::path dir = fs::temp_directory_path() / ("dualpilot_test_" + name + "_" + std::to_string(::getpid()));
	fs::remove_all(dir);
	return dir;
}

// Sample k of port p: its first feature carries (p, k) so that the files can
// be checked for loss and duplication.
std::array<float, experience::kFeatureCount> state_of(uint32_t port, uint32_t k)
{
	std::array<float, experience::kFeatureCount> s{};
	s[0] = static_cast<float>(port);
	s[1] = static_cast<float>(k);
	s[7] = 1500;
	return s;
}

std::vector<fs::path> listed_pools(const fs::path &dir)
{
	std::vector<fs::path> out;
	std::error_code ec;
	for (const auto &e : fs::directory_iterator(dir, ec))
		if (e.path().extension() == ".dpp") // the collector's pattern: *.dpp
			out.push_back(e.path());
	return out;
}

// The port of a file named "edge-7-port<P>-<yyyymmdd>T<hhmmss>Z-<seq>.dpp"
// (P one digit here), or -1 for any other name.
int port_of_name(const std::string &name)
{
	const std::string prefix = "edge-7-port";
	if (name.rfind(prefix, 0) != 0)
		return -1;
	std::string shape = name.substr(prefix.size());
	for (char &ch : shape)
		if (std::isdigit(static_cast<unsigned char>(ch)))
			ch = '9';
	return shape == "9-99999999T999999Z-999999.dpp" ? name[prefix.size()] - '0' : -1;
}

TEST(PoolRotation, FileNamesSayRouterPortUtcTimeAndSequence)
{
	EXPECT_EQ(pool_file_name("edge-7", 3, 0, 12), "edge-7-port3-19700101T000000Z-000012.dpp");
	EXPECT_EQ(pool_file_name("r", 0, 1764601200, 0), "r-port0-20251201T150000Z-000000.dpp");
}

// The writer rotates small pools quickly (20 entries a file, two
// ports) while a reader lists the directory and reads every *.dpp it finds,
// again and again: every read succeeds, and at the end every sample is in
// exactly one file.
TEST(PoolRotation, AReaderOnlyEverSeesWholeFilesAndNoSampleIsLostOrDuplicated)
{
	const fs::path dir = fresh_dir("rotation");
	PoolRotation cfg;
	cfg.dir = dir.string();
	cfg.router = "edge-7";
	cfg.max_bytes = experience::pool_binary_bytes(20);
	PoolRotator rot;
	ASSERT_EQ(rot.start(cfg, 2, "test reward"), "");

	std::atomic<bool> done{false};
	std::atomic<uint64_t> reads{0}, failures{0};
	std::string first_failure;
	std::thread reader([&] {
		while (!done.load()) {
			for (const fs::path &p : listed_pools(dir)) {
				experience::Pool pool;
				if (std::string err = experience::read_pool(p.string(), pool); !err.empty()) {
					if (failures.fetch_add(1) == 0)
						first_failure = err;
				}
				reads++;
			}
		}
	});
	const uint32_t per_port = 4000;
	for (uint32_t k = 0; k < per_port; k++)
		for (uint32_t port = 0; port < 2; port++)
			ASSERT_TRUE(rot.add(port, state_of(port, k), static_cast<uint8_t>(k % 3), 1.0f, k * 1000ull));
	ASSERT_EQ(rot.finish(), "");
	done = true;
	reader.join();
	EXPECT_EQ(failures.load(), 0u) << first_failure;
	EXPECT_GT(reads.load(), 0u);

	std::map<uint32_t, std::set<uint32_t>> seen;
	uint64_t entries = 0, files = 0;
	for (const auto &e : fs::directory_iterator(dir)) {
		const std::string file = e.path().filename().string();
		const int file_port = port_of_name(file);
		ASSERT_GE(file_port, 0) << file << ": not a pool name (a temporary file left?)";
		experience::Pool pool;
		ASSERT_EQ(experience::read_pool(e.path().string(), pool), "");
		EXPECT_LE(experience::pool_binary_bytes(pool.size()), cfg.max_bytes);
		EXPECT_EQ(pool.reward_definition, "test reward");
		EXPECT_EQ(pool.dones.back(), 1) << file << ": a file is an episode";
		for (size_t i = 0; i < pool.size(); i++) {
			const auto port = static_cast<uint32_t>(pool.states[i * experience::kFeatureCount]);
			EXPECT_EQ(static_cast<int>(port), file_port) << file;
			EXPECT_TRUE(seen[port].insert(static_cast<uint32_t>(pool.states[i * experience::kFeatureCount + 1])).second)
				<< "a sample of port " << port << " is in two files";
		}
		entries += pool.size();
		files++;
	}
	EXPECT_EQ(entries, 2ull * per_port);
	EXPECT_EQ(seen[0].size(), per_port);
	EXPECT_EQ(seen[1].size(), per_port);
	EXPECT_GE(files, 2ull * per_port / 20);
	const PoolRotatorStats s = rot.stats();
	EXPECT_EQ(s.entries, 2ull * per_port);
	EXPECT_EQ(s.entries_written, 2ull * per_port);
	EXPECT_EQ(s.files, files);
	EXPECT_EQ(s.dropped, 0u);
	fs::remove_all(dir);
}

TEST(PoolRotation, APoolIsClosedWhenItsFirstSampleIsOldEnough)
{
	const fs::path dir = fresh_dir("rotation_age");
	PoolRotation cfg;
	cfg.dir = dir.string();
	cfg.router = "r";
	cfg.max_age_ns = 1000000000; // 1 s of the caller's clock
	PoolRotator rot;
	ASSERT_EQ(rot.start(cfg, 1, "x"), "");
	for (uint32_t k = 0; k < 10; k++) {
		rot.add(0, state_of(0, k), 0, 1, k * 100000000ull); // 0 .. 0.9 s
		rot.tick(k * 100000000ull);
	}
	rot.tick(1000000000);           // the pool is 1 s old: closed
	rot.add(0, state_of(0, 10), 0, 1, 1100000000);
	ASSERT_EQ(rot.finish(), "");    // the second, at exit
	std::vector<size_t> sizes;
	for (const fs::path &p : listed_pools(dir)) {
		experience::Pool pool;
		ASSERT_EQ(experience::read_pool(p.string(), pool), "");
		sizes.push_back(pool.size());
	}
	std::sort(sizes.begin(), sizes.end());
	EXPECT_EQ(sizes, (std::vector<size_t>{1, 10}));
	fs::remove_all(dir);
}

// A file of an earlier run with the same name is never replaced: the writer
// takes the next sequence number.
TEST(PoolRotation, AnExistingFileIsNeverOverwritten)
{
	const fs::path dir = fresh_dir("rotation_exists");
	fs::create_directories(dir);
	PoolRotation cfg;
	cfg.dir = dir.string();
	cfg.router = "r";
	cfg.max_bytes = experience::pool_binary_bytes(5);
	PoolRotator rot;
	ASSERT_EQ(rot.start(cfg, 1, "x"), "");
	// Every name the next few seconds could give sequence 0 is taken.
	const std::time_t now = std::time(nullptr);
	for (std::time_t t = now; t < now + 5; t++) {
		std::ofstream f(dir / pool_file_name("r", 0, t, 0));
		f << "earlier run";
	}
	for (uint32_t k = 0; k < 5; k++)
		rot.add(0, state_of(0, k), 0, 1, k);
	ASSERT_EQ(rot.finish(), "");
	size_t earlier = 0, pools = 0;
	for (const fs::path &p : listed_pools(dir)) {
		experience::Pool pool;
		if (experience::read_pool(p.string(), pool).empty())
			pools++;
		else
			earlier++;
	}
	EXPECT_EQ(earlier, 5u);
	EXPECT_EQ(pools, 1u);
	fs::remove_all(dir);
}

TEST(PoolRotation, AnUnusableDirectoryIsRefusedByName)
{
	const fs::path file = fresh_dir("rotation_file");
	{
		std::ofstream f(file);
		f << "a file";
	}
	PoolRotation cfg;
	cfg.dir = file.string();
	cfg.router = "r";
	PoolRotator rot;
	const std::string err = rot.start(cfg, 1, "x");
	EXPECT_NE(err.find(file.string()), std::string::npos) << err;
	EXPECT_NE(err.find("not a directory"), std::string::npos) << err;
	cfg.dir = (file / "below").string();
	EXPECT_NE(rot.start(cfg, 1, "x"), "");
	EXPECT_FALSE(rot.running());
	EXPECT_EQ(rot.finish(), "");
	fs::remove(file);
}

// A port the rotator was not told of is counted as dropped, never a crash.
TEST(PoolRotation, ASampleOfAnUnknownPortIsCountedAsDropped)
{
	const fs::path dir = fresh_dir("rotation_port");
	PoolRotation cfg;
	cfg.dir = dir.string();
	cfg.router = "r";
	PoolRotator rot;
	ASSERT_EQ(rot.start(cfg, 1, "x"), "");
	EXPECT_FALSE(rot.add(5, state_of(5, 0), 0, 1, 0));
	EXPECT_EQ(rot.stats().dropped, 1u);
	ASSERT_EQ(rot.finish(), "");
	EXPECT_TRUE(listed_pools(dir).empty());
	fs::remove_all(dir);
}

} // namespace
} // namespace dualpilot::dataplane
