// CoDel (RFC 8289): drops (or ECN-marks) at dequeue once the sojourn time has
// stayed above target for a whole interval, then at intervals shrinking as
// interval / sqrt(count).
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "aqm/packet.hpp"
#include "aqm/packet_fifo.hpp"

namespace dualpilot::aqm {

struct CodelParams {
	uint32_t limit_pkts = 1000;
	uint64_t target_ns = 5000000;     // TARGET
	uint64_t interval_ns = 100000000; // INTERVAL
	bool ecn = false;                 // mark ECT packets instead of dropping them
	uint32_t mtu_bytes = 1514;        // MAXPACKET: never drop with one packet left
};

[[nodiscard]] std::string codel_apply(CodelParams &params, std::string_view key, std::string_view value);
bool codel_is_flag(std::string_view key);
[[nodiscard]] std::string codel_finalize(CodelParams &params);

// What QueueCounters do not already say (tc's drops by the control law are
// its aqm_drops, ecn_mark its ce_marks, overflows its overflow_drops).
struct CodelStats {
	uint64_t maxq = 0;
};

class Codel {
public:
	explicit Codel(const CodelParams &params) : params_(params), queue_(params.limit_pkts) {}

	QueueId classify(Ecn) const { return QueueId::classic; }
	EnqueueResult enqueue(Packet pkt);
	bool dequeue(uint64_t now_ns, Dequeued &out);
	void tick(uint64_t) {}
	// The burst API (aqm.hpp, semantics as DualPi2's): one call per burst.
	void enqueue_burst(uint64_t now_ns, const Packet *pkts, uint32_t n, EnqueueResult *result);
	uint32_t dequeue_burst(uint64_t now_ns, int64_t byte_budget, uint32_t overhead_bytes, uint32_t max_forward,
			       Dequeued *out, uint32_t out_cap);
	uint32_t peek_handles(uint64_t *out, uint32_t max) { return queue_.peek_handles(out, max); }

	const CodelParams &params() const { return params_; }
	const CodelStats &stats() const { return stats_; }
	std::array<QueueCounters, kQueueCount> counters() const { return single_queue_counters(counters_, queue_); }
	uint64_t backlog_pkts() const { return queue_.size(); }
	uint64_t backlog_bytes() const { return queue_.bytes(); }

	bool dropping() const { return dropping_; }
	uint32_t count() const { return count_; }
	uint64_t drop_next_ns() const { return drop_next_ns_; }

	std::string describe() const;
	std::string stats_text(uint64_t now_ns) const;

	// Parameter handling, as sch_codel's codel_change: queued packets stay.
	// interval defines the dropping state (the next drop time and the count
	// were scheduled in its units), so a new interval leaves the dropping
	// state, as at start; any other change (target, ecn, limit, mtu) keeps
	// it. A limit below the backlog refuses arrivals until the queue drains;
	// one above queue_capacity_pkts() cannot be taken (the caller checks).
	// params must have passed codel_finalize().
	void change(const CodelParams &params)
	{
		if (params.interval_ns != params_.interval_ns) {
			dropping_ = pending_law_ = forward_next_ = false;
			count_ = lastcount_ = 0;
			first_above_time_ns_ = drop_next_ns_ = 0;
		}
		params_ = params;
	}
	uint32_t queue_capacity_pkts() const { return queue_.capacity(); }

private:
	EnqueueResult enqueue_one(const Packet &pkt);
	bool dequeue_one(Dequeued &out);
	bool do_dequeue(uint64_t now_ns, Packet &pkt, bool &ok_to_drop);
	uint64_t control_law(uint64_t t_ns) const;
	void emit(const Packet &pkt, uint64_t now_ns, Verdict verdict, Dequeued &out);
	// Whether a packet chosen by the control law is marked (true) or dropped.
	bool mark_instead(const Packet &pkt) const { return params_.ecn && is_ect(pkt.ecn); }

	CodelParams params_;
	PacketFifo queue_;
	uint64_t clock_ns_ = 0;
	// RFC 8289 section 5 state.
	uint64_t first_above_time_ns_ = 0;
	uint64_t drop_next_ns_ = 0;
	uint32_t count_ = 0;
	uint32_t lastcount_ = 0;
	bool dropping_ = false;
	// The RFC's dequeue loops inside one call; this one hands back one packet
	// per call, so it remembers where the loop stood.
	bool pending_law_ = false;   // a drop happened: next packet decides the next drop time
	bool forward_next_ = false;  // entered dropping: the next packet goes out unexamined
	CodelStats stats_;
	QueueCounters counters_{};
};

} // namespace dualpilot::aqm
