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

// Why the entries of `in` cannot join `out`'s: another action count or
// feature table (action 1 of a tuner's pool is not a drop). Empty when they
// can, or when either holds none.
[[nodiscard]] std::string kind_mismatch(const experience::Pool &out, const experience::Pool &in);

// Appends `in` to `out` (Pool::append: an absent feature stays absent); the
// last entry of `in` ends an episode. A reward definition unlike out's
// (out already holding entries) is returned as a warning and the merged
// pool's becomes "mixed: ...". The caller has checked kind_mismatch.
[[nodiscard]] std::string append_episodes(experience::Pool &out, const experience::Pool &in);

// Deals the episodes of `pools`, counted across them in order, to n shards:
// episode i goes to shard i mod n. Every shard gets the union of the pools'
// absent features and the first pool's reward definition, so that models
// trained on any shard see the same features. Error text when there are
// fewer episodes than shards (a shard would be empty), n is 0, or the pools
// differ in kind (kind_mismatch).
[[nodiscard]] std::string shard_episodes(const std::vector<experience::Pool> &pools, size_t n, std::vector<experience::Pool> &shards);

} // namespace dualpilot::sim
