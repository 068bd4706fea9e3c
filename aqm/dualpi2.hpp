// DualPI2: the coupled dual-queue AQM of RFC 9332, with the parameter names,
// defaults and fixed-point arithmetic of Linux sch_dualpi2 / tc-dualpi2(8).
//
// Layout follows the qdisc: parameters, state, statistics, then enqueue,
// dequeue, the periodic PI update and the parameter handling.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "aqm/packet.hpp"
#include "aqm/packet_fifo.hpp"
#include "aqm/random.hpp"

namespace dualpilot::aqm {

// Probabilities are 32-bit fixed point, 1.0 = 2^32 - 1, as in Linux: a roll is
// one u32 draw and one compare on the hot path.
inline constexpr uint32_t kMaxProb = UINT32_MAX;

inline constexpr uint32_t prob_to_q32(double p)
{
	return p <= 0 ? 0 : p >= 1 ? kMaxProb : static_cast<uint32_t>(p * kMaxProb);
}
inline constexpr double q32_to_prob(uint64_t q) { return static_cast<double>(q) / kMaxProb; }

struct DualPi2Params {
	uint32_t limit_pkts = 10000;   // both queues together
	uint64_t memlimit_bytes = 0;   // 0: limit x 2 x mtu, as tc derives it
	uint64_t target_ns = 15000000; // PI2 target queue delay
	uint64_t tupdate_ns = 16000000;// PI2 update interval
	// alpha and beta in tc's unit, 1/256 Hz (tc truncates "alpha 0.16" to 40,
	// the kernel defaults are 41 and 819, i.e. ~0.16 Hz and ~3.2 Hz).
	uint32_t alpha_256 = 41;
	uint32_t beta_256 = 819;
	uint64_t step_thresh_ns = 1000000; // native L4S step, in time ...
	uint32_t step_thresh_pkts = 0;     // ... or in L-queue packets
	bool step_in_packets = false;
	uint32_t min_qlen_step = 0;        // L packets queued before step marking applies
	uint32_t coupling_factor = 2;      // k: p_CL = k * p'
	bool drop_on_overload = true;      // false: "overflow"
	bool drop_enqueue = false;         // false: "drop_dequeue"
	bool any_ect = false;              // false: "l4s_ect" (ECT(1) and CE to L)
	uint32_t classic_protection_pct = 10; // WRR weight of the C queue, percent
	uint32_t mtu_bytes = 1514;         // the device MTU the kernel reads (psched_mtu)
	uint64_t seed = 1;                 // for the probability rolls
	// Given instead of target/tupdate/alpha/beta, these derive them as tc
	// does (see apply_rtt_derivation). 0 = not given.
	uint64_t max_rtt_ns = 0;
	uint64_t typical_rtt_ns = 0;
	bool pi_gains_given = false;       // target/tupdate/alpha/beta set explicitly
};

// Applies one tc-style setting ("target" "15ms", "overflow" ""). Returns an
// error naming the key, empty on success.
[[nodiscard]] std::string dualpi2_apply(DualPi2Params &params, std::string_view key, std::string_view value);
// Whether a key is a bare tc flag that takes no value.
bool dualpi2_is_flag(std::string_view key);
// Derives target, tupdate, alpha and beta from max_rtt / typical_rtt exactly
// as tc-dualpi2 does; then checks every parameter. Empty string when valid.
[[nodiscard]] std::string dualpi2_finalize(DualPi2Params &params);

// The effective alpha/beta in Hz once the kernel's internal scaling has been
// applied (what `tc qdisc show` prints back).
double dualpi2_effective_hz(uint32_t param_256);

// What the per-queue QueueCounters do not already say (tc's ecn_mark is the
// queues' ce_marks, its drops the queues' aqm_drops, its overflows their
// overflow_drops: one counter per fact, read through counters()).
struct DualPi2Stats {
	uint64_t step_marks = 0;    // L packets over step_thresh at dequeue
	uint64_t overload_drops = 0;// L drops because k * p' > 1 (drop_on_overload)
	uint64_t maxq = 0;          // largest total queue length seen, packets
	uint64_t max_memory_used = 0;
	uint64_t pi_updates = 0;
};

class DualPi2 {
public:
	// params must have passed dualpi2_finalize().
	explicit DualPi2(const DualPi2Params &params);

	QueueId classify(Ecn ecn) const
	{
		// l4s_ect: ECT(1) = 01 and CE = 11 have the low bit set.
		// any_ect: anything but Not-ECT (RFC 9332 section 2.5.1.1).
		const auto bits = static_cast<uint8_t>(ecn);
		const bool to_l = params_.any_ect ? bits != 0 : (bits & 1) != 0;
		return to_l ? QueueId::l4s : QueueId::classic;
	}

	EnqueueResult enqueue(Packet pkt);
	bool dequeue(uint64_t now_ns, Dequeued &out);
	// Runs every PI update due by now_ns. enqueue and dequeue call it too.
	// The common case (no update due) is one compare, no division.
	void tick(uint64_t now_ns)
	{
		if (now_ns > clock_ns_)
			clock_ns_ = now_ns;
		if (clock_ns_ >= next_update_ns_)
			tick_due();
	}

