// The egress shaper: a token bucket that makes this port the bottleneck, so
// that the queue, and therefore the AQM, lives here (the AQM only acts where
// it owns the bottleneck). Kept as a virtual finish time (the theoretical
// arrival time of the generic cell rate algorithm): a packet may leave once
// the bucket's clock has caught up to within one bucket of now, and then
// moves that clock on by its serialisation time at the shaped rate.
//
// A packet costs its frame length plus overhead_bytes: on Ethernet the
// preamble, SFD, inter-frame gap and FCS the frame length (as DPDK sees it)
// leaves out, 8 + 12 + 4 = 24 bytes, so "10gbit" passes 14.88 Mpps of 64-byte
// frames, as the wire does.
//
// A worker that is not scheduled for a while (a core shared with other
// work, a long poll) would lose the link's time while packets wait: the
// clock may then lag now by up to catchup_ns, and the packets that waited go
// out at once, as the link would have sent them. Only while the queue stood
// (the router says so with `backlogged`): after an idle spell the credit is
// the bucket, never the idle time.
//
// Times in ns; the bucket's clock in ps, with the serialisation time of one
// byte held in ps x 2^16 and its fraction carried, so that long runs at any
// rate do not drift. The router charges once per burst: no division on the
// packet path.
//
// A port of several egress queues (egress_queues), each owned by its own
// worker, shares one bucket: its clock is a SharedClock that every queue's
// shaper reads once before a dequeue (the budget) and moves on once after it
// (one atomic add, or a compare-and-swap where the clock restarts after an
// idle spell). The queues read their budgets independently, so together
// they may send at most one budget each (a bucket plus a frame) at once; the
// clock is charged every byte, so what they sent past it is repaid before
// the next budget, and over any time T the port sends at most rate x T plus
// N buckets and N frames: the aggregate rate holds.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace dualpilot::dataplane {

// 128 bits: bytes times ps per byte (x 2^16) overflow 64 at low rates.
__extension__ typedef unsigned __int128 ShaperU128;

// Ethernet's per-frame bytes on the wire beyond the frame DPDK counts.
inline constexpr uint32_t kEthernetOverheadBytes = 24;

// The virtual finish time of a port's shared bucket, ps, on a line of its
// own. Relaxed order throughout: it is a number the queues add to, and
// publishes no other data.
struct alignas(64) SharedClock {
	std::atomic<uint64_t> next_ps{0};
};

struct Shaper {
	uint64_t rate_bps = 0;       // 0: unshaped (line rate)
	uint64_t burst_ns = 0;       // how far the bucket's clock may run ahead of now: the bucket
	                             // back to back, plus the packet at the edge
	uint32_t overhead_bytes = 0; // per frame, beyond the frame's length
	uint64_t ps_per_byte_q16 = 0;// serialisation time of a byte, ps x 2^16
	double bytes_per_ps = 0;     // its inverse, for the budget (once per burst)
	uint64_t next_ps = 0;        // virtual finish time of the last packet, ps
	uint64_t frac_q16 = 0;       // the fraction of a ps next_ps has not taken yet
	uint64_t catchup_ns = 0;     // how far the clock may lag now while the queue stands
	bool backlogged = false;     // the queue still held packets after the last dequeue
	SharedClock *shared = nullptr; // a port of several egress queues: the clock they share (else next_ps)

	static Shaper make(uint64_t rate_bps, uint64_t bucket_bytes, uint32_t overhead_bytes = 0)
	{
		Shaper s;
		s.rate_bps = rate_bps;
		s.overhead_bytes = overhead_bytes;
		if (rate_bps == 0)
			return s;
		s.burst_ns = static_cast<uint64_t>(static_cast<ShaperU128>(bucket_bytes) * 8 * 1000000000ull / rate_bps);
		s.ps_per_byte_q16 = static_cast<uint64_t>((static_cast<ShaperU128>(8000000000000ull) << 16) / rate_bps);
		s.bytes_per_ps = static_cast<double>(rate_bps) / 8e12;
		return s;
	}

