// Per-queue action overrides: what the policy worker publishes and the
// workers read on the fast path. One slot per (port, queue), each written by
// the policy worker alone and read by the worker that owns the port, once
// per tx burst.
//
// A slot is a seqlock: the writer makes the version odd, stores the record,
// and makes it even again; a reader that sees an odd version, or a version
// that changed under it, does not retry (the fast path never waits) but
// treats the slot as absent for that burst, so DualPI2 decides alone. Every
// field is an atomic, so the protocol is visible to ThreadSanitizer and
// correct on weakly ordered CPUs.
#pragma once

#include <atomic>
#include <cstdint>

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
		const uint32_t v = version_.load(std::memory_order_relaxed);
		version_.store(v + 1, std::memory_order_relaxed);
		std::atomic_thread_fence(std::memory_order_release);
		probs_.store(uint64_t{r.probs.p_drop_q16} | uint64_t{r.probs.p_mark_q16} << 32, std::memory_order_relaxed);
		seq_.store(r.seq, std::memory_order_relaxed);
		expires_ns_.store(r.expires_ns, std::memory_order_relaxed);
		version_.store(v + 2, std::memory_order_release);
	}

	// Any number of readers. False (and out untouched) when a write was in
	// progress: the caller acts as if there were no override.
	[[nodiscard]] bool read(OverrideRecord &out) const
	{
		const uint32_t v0 = version_.load(std::memory_order_acquire);
		if (v0 & 1)
			return false;
		const uint64_t probs = probs_.load(std::memory_order_relaxed);
		const uint64_t seq = seq_.load(std::memory_order_relaxed);
		const uint64_t expires = expires_ns_.load(std::memory_order_relaxed);
		std::atomic_thread_fence(std::memory_order_acquire);
		if (version_.load(std::memory_order_relaxed) != v0)
			return false;
		out.probs.p_drop_q16 = static_cast<uint32_t>(probs);
		out.probs.p_mark_q16 = static_cast<uint32_t>(probs >> 32);
		out.seq = seq;
		out.expires_ns = expires;
		return true;
	}

private:
	std::atomic<uint32_t> version_{0};
	std::atomic<uint64_t> probs_{0};
	std::atomic<uint64_t> seq_{0};
	std::atomic<uint64_t> expires_ns_{0};
};

} // namespace dualpilot::dataplane
