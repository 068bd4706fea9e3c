// The egress shaper: a token bucket that makes this port the bottleneck, so
// that the queue, and therefore the AQM, lives here (the AQM only acts where
// it owns the bottleneck). Kept as a virtual finish time: a packet may leave
// once the bucket's clock has caught up to within one burst of now, and then
// moves that clock on by its serialisation time at the shaped rate.
// Times in ns; fractions of a ns carried in picoseconds so that long runs do
// not drift.
#pragma once

#include <algorithm>
#include <cstdint>

namespace dualpilot::dataplane {

struct Shaper {
	uint64_t rate_bps = 0;     // 0: unshaped (line rate)
	uint64_t burst_ns = 0;     // how far the bucket's clock may run ahead of now:
	                           // burst_bytes back to back, plus the packet at the edge
	uint64_t next_ps = 0;      // virtual finish time of the last packet, ps

	static Shaper make(uint64_t rate_bps, uint32_t burst_bytes)
	{
		Shaper s;
		s.rate_bps = rate_bps;
		s.burst_ns = rate_bps ? static_cast<uint64_t>(burst_bytes) * 8 * 1000000000ull / rate_bps : 0;
		return s;
	}

	// Whether a packet may leave at now_ns.
	bool may_send(uint64_t now_ns) const
	{
		return rate_bps == 0 || next_ps <= (now_ns + burst_ns) * 1000;
	}

	// Charges a packet of len bytes sent at now_ns.
	void charge(uint64_t now_ns, uint32_t len_bytes)
	{
		if (rate_bps == 0)
			return;
		// An idle bucket's clock restarts at now: credit does not pile up
		// beyond the burst (the theoretical arrival time of the generic cell rate
		// algorithm).
		next_ps = std::max(next_ps, now_ns * 1000) + static_cast<uint64_t>(len_bytes) * 8 * 1000000000000ull / rate_bps;
	}

	// When the next packet may leave (for a worker deciding how long to poll).
	uint64_t next_send_ns() const { return rate_bps == 0 ? 0 : next_ps / 1000 - std::min(next_ps / 1000, burst_ns); }
};

} // namespace dualpilot::dataplane
