// The guard rails of enforce mode, one definition for the router's workers
// and the simulator's closed loop, so that a policy judged in the simulator
// acts there exactly as it would in the router:
//  - the published drop and mark probabilities are each capped at max_prob
//    (the policy can never take more than that share of a queue);
//  - no drop or mark while the packet's sojourn is below min_delay_ns (a
//    near-empty queue is never punished);
//  - a mark DualPI2 gives an L4S packet stands: the policy may add L4S
//    marks, never withhold them. L4S marking is DualPI2's coupling (k p')
//    and step, which hold the L4S flows to their share beside Classic ones;
//    a model that sees one queue's state cannot reproduce them, and pilots
//    that could withhold them let one scalable flow take 85 % of the link
//    (perf/RESULTS.md, bench-pilot);
//  - an L4S packet is never dropped by the policy (it is marked instead),
//    unless the AQM itself dropped it (overload);
//  - a mark on a Not-ECT packet becomes a drop, as in the AQM.
// Probabilities travel as 1/65536ths: the override record's fixed point.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "aqm/aqm.hpp"

namespace dualpilot::policy {

struct GuardRails {
	uint64_t min_delay_ns = 500000; // no policy drop or mark below this sojourn
	double max_prob = 0.5;          // cap on the drop and on the mark probability
};

inline uint32_t prob_q16(double p) { return static_cast<uint32_t>(std::lround(std::clamp(p, 0.0, 1.0) * 65536.0)); }

struct OverrideProbs {
	uint32_t p_drop_q16 = 0, p_mark_q16 = 0;
};

// A policy's action probabilities (enqueue, drop, mark) as an override.
inline OverrideProbs capped_override(const float probs[3], const GuardRails &g)
{
	return {prob_q16(std::min<double>(probs[1], g.max_prob)), prob_q16(std::min<double>(probs[2], g.max_prob))};
}

// The verdict an override imposes on one dequeued packet; u16 is a uniform
// draw in 0..65535.
inline aqm::Verdict override_verdict(const OverrideProbs &o, uint32_t u16, const aqm::Dequeued &d, const GuardRails &g)
{
	aqm::Verdict v = u16 < o.p_drop_q16		   ? aqm::Verdict::drop
			 : u16 < o.p_drop_q16 + o.p_mark_q16 ? aqm::Verdict::forward_ce
							      : aqm::Verdict::forward;
	if (v != aqm::Verdict::forward && d.sojourn_ns < g.min_delay_ns)
		v = aqm::Verdict::forward;
	if (v == aqm::Verdict::forward && d.queue == aqm::QueueId::l4s && d.verdict == aqm::Verdict::forward_ce)
		v = aqm::Verdict::forward_ce; // DualPI2's L4S mark stands
	if (v == aqm::Verdict::drop && d.queue == aqm::QueueId::l4s && d.verdict != aqm::Verdict::drop)
		v = aqm::Verdict::forward_ce;
	if (v == aqm::Verdict::forward_ce && !aqm::is_ect(d.pkt.ecn))
		v = aqm::Verdict::drop;
	return v;
}

} // namespace dualpilot::policy
