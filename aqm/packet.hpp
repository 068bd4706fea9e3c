// The packet as every AQM sees it: a plain descriptor, no DPDK or CUDA types.
#pragma once

#include <cstdint>

namespace dualpilot::aqm {

// ECN codepoints as they sit in the two low bits of the IPv4 TOS byte or the
// IPv6 traffic class (RFC 3168 section 5). ECT(1) marks L4S traffic (RFC 9331).
enum class Ecn : uint8_t { not_ect = 0b00, ect1 = 0b01, ect0 = 0b10, ce = 0b11 };

inline constexpr bool is_ect(Ecn ecn) { return ecn != Ecn::not_ect; }

// Flags an AQM keeps on a packet while it is queued. Callers pass 0.
inline constexpr uint8_t kFlagCeAtEnqueue = 1u << 0;  // decided at enqueue, applied at dequeue
inline constexpr uint8_t kFlagStepEligible = 1u << 1; // DualPI2: L queue held >= min_qlen_step

struct Packet {
	uint64_t arrival_ns; // enqueue time on the AQM's clock: the AQM's "now" at enqueue
	uint64_t handle;     // the caller's reference (an mbuf pointer, a simulator id)
	uint32_t len_bytes;  // bytes on the wire as the AQM accounts them
	Ecn ecn;
	uint8_t aqm_flags;
	uint16_t tag;        // the caller's, carried untouched (the router: frame kind and L3 offset); no default
	                     // member initializer, so that arrays of descriptors on the fast path are not zeroed
};
static_assert(sizeof(Packet) == 24, "Packet is copied per enqueue/dequeue: keep it small");

// The two queues of a dual-queue AQM. Single-queue AQMs use only classic.
enum class QueueId : uint8_t { classic = 0, l4s = 1 };
inline constexpr int kQueueCount = 2;

inline constexpr uint32_t kMaxBurst = 512; // packets one burst call handles at most

enum class EnqueueResult : uint8_t {
	accepted,
	dropped_overflow, // limit or memlimit reached: tail drop
	dropped_aqm,      // the AQM decided to drop at enqueue (PIE, DualPI2 drop_enqueue)
};

enum class Verdict : uint8_t { forward, forward_ce, drop };

// What dequeue hands back. A drop is handed back too, so the caller can free
// the packet; it then calls dequeue again.
struct Dequeued {
	Packet pkt;
	uint64_t sojourn_ns;
	Verdict verdict;
	QueueId queue;
};

// Counters every AQM keeps per queue, in the same words for the demo, the
// simulator and the router. Conservation, per queue and at every instant:
//   arrived_pkts = forwarded_pkts + overflow_drops + aqm_drops + backlog_pkts
// which is how counters() fills arrived_pkts: every arrival ends in exactly
// one of those, so the AQMs count the fates, not the arrival as well.
struct QueueCounters {
	uint64_t arrived_pkts = 0;   // filled by counters() from the fates below
	uint64_t arrived_bytes = 0;
	uint64_t enqueued_pkts = 0;  // accepted into the queue (tc's pkts_in_c / pkts_in_l)
	uint64_t overflow_drops = 0; // tail drops at limit / memlimit
	uint64_t aqm_drops = 0;      // drops the AQM decided, at enqueue or at dequeue
	uint64_t forwarded_pkts = 0;
	uint64_t forwarded_bytes = 0;
	uint64_t ce_marks = 0;       // forwarded packets the AQM set CE on
	uint64_t backlog_pkts = 0;
	uint64_t backlog_bytes = 0;
};

inline uint64_t arrived_pkts(const QueueCounters &c)
{
	return c.forwarded_pkts + c.overflow_drops + c.aqm_drops + c.backlog_pkts;
}

} // namespace dualpilot::aqm
