// The static DualPI2 settings the held-out benchmark searches (issue 26):
// the tuned default is the best of them on training cells, the static oracle
// the best per held-out scenario on selection seeds, the piecewise oracle
// the best per 2 s segment with hindsight. tc's defaults are the first.
#pragma once

#include <string>
#include <vector>

#include "aqm/aqm.hpp"

namespace dualpilot::sim {

struct Candidate {
	std::string label;
	std::vector<aqm::Setting> settings; // empty: tc's defaults
};

// "full": tc's defaults and typical_rtt (= target) {5, 15, 30 ms} x max_rtt
// {50, 200 ms} (with typical_rtt they derive tupdate, alpha and beta as
// tc-dualpi2 does) x step_thresh {0.5, 1, 2 ms} x coupling_factor {2, 3}:
// 37. "small" (CI): tc's defaults and 3 others. Empty for another name.
std::vector<Candidate> candidate_grid(const std::string &size);

// The L4S promise a searched setting must keep (docs/objective.md): the L
// queue's scored sojourn p99 at most 2 ms (twice tc's 1 ms step) or at most
// what tc's defaults give on the same run's traffic, where the link cannot
// do better.
inline constexpr double kL4sPromiseP99Ms = 2.0;
inline bool keeps_l4s_promise(double l4s_p99_ms, double tc_l4s_p99_ms)
{
	return l4s_p99_ms <= std::max(kL4sPromiseP99Ms, tc_l4s_p99_ms) + 1e-9;
}
// Of the runs a setting is chosen on, the share that must keep it.
inline constexpr double kL4sPromiseShare = 0.9;

} // namespace dualpilot::sim
