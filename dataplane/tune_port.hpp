// The tuner on a worker's side (issue 27; docs/pilot.md, "The tuner"): for
// each tuned egress port, the counter of its queue pair's steps, the table
// of DualPI2 parameters the tuner's settings give it, and what is in force.
//
// All of it belongs to the worker that owns the port and runs in tune mode
// only ([policy] action = "tune"): the verdict pilot's fast path never sees
// it. Per burst the worker counts (experience::TuneCounter: arrive once per
// rx burst into the port's queues, forward or drop per dequeued packet,
// drained when both queues are left empty); per pass, between bursts, it
// takes a new setting record (one acquire load: tune_setting.hpp), lets a
// setting lapse at its expiry, and closes a step when one is due, handing it
// to the policy worker over its tune-step ring (an rte_ring, single producer
// the worker, single consumer the policy worker; rte_ring orders the element
// stores before the tail update the consumer reads; a full ring loses the
// step, counted, and never blocks).
#pragma once

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

#include "aqm/dualpi2.hpp"
#include "dataplane/tune_setting.hpp"
#include "experience/tune_state.hpp"

namespace dualpilot::dataplane {

// A closed step on its way to the policy worker: one ring element.
struct TuneStepMsg {
	experience::TuneStep step;
	uint32_t port; // egress port index
	uint32_t reserved;
};

// Steps per worker ring: at the default 10 ms steps, 10 s of one port's.
inline constexpr uint32_t kTuneStepRing = 1024;

// What the worker did with the tuner's records, per port. Written by the
// owner worker alone (a relaxed load and store: plain moves, no locked
// read-modify-write), read by any thread.
struct TuneCounts {
	std::atomic<uint64_t> steps{0};      // handed to the policy worker
	std::atomic<uint64_t> step_drops{0}; // lost to a full ring
	std::atomic<uint64_t> applied{0};    // settings that came into force
	std::atomic<uint64_t> stale{0};      // their state already tune_ttl old at the worker: never applied
	std::atomic<uint64_t> refused{0};    // naming no setting of the table: never applied
	std::atomic<uint64_t> expired{0};    // lapsed in force: the base returned
	std::atomic<uint64_t> withdrawn{0};  // sent back to the base by the harm guard
};

inline void bump(std::atomic<uint64_t> &c) { c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }

struct alignas(64) PortTune {
	// Start-up, read-only after.
	bool tuned = false;
	uint64_t step_ns = 0; // tune_interval / steps_per_interval
	uint64_t ttl_ns = 0;  // tune_ttl
	// The DualPI2 parameters of each of the table's settings over the port's
	// base (policy::tuned_params, as TuneLoop::action_params holds them),
	// then the base itself, last: a setting change is one copy of plain data.
	std::vector<aqm::DualPi2Params> table;
	// The owner worker's.
	experience::TuneCounter counter;
	uint64_t next_step_ns = 0; // the next step's due time; 0: not started
	uint32_t seen_version = 0; // of the port's TuneSlot
	uint16_t in_force = experience::kBaseSetting;
	uint64_t expires_ns = 0;   // of the setting in force
	TuneCounts counts;

	uint32_t base_index() const { return static_cast<uint32_t>(table.size() - 1); }
};

// DualPI2 from now on with action (a setting of the table, or the base). The
// PI state and the queued packets carry on (DualPi2::change).
inline void set_in_force(PortTune &t, aqm::DualPi2 &q, uint16_t action)
{
	if (action == t.in_force)
		return;
	q.change(t.table[action < t.base_index() ? action : t.base_index()]);
	t.in_force = action;
}

// A record the worker had not seen: a withdrawal takes the base back at
// once; a setting comes into force unless it names nothing in the table or
// its state is already tune_ttl old (a slow decision, a stalled policy
// worker), which leave what is in force as it was.
inline void take_record(PortTune &t, aqm::DualPi2 &q, const TuneRecord &r, uint64_t now_ns)
{
	if (r.action == experience::kBaseSetting) {
		set_in_force(t, q, experience::kBaseSetting);
		bump(t.counts.withdrawn);
		return;
	}
	if (r.action >= t.base_index()) {
		bump(t.counts.refused);
		return;
	}
	if (now_ns >= r.expires_ns || now_ns - std::min(now_ns, r.state_ns) >= t.ttl_ns) {
		bump(t.counts.stale);
		return;
	}
	set_in_force(t, q, static_cast<uint16_t>(r.action));
	t.expires_ns = r.expires_ns;
	bump(t.counts.applied);
}

// Once per pass, between bursts: a new record (one acquire load when there
// is none), then the expiry of the setting in force.
inline void take_setting(PortTune &t, const TuneSlot &slot, aqm::DualPi2 &q, uint64_t now_ns)
{
	const uint32_t v = slot.version();
	TuneRecord r;
	if (v != t.seen_version && slot.read(v, r)) {
		t.seen_version = v;
		take_record(t, q, r, now_ns);
	}
	if (t.in_force != experience::kBaseSetting && now_ns >= t.expires_ns) {
		set_in_force(t, q, experience::kBaseSetting);
		bump(t.counts.expired);
	}
}

// Once per pass: the step closes at the first pass at or after its due
// time, stamped with now and the setting in force, and goes to the ring.
// The first pass starts the counter. A pass later than a whole step starts
// the grid again from now rather than closing empty steps to catch up.
inline void close_step_if_due(PortTune &t, const aqm::DualPi2 &q, rte_ring *ring, uint16_t port, uint64_t rate_bps,
			      uint64_t now_ns)
{
	if (now_ns < t.next_step_ns)
		return;
	if (t.next_step_ns == 0) {
		t.counter.start(now_ns);
		t.next_step_ns = now_ns + t.step_ns;
		return;
	}
	TuneStepMsg m;
	m.step = t.counter.close(now_ns, rate_bps, q.prob_q32(), t.in_force);
	m.port = port;
	m.reserved = 0;
	bump(rte_ring_sp_enqueue_elem(ring, &m, sizeof(m)) == 0 ? t.counts.steps : t.counts.step_drops);
	t.next_step_ns += t.step_ns;
	if (t.next_step_ns <= now_ns)
		t.next_step_ns = now_ns + t.step_ns;
}

} // namespace dualpilot::dataplane
