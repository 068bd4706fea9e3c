// The held-out scenarios (configs/heldout/): never trained on, never used to
// pick a model. They are known by name: every one begins with "heldout-".
// The trainer and the pool tools ask here before they read a pool; the
// simulator's scenario-level guard (sim/heldout.hpp) adds near twins.
#pragma once

#include <string>
#include <string_view>

namespace dualpilot::experience {

inline constexpr std::string_view kHeldoutPrefix = "heldout-";

inline bool is_heldout_name(std::string_view scenario_name) { return scenario_name.starts_with(kHeldoutPrefix); }

// Empty when the pool at `path` may be trained on; otherwise why not: a
// component of its path names a held-out scenario, or the summary.json the
// simulator wrote beside it does.
[[nodiscard]] std::string heldout_pool_refusal(const std::string &path);

} // namespace dualpilot::experience
