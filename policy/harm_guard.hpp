// The harm guard of enforce mode: it watches, per queue, what the pilot's
// overrides do to the AQM's verdicts, and backs off to the AQM alone for
// that queue when they hurt. One definition for the router's policy worker
// and the simulator's closed loop (beside guard_rails.hpp, which bounds each
// override; this judges their effect over time).
//
// It reads the sampled decisions the pilot sees anyway: the AQM's own action,
// the action taken, the packet's sojourn and its queue's backlog. Decisions
// are grouped into intervals of at least interval_ns and min_samples. An
// interval is harmful when the pilot
//  - over-signals: it turned at least excess_floor forwards into drops or
//    marks, more than excess_ratio times the signals the AQM itself gave,
//    while the queue was drained (backlog under empty_bytes after the
//    decision) in at least empty_share of the samples: the link is being
//    starved for nothing (the guard rails allow no signal below 0.5 ms of
//    sojourn, so on a drained queue a few signals an interval are already
//    the pilot insisting); or
//  - under-signals: the sojourn was above the queue's target (DualPI2's
//    target for Classic, its step threshold for L4S) in at least
//    over_target_share of the samples, while the pilot withheld more than
//    half of the AQM's own drops and marks.
// After trip_intervals harmful intervals in a row, the queue's overrides
// are withdrawn for backoff_ns (doubled at each further back-off of the
// queue, up to max_backoff_ns; reset after a clean back-off period) and the
// back-off is counted (pilot_backoffs). A model that marks or drops
// everything it may is so backed off within trip_intervals intervals of its
// overrides taking effect (docs/pilot.md, "The harm guard").
//
// Plain data and arithmetic; no allocation, no locks: it runs on the policy
// lcore beside the contexts.
#pragma once

#include <algorithm>
#include <cstdint>

namespace dualpilot::policy {

struct HarmGuardConfig {
	bool enabled = true;
	uint64_t interval_ns = 200000000; // 200 ms
	uint32_t min_samples = 8;         // an interval is judged on at least this many decisions
	uint32_t trip_intervals = 2;
	double excess_ratio = 2;
	uint32_t excess_floor = 2;
	double empty_bytes = 3000;        // "drained": at most two full-size packets left
	double empty_share = 0.5;
	double over_target_share = 0.9;
	uint64_t classic_target_ns = 15000000; // DualPI2's target
	uint64_t l4s_target_ns = 1000000;      // DualPI2's step threshold
	uint64_t backoff_ns = 1000000000;      // 1 s, doubled per repeat
	uint64_t max_backoff_ns = 16000000000ull;
};

// One sampled decision, as the guard reads it. Actions: 0 forward, 1 drop, 2 mark.
struct GuardSample {
	uint64_t now_ns;
	uint64_t sojourn_ns;
	double backlog_bytes; // the queue's, after the decision
	uint8_t aqm_action;
	uint8_t taken_action;
	bool l4s;
};

struct HarmGuardQueue {
	uint64_t interval_start_ns = 0;
	uint32_t samples = 0, added = 0, withheld = 0, aqm_signals = 0, drained = 0, over_target = 0;
	uint32_t harmful_in_row = 0;
	uint64_t backed_off_until_ns = 0;
	uint64_t next_backoff_ns = 0; // 0: the config's backoff_ns
	uint64_t backoffs = 0;
};

// True while the queue's overrides must stay withdrawn.
inline bool harm_guard_backed_off(const HarmGuardQueue &q, uint64_t now_ns) { return now_ns < q.backed_off_until_ns; }

// Feeds one decision; returns true when this decision starts a back-off (the
// caller withdraws the queue's override and counts it).
inline bool harm_guard_observe(HarmGuardQueue &q, const HarmGuardConfig &c, const GuardSample &s)
{
	if (!c.enabled)
		return false;
	if (harm_guard_backed_off(q, s.now_ns)) {
		q.interval_start_ns = s.now_ns; // the AQM alone: nothing of the pilot's to judge
		q.samples = q.added = q.withheld = q.aqm_signals = q.drained = q.over_target = 0;
		return false;
	}
	if (q.samples == 0)
		q.interval_start_ns = s.now_ns;
	const bool aqm_signal = s.aqm_action != 0, taken_signal = s.taken_action != 0;
	q.samples++;
	q.aqm_signals += aqm_signal;
	q.added += taken_signal && !aqm_signal;
	q.withheld += aqm_signal && !taken_signal;
	q.drained += s.backlog_bytes <= c.empty_bytes;
	q.over_target += s.sojourn_ns > (s.l4s ? c.l4s_target_ns : c.classic_target_ns);
	if (q.samples < c.min_samples || s.now_ns - q.interval_start_ns < c.interval_ns)
		return false;

	const double n = q.samples;
	const bool over_signals = q.added >= c.excess_floor && q.added > c.excess_ratio * q.aqm_signals &&
				  q.drained >= c.empty_share * n;
	const bool under_signals = q.over_target >= c.over_target_share * n && q.aqm_signals > 0 &&
				   q.withheld * 2 > q.aqm_signals;
	q.harmful_in_row = over_signals || under_signals ? q.harmful_in_row + 1 : 0;
	q.samples = q.added = q.withheld = q.aqm_signals = q.drained = q.over_target = 0;
	if (q.harmful_in_row < c.trip_intervals) {
		// A clean interval well after the last back-off forgives it.
		if (q.harmful_in_row == 0 && q.next_backoff_ns > c.backoff_ns &&
		    s.now_ns > q.backed_off_until_ns + q.next_backoff_ns)
			q.next_backoff_ns = c.backoff_ns;
		return false;
	}
	q.harmful_in_row = 0;
	const uint64_t len = q.next_backoff_ns ? q.next_backoff_ns : c.backoff_ns;
	q.backed_off_until_ns = s.now_ns + len;
	q.next_backoff_ns = std::min(len * 2, c.max_backoff_ns);
	q.backoffs++;
	return true;
}

} // namespace dualpilot::policy
