// The held-out scenarios (configs/heldout/) at the level of scenarios: the
// name guard (experience/heldout.hpp) and their near twins. The sweeps and
// the closed-loop selection ask here before they run a scenario.
//
// A scenario may also not be a held-out one's near twin: the same mix (the
// same kinds of flows in the same numbers, joining and leaving alike, over
// a fixed or a varying rate) with a bottleneck rate and a base RTT each
// within 2x of the held-out scenario's. Such a twin would teach, or select
// on, what the held-out one then measures (issue 26: the validation set's
// 150 Mbit/s, 120 ms mix was the held-out 300 Mbit/s, 150 ms one).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "experience/heldout.hpp"
#include "sim/scenario.hpp"

namespace dualpilot::sim {

inline constexpr double kNearTwinFactor = 2;


// What kinds of flows a scenario runs, rate and RTT aside: each flow group
// as cc[+ecn] (udp-CODEPOINT, web-CC for short flows), +join when it starts
// late, +leave when it stops early, +rtt4x when its RTT is 4x the shortest
// TCP flow's (1.5x or more counts), times its count; sorted; "varying-rate"
// when the bottleneck's rate changes. "cubic x2, scalable x2".
std::string mix_signature(const Scenario &s);
// The scenario's base RTT: the geometric mean of its TCP flows' RTTs, by
// count (of every flow's when none is TCP).
double base_rtt_ns(const Scenario &s);
// Same mix, rate and base RTT each within kNearTwinFactor.
bool near_twins(const Scenario &a, const Scenario &b);

// Empty when `s` may be trained on or selected on; otherwise why not, naming
// the held-out scenario it is or is a near twin of.
[[nodiscard]] std::string heldout_refusal(const Scenario &s, const std::vector<Scenario> &heldout);
// The same for every scenario of a set, against the directory's family.
[[nodiscard]] std::string check_against_heldout(const std::vector<Scenario> &set, const std::string &heldout_dir);

} // namespace dualpilot::sim
