// Experience pools: one entry per AQM decision, as the L4S-LLM paper's
// section II-B describes them: the 8 state features of Table III(a), the
// action (0 enqueue, 1 drop, 2 ECN mark), the reward and the done flag. A
// pool's action_count says how many actions its entries choose among: 3,
// the verdicts above, for every pool the AQMs record; K for a pool of K
// discrete choices of another kind (a tuner's K AQM settings), whose models
// then have K outputs.
//
// Two encodings of the same data:
//  - JSON (the paper's interchange layout: parallel "states", "actions",
//    "rewards", "dones" arrays) with a "schema" object naming the features
//    and giving the action count ("action_count", 3 where it is absent);
//  - .dpp, a compact little-endian columnar file for fast loading:
//      0   char[8]  magic "DPPOOL\0\1"
//      8   u32      version (3; versions 1, without the mask, and 2, without
//                   the action count, are read too, as pools of 3 actions)
//      12  u32      feature_count F (8: the decisions' table; 26: the tuner's)
//      16  u64      entry_count N
//      24  char[64] reward definition, NUL-padded
//      88  u32      absent-feature mask (bit k: feature k was not recorded)
//      92  u32      action_count K, 2..256 (zero in version 2)
//      96  char[32] x F feature names, NUL-padded (at 88 in version 1)
//      ..  f32[N*F] states, row-major;  u8[N] actions (each < K);  f32[N] rewards;  u8[N] dones
//      end u64      FNV-1a 64 of every byte before it
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "aqm/observe.hpp"
#include "common/checksum.hpp"
#include "experience/features.hpp"
#include "experience/tune_state.hpp"
#include "experience/reward.hpp"

namespace dualpilot::experience {

inline constexpr uint32_t kPoolVersion = 3;

// The feature tables a pool's states follow: the sampled decisions'
// (experience/features.hpp, the paper's Table III(a), 8 features) or the
// tuner's decision intervals (experience/tune_state.hpp, 26). A file says
// which by its feature names.
enum class FeatureTable : uint8_t { decisions, tuner };
std::span<const char *const> table_names(FeatureTable t);
// The verdicts' count (aqm::ActionCode: enqueue, drop, mark): every pool's
// before version 3 and the default.
inline constexpr uint32_t kVerdictActionCount = aqm::kMark + 1;
// An action is stored as a u8.
inline constexpr uint32_t kMaxPoolActions = 256;

struct Pool {
	std::vector<float> states; // entry_count x feature_count(), row-major
	std::vector<uint8_t> actions;
	std::vector<float> rewards;
	std::vector<uint8_t> dones;
	std::string reward_definition = "packet_length / (current_queue_delay_us + 1)";
	// Bit k set: the source never recorded feature k (the paper's 7-feature
	// pools have no total_drops); its column holds 0 and training leaves it out.
	uint32_t absent_features = 0;
	uint32_t action_count = kVerdictActionCount; // every entry's action is below it
	FeatureTable table = FeatureTable::decisions; // what states holds, feature_count() a row

	int feature_count() const { return static_cast<int>(table_names(table).size()); }
	const char *feature_name(int k) const { return table_names(table)[static_cast<size_t>(k)]; }
	size_t size() const { return actions.size(); }
	void add(const std::array<float, kFeatureCount> &state, uint8_t action, float reward, bool done)
	{
		add_row(state.data(), action, reward, done);
	}
	// An entry of feature_count() values, whichever the table.
	void add_row(const float *state, uint8_t action, float reward, bool done)
	{
		states.insert(states.end(), state, state + feature_count());
		actions.push_back(action);
		rewards.push_back(reward);
		dones.push_back(done ? 1 : 0);
	}
	// Appends other's entries; an absent feature stays absent. Refused
	// (error text; nothing appended) when both hold entries and their action
	// counts or feature tables differ: action 1 of one kind of pool is not
	// action 1 of another. An empty pool takes other's action count and
	// table. Empty on success.
	[[nodiscard]] std::string append(const Pool &other);
	bool has_feature(int k) const { return !(absent_features >> k & 1u); }
};

// Each returns an error naming the file and what is wrong; empty on success.
[[nodiscard]] std::string write_pool_json(const Pool &pool, const std::string &path);
[[nodiscard]] std::string write_pool_binary(const Pool &pool, const std::string &path);
// The .dpp bytes of a pool (what write_pool_binary writes), and their length
// for a pool of `entries` entries.
std::string encode_pool_binary(const Pool &pool);
uint64_t pool_binary_bytes(uint64_t entries, FeatureTable table = FeatureTable::decisions);
//
// A file whose structure is broken (magic, version, length, checksum, not
// JSON) is refused whole. A corrupt *entry* inside a sound file (an action
// not below the pool's action_count, a non-finite feature or reward, a JSON
// state of the wrong shape) is reported with its position, skipped and
// counted when a PoolReadReport is given (a skipped entry that ended an
// episode passes its done flag to the entry before it); without one the
// first is an error.
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
