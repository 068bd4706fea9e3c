// FIFO tail drop: the bufferbloat baseline. A packet limit (pfifo) and an
// optional byte limit (bfifo); no AQM decision at all.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "aqm/packet.hpp"
#include "aqm/packet_fifo.hpp"

namespace dualpilot::aqm {

struct FifoParams {
	uint32_t limit_pkts = 1000;
	uint64_t memlimit_bytes = 0; // 0: packet limit only
	// Step marking on one queue (the ce_threshold of Linux fq_codel): CE-mark
	// ECN-capable packets whose sojourn is above it. 0: off.
	uint64_t ce_threshold_ns = 0;
};

[[nodiscard]] std::string fifo_apply(FifoParams &params, std::string_view key, std::string_view value);
[[nodiscard]] std::string fifo_finalize(FifoParams &params);

class Fifo {
public:
	explicit Fifo(const FifoParams &params) : params_(params), queue_(params.limit_pkts) {}

	QueueId classify(Ecn) const { return QueueId::classic; }
	EnqueueResult enqueue(Packet pkt);
	bool dequeue(uint64_t now_ns, Dequeued &out);
	void tick(uint64_t) {}
	// The burst API (aqm.hpp, semantics as DualPi2's): one call per burst.
	void enqueue_burst(uint64_t now_ns, const Packet *pkts, uint32_t n, EnqueueResult *result);
	uint32_t dequeue_burst(uint64_t now_ns, int64_t byte_budget, uint32_t overhead_bytes, uint32_t max_forward,
			       Dequeued *out, uint32_t out_cap);
	uint32_t peek_handles(uint64_t *out, uint32_t max) { return queue_.peek_handles(out, max); }
	// The empty-queue bypass (as DualPi2::pass_through): a burst into an
	// empty FIFO that the dequeue would take whole leaves in the same pass,
	// in arrival order, with a sojourn of 0, which no ce_threshold marks;
	// charged in bulk. False, changing nothing, where the queue holds
	// packets or the burst exceeds a limit, max_forward or the budget.
	bool pass_through(uint64_t now_ns, const Packet *pkts, uint32_t n, int64_t byte_budget, uint32_t overhead_bytes,
			  uint32_t max_forward, Dequeued *out);

	const FifoParams &params() const { return params_; }
	uint64_t step_marks() const { return step_marks_; }
	std::array<QueueCounters, kQueueCount> counters() const { return single_queue_counters(counters_, queue_); }
	uint64_t backlog_pkts() const { return queue_.size(); }
	uint64_t backlog_bytes() const { return queue_.bytes(); }
	std::string describe() const;
	std::string stats_text(uint64_t now_ns) const;

	// Parameter handling: a FIFO has no controller state; queued packets
	// stay. A limit below the backlog refuses arrivals until the queue
	// drains; one above queue_capacity_pkts() cannot be taken (the caller
	// checks). params must have passed fifo_finalize().
	void change(const FifoParams &params) { params_ = params; }
	uint32_t queue_capacity_pkts() const { return queue_.capacity(); }

private:
	EnqueueResult enqueue_one(const Packet &pkt);
	bool dequeue_one(Dequeued &out);

	FifoParams params_;
	PacketFifo queue_;
	uint64_t clock_ns_ = 0;
	uint64_t maxq_ = 0;
	uint64_t step_marks_ = 0;
	QueueCounters counters_{};
};

} // namespace dualpilot::aqm