	// The bucket a port gets: at least the configured burst, the bytes the
	// rate sends in one poll period (so a poll that comes late loses no
	// credit) and 32 full frames (one tx burst at the edge of the bucket).
	// The 32 frames are capped at max_frames_ns of the rate: at 1 Mbit/s 32
	// MTUs would be 390 ms of line-rate burst and hide the queue from the AQM;
	// from rate x max_frames_ns >= 32 frames (390 Mbit/s at 1 ms) it holds fully.
	static uint64_t bucket_bytes(uint64_t rate_bps, uint32_t burst_bytes, uint64_t poll_period_ns,
				     uint32_t frame_bytes, uint64_t max_frames_ns)
	{
		auto bytes_in = [rate_bps](uint64_t ns) {
			return static_cast<uint64_t>(static_cast<ShaperU128>(rate_bps) * ns / 8000000000ull);
		};
		const uint64_t frames = std::min<uint64_t>(32ull * frame_bytes, bytes_in(max_frames_ns));
		return std::max({static_cast<uint64_t>(burst_bytes), bytes_in(poll_period_ns), frames});
	}

	// The bucket's clock: this shaper's own, or the one the port's queues share.
	uint64_t clock_ps() const { return shared ? shared->next_ps.load(std::memory_order_relaxed) : next_ps; }

	// Whether a packet may leave at now_ns.
	bool may_send(uint64_t now_ns) const { return rate_bps == 0 || clock_ps() <= (now_ns + burst_ns) * 1000; }

	// Bytes (frame plus overhead) that may start leaving at now_ns: a packet
	// may go while the budget is above 0, so the last one may overrun it.
	int64_t byte_budget(uint64_t now_ns) const
	{
		if (rate_bps == 0)
			return INT64_MAX;
		const uint64_t edge_ps = (now_ns + burst_ns) * 1000;
		const uint64_t clock = clock_ps();
		if (clock > edge_ps)
			return 0;
		// An idle bucket's clock restarts at now (as charge_wire does): its
		// credit is the bucket, never the idle time since.
		const uint64_t from_ps = std::max(clock, floor_ps(now_ns));
		return static_cast<int64_t>(static_cast<double>(edge_ps - from_ps) * bytes_per_ps) + 1;
	}

	// Charges wire_bytes (frames plus their overhead) sent at now_ns. An idle
	// bucket's clock restarts at now: credit does not pile up beyond the bucket.
	void charge_wire(uint64_t now_ns, uint64_t wire_bytes)
	{
		if (rate_bps == 0)
			return;
		const ShaperU128 cost = static_cast<ShaperU128>(wire_bytes) * ps_per_byte_q16 + frac_q16;
		const auto cost_ps = static_cast<uint64_t>(cost >> 16);
		frac_q16 = static_cast<uint64_t>(cost & 0xffff); // each queue carries its own fraction
		if (shared)
			charge_shared(floor_ps(now_ns), cost_ps);
		else
			next_ps = std::max(next_ps, floor_ps(now_ns)) + cost_ps;
	}

	// The shared clock moved on by cost_ps: one atomic add while it stands at
	// or past floor (another queue can only move it further on meanwhile);
	// else restarted at floor by a compare-and-swap, retried only where
	// another queue moved it in between.
	void charge_shared(uint64_t floor, uint64_t cost_ps)
	{
		uint64_t cur = shared->next_ps.load(std::memory_order_relaxed);
		if (cur >= floor) {
			shared->next_ps.fetch_add(cost_ps, std::memory_order_relaxed);
			return;
		}
		while (!shared->next_ps.compare_exchange_weak(cur, std::max(cur, floor) + cost_ps, std::memory_order_relaxed)) {
		}
	}

	// The earliest the clock may stand at now_ns: now, or up to catchup_ns
	// behind it while the queue stands.
	uint64_t floor_ps(uint64_t now_ns) const
	{
		const uint64_t lag_ns = backlogged ? std::min(catchup_ns, now_ns) : 0;
		return (now_ns - lag_ns) * 1000;
	}

	// Charges one frame of len bytes sent at now_ns.
	void charge(uint64_t now_ns, uint32_t len_bytes) { charge_wire(now_ns, uint64_t{len_bytes} + overhead_bytes); }

	// When the next packet may leave (for a worker deciding how long to poll).
	uint64_t next_send_ns() const
	{
		const uint64_t next_ns = (clock_ps() + 999) / 1000; // rounded up: may_send holds there
		return rate_bps == 0 ? 0 : next_ns - std::min(next_ns, burst_ns);
	}
};

} // namespace dualpilot::dataplane
