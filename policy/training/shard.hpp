// Which episodes each rank of a data-parallel run trains on, read so that a
// rank holds its own shard (plus, on rank 0, the validation episodes) and
// never the whole of the pools at once.
//
// The episodes in order: the pools as listed, each pool's episodes in order
// (a pool's last entry ends one). The last max(1, ceil(E * val_fraction))
// of the E episodes validate, as in a single-process run; the k-th training
// episode belongs to rank k mod N. Every pool is read twice: once to count
// its episodes, once to keep this rank's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "experience/pool.hpp"

namespace dualpilot::policy {

struct Shard {
	std::vector<experience::Pool> train;   // this rank's training episodes, one pool each
	std::vector<experience::Pool> val;     // the validation episodes (rank 0 only)
	uint64_t episodes = 0;          // in all the pools
	uint64_t entries = 0;           // decisions in all the pools (every rank sees the same)
	uint32_t action_count = 0;      // the pools' (a run's pools must agree: every rank then builds the same model)
	uint64_t train_episodes = 0, val_episodes = 0;
	std::vector<uint64_t> owned;    // the training episodes (their k) this rank holds
	std::vector<std::string> warnings; // corrupt entries skipped, per pool
};

// The rank that trains on the k-th training episode.
inline uint32_t shard_owner(uint64_t k, uint32_t world) { return static_cast<uint32_t>(k % world); }

// Error text or empty.
[[nodiscard]]
std::string load_shard(const std::vector<std::string> &paths, uint32_t world, uint32_t rank, double val_fraction,
		       Shard &out);

} // namespace dualpilot::policy
