// Experience pools: one entry per AQM decision, as the L4S-LLM paper's
// section II-B describes them: the 8 state features of Table III(a), the
// action (0 enqueue, 1 drop, 2 ECN mark), the reward and the done flag.
//
// Two encodings of the same data:
//  - JSON (the paper's interchange layout: parallel "states", "actions",
//    "rewards", "dones" arrays) with a "schema" object naming the features;
//  - .dpp, a compact little-endian columnar file for fast loading:
//      0   char[8]  magic "DPPOOL\0\1"
//      8   u32      version (2; version 1 files, without the mask, are read too)
//      12  u32      feature_count F
//      16  u64      entry_count N
//      24  char[64] reward definition, NUL-padded
//      88  u32      absent-feature mask (bit k: feature k was not recorded); u32 zero
//      96  char[32] x F feature names, NUL-padded (at 88 in version 1)
//      ..  f32[N*F] states, row-major;  u8[N] actions;  f32[N] rewards;  u8[N] dones
//      end u64      FNV-1a 64 of every byte before it
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "aqm/observe.hpp"
#include "common/checksum.hpp"
#include "experience/features.hpp"
#include "experience/reward.hpp"

namespace dualpilot::experience {

inline constexpr uint32_t kPoolVersion = 2;

struct Pool {
	std::vector<float> states; // entry_count x kFeatureCount, row-major
	std::vector<uint8_t> actions;
	std::vector<float> rewards;
	std::vector<uint8_t> dones;
	std::string reward_definition = "packet_length / (current_queue_delay_us + 1)";
	// Bit k set: the source never recorded feature k (the paper's 7-feature
	// pools have no total_drops); its column holds 0 and training leaves it out.
	uint32_t absent_features = 0;

	size_t size() const { return actions.size(); }
	void add(const std::array<float, kFeatureCount> &state, uint8_t action, float reward, bool done)
	{
		states.insert(states.end(), state.begin(), state.end());
		actions.push_back(action);
		rewards.push_back(reward);
		dones.push_back(done ? 1 : 0);
	}
	void append(const Pool &other); // an absent feature stays absent
	bool has_feature(int k) const { return !(absent_features >> k & 1u); }
};

// Each returns an error naming the file and what is wrong; empty on success.
[[nodiscard]] std::string write_pool_json(const Pool &pool, const std::string &path);
[[nodiscard]] std::string write_pool_binary(const Pool &pool, const std::string &path);
// The .dpp bytes of a pool (what write_pool_binary writes), and their length
// for a pool of `entries` entries.
std::string encode_pool_binary(const Pool &pool);
uint64_t pool_binary_bytes(uint64_t entries);
//
// A file whose structure is broken (magic, version, length, checksum, not
// JSON) is refused whole. A corrupt *entry* inside a sound file (an action
// outside 0..2, a non-finite feature or reward, a JSON state of the wrong
// shape) is reported with its position, skipped and counted when a
// PoolReadReport is given (a skipped entry that ended an episode passes its
// done flag to the entry before it); without one the first is an error.
struct PoolReadReport {
	static constexpr size_t kMaxProblems = 20;
	uint64_t entries = 0; // in the file
	uint64_t skipped = 0;
	std::vector<std::string> problems; // "FILE: entry I (byte B): what", the first kMaxProblems

	// What to tell the user: each problem kept, then the count, if any.
	std::vector<std::string> warnings(const std::string &path) const;
};
[[nodiscard]] std::string read_pool_binary(const std::string &path, Pool &out, PoolReadReport *report = nullptr);
[[nodiscard]] std::string read_pool_json(const std::string &path, Pool &out, PoolReadReport *report = nullptr);
// The same from text already read; `path` names it in messages.
[[nodiscard]]
std::string parse_pool_json(std::string_view text, const std::string &path, Pool &out, PoolReadReport *report = nullptr);
// By extension: .json or .dpp.
[[nodiscard]] std::string read_pool(const std::string &path, Pool &out, PoolReadReport *report = nullptr);
[[nodiscard]] std::string write_pool(const Pool &pool, const std::string &path);


} // namespace dualpilot::experience