	// The burst API the router uses: one call (and one tick) per burst, the
	// per-packet work inlined inside. Packets of a burst arrived together at
	// now_ns. result[i] says what became of pkts[i].
	void enqueue_burst(uint64_t now_ns, const Packet *pkts, uint32_t n, EnqueueResult *result);
	// Dequeues up to max_forward packets to forward while byte_budget lasts:
	// each costs its length plus overhead_bytes (the shaper's wire bytes); the
	// last one may overrun the budget, as a shaper lets a packet start at the
	// edge of its bucket. AQM drops are handed back too (verdict drop), cost
	// no budget and do not count against max_forward (a queue that drops half
	// its packets still forwards a full burst), but do against out_cap.
	// Returns how many out[] holds.
	uint32_t dequeue_burst(uint64_t now_ns, int64_t byte_budget, uint32_t overhead_bytes, uint32_t max_forward,
			       Dequeued *out, uint32_t out_cap);
	// Handles of the packets dequeue will look at next, for the caller to
	// prefetch what they refer to: of the first max / 2 of each queue, those
	// no earlier call handed out, so each packet is handed out once.
	uint32_t peek_handles(uint64_t *out, uint32_t max);
	// The empty-queue bypass: a burst that arrives at an empty DualPI2 whose
	// p' is 0, and that dequeue_burst(now_ns, byte_budget, overhead_bytes,
	// max_forward) would take whole in the same pass, leaves with a sojourn
	// of 0 and no mark or drop (decide() passes at p' = 0, and a time step
	// cannot fire on a sojourn of 0). So it is handed straight back in out[],
	// in the order the WRR would have dequeued it, with the credit, the
	// counters and the peaks the full path would leave, charged in bulk.
	// Taken only where that holds: both queues empty, p' 0 after the PI
	// updates due by now_ns, the burst within limit, memlimit, max_forward
	// and the budget (its last packet may start while budget is left), and
	// the step threshold in time (in packets, the burst's own L packets
	// could step-mark each other). Returns false, changing nothing but the
	// PI clock, otherwise; the caller then enqueues as usual.
	bool pass_through(uint64_t now_ns, const Packet *pkts, uint32_t n, int64_t byte_budget, uint32_t overhead_bytes,
			  uint32_t max_forward, Dequeued *out);

	const DualPi2Params &params() const { return params_; }
	const DualPi2Stats &stats() const { return stats_; }
	// Counters per queue, backlog filled in from the queues.
	std::array<QueueCounters, kQueueCount> counters() const;
	uint64_t backlog_pkts() const { return queue_[0].size() + queue_[1].size(); }
	uint64_t backlog_bytes() const { return queue_[0].bytes() + queue_[1].bytes(); }

	// The base probability p' (fixed point) and its last PI inputs.
	uint32_t prob_q32() const { return prob_; }
	uint64_t last_qdelay_ns() const { return last_qdelay_ns_; }
	// Pins p' until the next PI update: for replays, probes and tests that
	// hold p' fixed (set tupdate long to keep it there).
	void set_prob_q32(uint32_t prob) { prob_ = prob; }
	int64_t credit() const { return credit_; }
	uint64_t head_sojourn_ns(QueueId q, uint64_t now_ns) const;

	// tc-style renderings: the qdisc line and the `tc -s` statistics.
	std::string describe() const;
	std::string stats_text(uint64_t now_ns) const;

	// Parameter handling, as sch_dualpi2's dualpi2_change (`tc qdisc
	// change`): new parameters on a running queue. Queued packets stay where
	// they are; p', the last qdelay, the PI timer, the WRR credit and the
	// statistics carry on. No parameter resets the PI state: target, tupdate,
	// alpha and beta (or max_rtt/typical_rtt, which derive them) act from the
	// next update on, on the p' the old ones reached; a new seed restarts the
	// roll generator. A limit below the backlog refuses arrivals until the
	// queue drains below it (nothing queued is dropped); a limit above
	// queue_capacity_pkts() cannot be taken (the queues are allocated once),
	// the caller checks. params must have passed dualpi2_finalize().
	void change(const DualPi2Params &params);
	uint32_t queue_capacity_pkts() const { return queue_[0].capacity(); }

private:
	enum class Decision : uint8_t { pass, mark, drop, drop_overload };

	EnqueueResult enqueue_one(const Packet &pkt);
	// maxq and max_memory_used: the queues only grow during an enqueue burst,
	// so its peak is where it ends; charged once per burst, not per packet.
	void note_peaks()
	{
		stats_.maxq = std::max(stats_.maxq, backlog_pkts());
		stats_.max_memory_used = std::max(stats_.max_memory_used, backlog_bytes());
	}
	bool dequeue_one(Dequeued &out);
	void tick_due();
	void derive_constants(const DualPi2Params &p);
	Decision decide(QueueId q, Ecn ecn, uint64_t backlog_bytes);
	bool roll(uint64_t prob) { return rng_.next_u32() < prob; }
	void pi_update(uint64_t at_ns);
	QueueId pick_queue() const;

	DualPi2Params params_;
	// Internal PI gains, per the kernel: probability units per ns of delay
	// error, times 64 (ALPHA_BETA_GRANULARITY), so small gains keep precision.
	uint32_t alpha_int_;
	uint32_t beta_int_;
	uint64_t memlimit_bytes_;
	int64_t credit_init_;
	uint32_t weight_c_;
	uint32_t weight_l_;

	// State.
	std::array<PacketFifo, kQueueCount> queue_; // each counts its own bytes: backlog_bytes() adds them
	uint32_t prob_ = 0;           // p'
	uint64_t last_qdelay_ns_ = 0; // qdelay at the previous PI update
	uint64_t next_update_ns_ = 0; // 0 until the first packet starts the clock
	uint64_t clock_ns_ = 0;       // latest time seen; time never runs back
	int64_t credit_;              // WRR credit: > 0 favours C, <= 0 favours L
	Rng rng_;

	DualPi2Stats stats_;
	std::array<QueueCounters, kQueueCount> counters_{};
};

} // namespace dualpilot::aqm
