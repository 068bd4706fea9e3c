// The tuner's setting records (issue 27; docs/pilot.md, "The tuner"): one per
// egress port, written by the policy worker alone (RouterTuneSettings,
// pilot_channels.hpp) and read by the worker that owns the port, between
// bursts, with one acquire load of the version per pass.
//
// A record is a seqlock as override.hpp's slots are: the writer makes the
// version odd, stores the fields, and makes it even again (release). The
// reader loads the version (acquire); only when it differs from the one it
// last took does it read the fields and the version again, and a record
// that was being written (odd, or changed under it) is left for the next
// pass, never waited for. Every field is an atomic, so the protocol is
// visible to ThreadSanitizer and correct on weakly ordered CPUs.
#pragma once

#include <atomic>
#include <cstdint>

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
	void publish(const TuneRecord &r)
	{
		const uint32_t v = version_.load(std::memory_order_relaxed);
		version_.store(v + 1, std::memory_order_relaxed);
		std::atomic_thread_fence(std::memory_order_release);
		action_.store(r.action, std::memory_order_relaxed);
		state_ns_.store(r.state_ns, std::memory_order_relaxed);
		expires_ns_.store(r.expires_ns, std::memory_order_relaxed);
		version_.store(v + 2, std::memory_order_release);
	}

	// The reader's one load per pass: acquire pairs with publish's final
	// release store, so the fields of an even version are visible.
	uint32_t version() const { return version_.load(std::memory_order_acquire); }

	// The fields of version v (just loaded). False, out untouched, when v
	// is odd or a write came in meanwhile: the caller tries on its next pass.
	[[nodiscard]] bool read(uint32_t v, TuneRecord &out) const
	{
		if (v & 1)
			return false;
		const uint32_t action = action_.load(std::memory_order_relaxed);
		const uint64_t state = state_ns_.load(std::memory_order_relaxed);
		const uint64_t expires = expires_ns_.load(std::memory_order_relaxed);
		std::atomic_thread_fence(std::memory_order_acquire);
		if (version_.load(std::memory_order_relaxed) != v)
			return false;
		out = {action, state, expires};
		return true;
	}

private:
	std::atomic<uint32_t> version_{0};
	std::atomic<uint32_t> action_{experience::kBaseSetting};
	std::atomic<uint64_t> state_ns_{0};
	std::atomic<uint64_t> expires_ns_{0};
};

} // namespace dualpilot::dataplane
