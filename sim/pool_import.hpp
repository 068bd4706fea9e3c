// Bringing other tools' experience pools into the pool format: the paper's
// raw kernel logs, its pickled ExperiencePool files, and JSON with the
// paper's parallel arrays (7 or 8 features). The format is found from the
// content, never executed: pickles go through sim/pickle.hpp's restricted
// reader.
//
// The paper's later pools carry 7 features: queue_type, burst_allowance,
// drop_probability, current_queue_delay, accumulated_probability,
// length_in_bytes, packet_length. They map onto the pool's 8 in that order;
// total_drops, which they lack, is filled with 0 and marked absent
// (Pool::absent_features) so training leaves it out. Probabilities on the
// kernel's fixed-point scale (1.0 at 2^31 - 1) are rescaled to 0..1; a
// file is taken to be on that scale when any drop_probability exceeds 1.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "experience/pool.hpp"

namespace dualpilot::sim {

struct ImportReport {
	uint64_t lines = 0;     // kernel logs: lines read
	uint64_t records = 0;   // decisions found (log lines carrying the marker, pickle or JSON entries)
	uint64_t imported = 0;
	uint64_t malformed = 0; // found but skipped, each reported
	std::vector<std::string> errors; // "FILE:LINE: what" or "FILE: entry I: what", at most max_errors kept
	std::vector<std::string> notes;  // per file: the format read, rescaling, absent features
};

// The paper's raw kernel log: "l4s_ecn_marking-start," 24 integers ",end",
// maybe behind a syslog prefix. Lines without the marker are not log records
// and are passed over; records that are malformed are reported by line
// number, skipped and counted; the rest become pool entries (done set on the
// last entry of each log).
void import_kernel_log(const std::string &text, const std::string &origin, const experience::RewardSpec &reward,
		       experience::Pool &pool, ImportReport &report, size_t max_errors = 100);

// A pickled ExperiencePool (or a dict of states, actions, rewards, dones):
// states a list of arrays (or lists) of 7 or 8 numbers or one 2-D array;
// the rest lists or 1-D arrays of numbers. Rewards are kept as recorded
// unless reward is given. Error text (the file and the byte) or empty.
[[nodiscard]]
std::string import_pickle(std::string_view bytes, const std::string &origin, const experience::RewardSpec *reward, experience::Pool &pool,
			  ImportReport &report, size_t max_errors = 100);

// JSON: the pool format itself (with its schema), or the paper's arrays
// without a schema, 7 or 8 features.
[[nodiscard]]
std::string import_json(std::string_view text, const std::string &origin, const experience::RewardSpec *reward, experience::Pool &pool,
			ImportReport &report, size_t max_errors = 100);

// Any of the above, by content (a ".pkl" or ".pickle" name also selects the
// pickle reader, for protocols 0 and 1). A file in which no decision is
// found is an error naming the formats looked for. recompute_reward: the
// reward from each state with `reward` instead of the recorded one (logs
// always compute it).
[[nodiscard]]
std::string import_file(const std::string &path, const experience::RewardSpec &reward, bool recompute_reward, experience::Pool &pool,
			ImportReport &report, size_t max_errors = 100);

} // namespace dualpilot::sim
