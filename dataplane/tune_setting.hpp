// The tuner's setting records (issue 27; docs/pilot.md, "The tuner"): one per
// egress port, written by the policy worker alone (RouterTuneSettings,
// pilot_channels.hpp) and read by the worker that owns the port, between
// bursts, with one acquire load of the version per pass.
//
// A record is a seqlock (seqlock.hpp), as override.hpp's slots are. The
// reader loads the version (acquire); only when it differs from the one it
// last took does it read the fields and the version again, and a record
// that was being written (odd, or changed under it) is left for the next
// pass, never waited for.
#pragma once

#include <cstdint>

#include "dataplane/seqlock.hpp"
#include "experience/tune_state.hpp"

namespace dualpilot::dataplane {

struct TuneRecord {
	// An index into the tuner's table of settings, or experience::kBaseSetting:
	// withdrawn (the harm guard), the port's base settings at once.
	uint32_t action = experience::kBaseSetting;
	uint64_t state_ns = 0;   // the router's clock: when the state the setting came from closed
	uint64_t expires_ns = 0; // at or after it the setting is void (state_ns + tune_ttl)
};

class alignas(64) TuneSlot {
public:
	// Single writer.
	void publish(const TuneRecord &r) { lock_.publish({r.action, r.state_ns, r.expires_ns}); }

	// The reader's one load per pass (acquire).
	uint32_t version() const { return lock_.version(); }

	// The fields of version v (just loaded). False, out untouched, when v
	// is odd or a write came in meanwhile: the caller tries on its next pass.
	[[nodiscard]] bool read(uint32_t v, TuneRecord &out) const
	{
		Seqlock<3>::Words w;
		if (!lock_.read(v, w))
			return false;
		out = {static_cast<uint32_t>(w[0]), w[1], w[2]};
		return true;
	}

private:
	Seqlock<3> lock_{{experience::kBaseSetting, 0, 0}}; // action, state_ns, expires_ns
};

} // namespace dualpilot::dataplane
