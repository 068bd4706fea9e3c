// Experience pools: the binary and JSON files round-trip, every defect of a
// .dpp file is refused with its byte offset, and the kernel-log importer
// keeps good records and reports bad ones by line.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>

#include "experience/pool.hpp"
#include "sim/pool_import.hpp"

namespace dualpilot::sim {
namespace {

std::string tmp(const std::string &name)
{
	return (std::filesystem::temp_directory_path() / ("dualpilot_test_" + name)).string();
}

experience::Pool sample_pool()
{
	experience::Pool p;
	for (int i = 0; i < 100; i++) {
		std::array<float, experience::kFeatureCount> s{};
		for (int k = 0; k < experience::kFeatureCount; k++)
			s[k] = static_cast<float>(i * 10 + k) + 0.25f;
		p.add(s, static_cast<uint8_t>(i % 3), static_cast<float>(i) / 7, i == 99);
	}
	return p;
}

void expect_same(const experience::Pool &a, const experience::Pool &b)
{
	EXPECT_EQ(a.states, b.states);
	EXPECT_EQ(a.actions, b.actions);
	EXPECT_EQ(a.rewards, b.rewards);
	EXPECT_EQ(a.dones, b.dones);
	EXPECT_EQ(a.reward_definition, b.reward_definition);
	EXPECT_EQ(a.action_count, b.action_count);
}

TEST(Pool, BinaryAndJsonRoundTrip)
{
	const experience::Pool p = sample_pool();
	for (const char *ext : {".dpp", ".json"}) {
		const std::string path = tmp(std::string("roundtrip") + ext);
		ASSERT_EQ(experience::write_pool(p, path), "");
		experience::Pool back;
		ASSERT_EQ(experience::read_pool(path, back), "") << ext;
		expect_same(p, back);
		std::remove(path.c_str());
	}
}

std::string bytes_of(const std::string &path)
{
	std::ifstream in(path, std::ios::binary);
	return {std::istreambuf_iterator<char>(in), {}};
}

void put_bytes(const std::string &path, const std::string &data)
{
	std::ofstream out(path, std::ios::binary | std::ios::trunc);
	out << data;
}

TEST(Pool, EveryBinaryDefectIsRefusedWithItsOffset)
{
	const std::string good_path = tmp("good.dpp");
	ASSERT_EQ(experience::write_pool_binary(sample_pool(), good_path), "");
	const std::string good = bytes_of(good_path);
	struct Case {
		std::string name;
		std::string data;
		std::string message;
	};
	std::string bad_magic = good;
	bad_magic[0] = 'X';
	std::string bad_version = good;
	bad_version[8] = 9;
	std::string flipped = good;
	flipped[good.size() / 2] ^= 0x40;
	std::string bad_count = good;
	bad_count[16] = static_cast<char>(0xff);
	std::string absurd = good;
	for (int i = 16; i < 24; i++)
		absurd[i] = static_cast<char>(0x7f);
	const Case cases[] = {
		{"empty", "", "truncated"},
		{"magic", bad_magic, "wrong magic"},
		{"version", bad_version, "version 9 is not supported"},
		{"truncated", good.substr(0, good.size() - 10), "does not match"},
		{"padded", good + "xx", "does not match"},
		{"checksum", flipped, "checksum mismatch"},
		{"count", bad_count, "does not match"},
		{"absurd", absurd, "is absurd"},
	};
	for (const Case &c : cases) {
		const std::string path = tmp("bad_" + c.name + ".dpp");
		put_bytes(path, c.data);
		experience::Pool p;
		const std::string err = experience::read_pool_binary(path, p);
		EXPECT_NE(err.find(c.message), std::string::npos) << c.name << ": " << err;
		EXPECT_NE(err.find("byte "), std::string::npos) << c.name << ": " << err;
		std::remove(path.c_str());
	}
	experience::Pool p;
	EXPECT_NE(experience::read_pool("/nonexistent/pool.dpp", p).find("cannot open"), std::string::npos);
	EXPECT_NE(experience::read_pool("pool.csv", p).find("unknown pool format"), std::string::npos);
	std::remove(good_path.c_str());
}

TEST(Pool, MalformedJsonIsRefusedWithTheEntry)
{
	const std::string path = tmp("bad.json");
	put_bytes(path, R"({"states": [[1,2,3,4,5,6,7,8],[1,2]], "actions": [0,1], "rewards": [0,0], "dones": [0,1]})");
	experience::Pool p;
	EXPECT_NE(experience::read_pool_json(path, p).find("entry 1: state must have 8 numbers"), std::string::npos);
	put_bytes(path, R"({"states": [[1,2,3,4,5,6,7,8]], "actions": [5], "rewards": [0], "dones": [0]})");
	EXPECT_NE(experience::read_pool_json(path, p).find("entry 0: action must be an integer in 0..2"), std::string::npos);
	put_bytes(path, "{not json");
	EXPECT_NE(experience::read_pool_json(path, p).find("not JSON"), std::string::npos);
	std::remove(path.c_str());
}

// A sound file with a few corrupt entries: each is reported with its
// position, skipped and counted, an episode end it carried survives, and the
// rest of the file is read. Without a report the first one is the error.
TEST(Pool, CorruptEntriesAreReportedSkippedAndCounted)
{
	experience::Pool p = sample_pool();
	p.actions[10] = 7;
	p.states[20 * experience::kFeatureCount + 3] = std::nanf("");
	p.rewards[30] = std::numeric_limits<float>::infinity();
	p.dones[30] = 1; // an episode ends at a corrupt entry
	for (const char *ext : {".dpp", ".json"}) {
		const std::string path = tmp(std::string("corrupt") + ext);
		ASSERT_EQ(experience::write_pool(p, path), "");
		// (JSON has no NaN or infinity: its writer puts null there, which is not a number.)
		experience::Pool back;
		const std::string strict = experience::read_pool(path, back);
		EXPECT_NE(strict.find("entry 10"), std::string::npos) << ext << ": " << strict;
		experience::PoolReadReport report;
		ASSERT_EQ(experience::read_pool(path, back, &report), "") << ext;
		EXPECT_EQ(report.entries, 100u) << ext;
		EXPECT_EQ(report.skipped, 3u) << ext;
		ASSERT_EQ(report.problems.size(), 3u) << ext;
		EXPECT_NE(report.problems[0].find("entry 10"), std::string::npos) << report.problems[0];
		EXPECT_NE(report.problems[1].find("entry 20"), std::string::npos) << report.problems[1];
		EXPECT_NE(report.problems[1].find("current_queue_delay_us"), std::string::npos) << report.problems[1];
		EXPECT_NE(report.problems[2].find("entry 30"), std::string::npos) << report.problems[2];
		if (std::string(ext) == ".dpp") {
			EXPECT_NE(report.problems[0].find("(byte "), std::string::npos) << report.problems[0];
		}
		ASSERT_EQ(back.size(), 97u) << ext;
		// Entry 29 (now at 27) carries the episode end of skipped entry 30.
		EXPECT_EQ(back.dones[27], 1) << ext;
		EXPECT_EQ(back.actions[10], p.actions[11]) << ext;
		std::remove(path.c_str());
	}
}

// A version 2 file (the zero word where version 3 keeps the action count),
// made from a version 3 one: its header patched and its checksum redone.
std::string as_version_2(std::string dpp)
{
	const uint32_t version = 2, zero = 0;
	std::memcpy(dpp.data() + 8, &version, 4);
	std::memcpy(dpp.data() + 92, &zero, 4);
	const uint64_t sum = common::fnv1a64(dpp.data(), dpp.size() - 8);
	std::memcpy(dpp.data() + dpp.size() - 8, &sum, 8);
	return dpp;
}

// The pools recorded before the action count was stored are verdict pools,
// and read as such, entry for entry.
TEST(Pool, Version2FilesStillReadAsThreeActionPools)
{
	const experience::Pool p = sample_pool();
	const std::string path = tmp("v2.dpp");
	put_bytes(path, as_version_2(experience::encode_pool_binary(p)));
	experience::Pool back;
	back.action_count = 0;
	ASSERT_EQ(experience::read_pool_binary(path, back), "");
	expect_same(p, back);
	EXPECT_EQ(back.action_count, 3u);
	std::remove(path.c_str());
}

// A pool of 37 choices (a tuner's settings) keeps its action count through
// both encodings; an entry at or past it is corrupt: skipped and counted.
TEST(Pool, ActionCountRoundTripsAndBoundsTheActions)
{
	experience::Pool p = sample_pool();
	p.action_count = 37;
	for (size_t i = 0; i < p.size(); i++)
		p.actions[i] = static_cast<uint8_t>(i % 37);
	for (const char *ext : {".dpp", ".json"}) {
		const std::string path = tmp(std::string("k37") + ext);
		ASSERT_EQ(experience::write_pool(p, path), "");
		experience::Pool back;
		ASSERT_EQ(experience::read_pool(path, back), "") << ext;
		expect_same(p, back);
	}
	p.actions[5] = 37;
	p.actions[6] = 200;
	for (const char *ext : {".dpp", ".json"}) {
		const std::string path = tmp(std::string("k37") + ext);
		ASSERT_EQ(experience::write_pool(p, path), "");
		experience::Pool back;
		experience::PoolReadReport report;
		ASSERT_EQ(experience::read_pool(path, back, &report), "") << ext;
		EXPECT_EQ(report.skipped, 2u) << ext;
		ASSERT_EQ(report.problems.size(), 2u) << ext;
		EXPECT_NE(report.problems[0].find("entry 5"), std::string::npos) << report.problems[0];
		EXPECT_NE(report.problems[0].find("0..36"), std::string::npos) << report.problems[0];
		EXPECT_EQ(back.size(), 98u) << ext;
		EXPECT_EQ(back.action_count, 37u) << ext;
		std::remove(path.c_str());
	}
}

// An action count outside 2..256 is a broken header, refused with its
// offset; a JSON pool's, a broken schema.
TEST(Pool, AbsurdActionCountIsRefused)
{
	std::string dpp = experience::encode_pool_binary(sample_pool());
	const uint32_t one = 1;
	std::memcpy(dpp.data() + 92, &one, 4);
	const uint64_t sum = common::fnv1a64(dpp.data(), dpp.size() - 8);
	std::memcpy(dpp.data() + dpp.size() - 8, &sum, 8);
	const std::string path = tmp("k1.dpp");
	put_bytes(path, dpp);
	experience::Pool back;
	const std::string err = experience::read_pool_binary(path, back);
	EXPECT_NE(err.find("byte 92: action count 1 is outside 2..256"), std::string::npos) << err;
	const std::string json_path = tmp("k1.json");
	put_bytes(json_path, R"({"schema": {"action_count": 1}, "states": [], "actions": [], "rewards": [], "dones": []})");
	EXPECT_NE(experience::read_pool_json(json_path, back).find("schema.action_count"), std::string::npos);
	std::remove(path.c_str());
	std::remove(json_path.c_str());
}

// Appending mixes entries, so their actions must mean the same: pools of
// different action counts are refused; an empty pool takes the other's.
TEST(Pool, AppendRefusesAnotherActionCount)
{
	experience::Pool tuner = sample_pool();
	tuner.action_count = 37;
	experience::Pool verdicts = sample_pool();
	const std::string err = verdicts.append(tuner);
	EXPECT_NE(err.find("37 actions"), std::string::npos) << err;
	EXPECT_EQ(verdicts.size(), 100u);
	experience::Pool all;
	ASSERT_EQ(all.append(tuner), "");
	ASSERT_EQ(all.append(tuner), "");
	EXPECT_EQ(all.action_count, 37u);
	EXPECT_EQ(all.size(), 200u);
}

std::string record(int queue, int delay_us, int pkt_len, int action)
{
	// queue_type ... packet_length, dequeue_action (1 enqueue, 2 drop, 3 mark)
	char buf[512];
	std::snprintf(buf, sizeof(buf),
		      "l4s_ecn_marking-start,%d,15000,15000,150000,100,125,1250,0,150000,214748364,%d,900,"
		      "1073741823,0,120,4,0,1000,1500000,12,18000,3,%d,%d,end",
		      queue, delay_us, pkt_len, action);
	return buf;
}

TEST(Pool, KernelLogImportKeepsGoodRecordsAndReportsBadOnes)
{
	std::string log;
	log += "Nov 24 10:00:00 router kernel: " + record(1, 500, 1500, 1) + "\n"; // line 1, good
	log += "Nov 24 10:00:00 router kernel: something else entirely\n";         // line 2, not a record
	log += record(0, 20000, 1500, 2) + "\n";                                     // line 3, good (drop)
	log += "l4s_ecn_marking-start,1,2,3,end\n";                                  // line 4, too few fields
	log += record(0, 1000, 64, 7) + "\n";                                        // line 5, action 7
	log += "l4s_ecn_marking-start,0,15000,abc,end\n";                            // line 6, not an integer
	log += "l4s_ecn_marking-start,0,15000,15000\n";                              // line 7, truncated
	log += record(1, 0, 1500, 3) + "\r\n";                                       // line 8, good (mark), CRLF
	experience::Pool pool;
	ImportReport rep;
	import_kernel_log(log, "router.log", experience::RewardSpec{1}, pool, rep);
	EXPECT_EQ(rep.lines, 8u);
	EXPECT_EQ(rep.records, 7u);
	EXPECT_EQ(rep.imported, 3u);
	EXPECT_EQ(rep.malformed, 4u);
	ASSERT_EQ(rep.errors.size(), 4u);
	EXPECT_EQ(rep.errors[0], "router.log:4: expected 24 comma-separated integers, got 3");
	EXPECT_EQ(rep.errors[1], "router.log:5: dequeue_action 7 outside 1..3");
	EXPECT_EQ(rep.errors[2], "router.log:6: field 3 (tupdate) is not an integer: 'abc'");
	EXPECT_EQ(rep.errors[3], "router.log:7: record has no ',end' (truncated line?)");

	ASSERT_EQ(pool.size(), 3u);
	EXPECT_EQ(pool.actions, (std::vector<uint8_t>{0, 1, 2}));
	EXPECT_EQ(pool.dones, (std::vector<uint8_t>{0, 0, 1}));
	// Features of the first record: queue L4S, burst allowance 150000 us,
	// drop_prob 0.1 of the fixed-point scale, delay 500 us, accu_prob 0.5,
	// 18000 bytes queued, 3 drops, 1500-byte packet.
	const float *s = pool.states.data();
	EXPECT_EQ(s[0], 1.0f);
	EXPECT_EQ(s[1], 150000.0f);
	EXPECT_NEAR(s[2], 0.1, 1e-6);
	EXPECT_EQ(s[3], 500.0f);
	EXPECT_NEAR(s[4], 0.5, 1e-6);
	EXPECT_EQ(s[5], 18000.0f);
	EXPECT_EQ(s[6], 3.0f);
	EXPECT_EQ(s[7], 1500.0f);
	EXPECT_NEAR(pool.rewards[0], 1500.0 / 501.0, 1e-4);
	EXPECT_NEAR(pool.rewards[2], 1500.0 / 1.0, 1e-3);
}

TEST(Pool, ImportCapsTheListOfErrorsButCountsThemAll)
{
	std::string log;
	for (int i = 0; i < 500; i++)
		log += "l4s_ecn_marking-start,oops,end\n";
	experience::Pool pool;
	ImportReport rep;
	import_kernel_log(log, "x.log", experience::RewardSpec{1}, pool, rep, 10);
	EXPECT_EQ(rep.malformed, 500u);
	EXPECT_EQ(rep.errors.size(), 10u);
	EXPECT_EQ(pool.size(), 0u);
}

} // namespace
} // namespace dualpilot::sim
