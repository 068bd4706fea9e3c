// The dequeue side of the burst API, written once for every AQM: hand back
// packets until max_forward are forwarded or the byte budget is spent
// (AQM drops are handed back too, cost no budget and do not count against
// max_forward, but do against out_cap). Each AQM passes its own one-packet
// dequeue, inlined, so a burst is one call into the AQM and no call per
// packet. Semantics: DualPi2::dequeue_burst (dualpi2.hpp).
#pragma once

#include <cstdint>

#include "aqm/packet.hpp"

namespace dualpilot::aqm {

template <typename DequeueOne>
[[gnu::always_inline]] inline uint32_t dequeue_within_budget(DequeueOne &&dequeue_one, int64_t byte_budget,
							     uint32_t overhead_bytes, uint32_t max_forward,
							     Dequeued *out, uint32_t out_cap)
{
	uint32_t n = 0, forwarded = 0;
	while (forwarded < max_forward && n < out_cap && byte_budget > 0) {
		if (!dequeue_one(out[n]))
			break;
		if (out[n].verdict != Verdict::drop) {
			byte_budget -= static_cast<int64_t>(out[n].pkt.len_bytes + overhead_bytes);
			forwarded++;
		}
		n++;
	}
	return n;
}

// A packet the empty-queue bypass (pass_through) hands straight back: as
// dequeue would have, arrived at the AQM's clock, forwarded unmarked after
// a sojourn of 0, in queue q; written field by field, as PacketFifo does.
[[gnu::always_inline]] inline void forward_unqueued(Dequeued &d, const Packet &p, uint64_t clock_ns, QueueId q)
{
	d.pkt.arrival_ns = clock_ns;
	d.pkt.handle = p.handle;
	d.pkt.len_bytes = p.len_bytes;
	d.pkt.ecn = p.ecn;
	d.pkt.aqm_flags = 0;
	d.pkt.tag = p.tag;
	d.sojourn_ns = 0;
	d.verdict = Verdict::forward;
	d.queue = q;
}

} // namespace dualpilot::aqm
