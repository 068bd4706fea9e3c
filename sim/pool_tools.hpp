// Moving pools between machines (dualpilot-pool merge and shard): pools
// concatenated, and the episodes of pools dealt out to N shards.
#pragma once

#include <string>
#include <vector>

#include "experience/pool.hpp"

namespace dualpilot::sim {

// An episode ends at an entry whose done flag is set, and at the last entry
// of each pool (a pool is never continued by the next one).
size_t count_episodes(const experience::Pool &p);

// Appends `in` to `out` (Pool::append: an absent feature stays absent); the
// last entry of `in` ends an episode. A reward definition unlike out's
// (out already holding entries) is returned as a warning and the merged
// pool's becomes "mixed: ...".
[[nodiscard]] std::string append_episodes(experience::Pool &out, const experience::Pool &in);

// Deals the episodes of `pools`, counted across them in order, to n shards:
// episode i goes to shard i mod n. Every shard gets the union of the pools'
// absent features and the first pool's reward definition, so that models
// trained on any shard see the same features. Error text when there are
// fewer episodes than shards (a shard would be empty) or n is 0.
[[nodiscard]] std::string shard_episodes(const std::vector<experience::Pool> &pools, size_t n, std::vector<experience::Pool> &shards);

} // namespace dualpilot::sim
