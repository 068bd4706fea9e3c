// Per-queue action overrides: what the policy worker publishes and the
// workers read on the fast path. One slot per (port, queue), each written by
// the policy worker alone and read by the worker that owns the port, once
// per tx burst.
//
// A slot is a seqlock (seqlock.hpp): a reader that meets a write in
// progress does not retry (the fast path never waits) but treats the slot
// as absent for that burst, so DualPI2 decides alone.
#pragma once

#include <cstdint>

#include "dataplane/seqlock.hpp"
#include "policy/guard_rails.hpp"

namespace dualpilot::dataplane {

struct OverrideRecord {
	policy::OverrideProbs probs; // what the guard rails let the policy impose (policy/guard_rails.hpp)
	uint64_t seq = 0;         // which inference produced it (0: never published)
	uint64_t expires_ns = 0;  // the router's clock; at or after it the record is void

	bool active(uint64_t now_ns) const { return seq != 0 && now_ns < expires_ns; }
};

class alignas(64) OverrideSlot {
public:
	// Single writer.
	void publish(const OverrideRecord &r)
	{
		lock_.publish({uint64_t{r.probs.p_drop_q16} | uint64_t{r.probs.p_mark_q16} << 32, r.seq, r.expires_ns});
	}

	// Any number of readers. False (and out untouched) when a write was in
	// progress: the caller acts as if there were no override.
	[[nodiscard]] bool read(OverrideRecord &out) const
	{
		Seqlock<3>::Words w;
		if (!lock_.read(w))
			return false;
		out.probs.p_drop_q16 = static_cast<uint32_t>(w[0]);
		out.probs.p_mark_q16 = static_cast<uint32_t>(w[0] >> 32);
		out.seq = w[1];
		out.expires_ns = w[2];
		return true;
	}

private:
	Seqlock<3> lock_; // probs (drop | mark << 32), seq, expires_ns
};

} // namespace dualpilot::dataplane
