// PIE (RFC 8033): a PI controller on queue delay that drops (or ECN-marks) at
// enqueue, with the burst allowance, the auto-tuned gains of section 4.2 and
// the optional de-randomisation of section 5.1 (the "accumulated probability"
// that the L4S-LLM paper's router logs).
#pragma once

#include <algorithm>
#include <array>
#include <string>
#include <string_view>

#include "aqm/packet.hpp"
#include "aqm/packet_fifo.hpp"
#include "aqm/random.hpp"

namespace dualpilot::aqm {

struct PieParams {
	uint32_t limit_pkts = 1000;
	uint64_t target_ns = 15000000;   // QDELAY_REF
	uint64_t tupdate_ns = 15000000;  // T_UPDATE
	double alpha = 0.125;            // Hz
	double beta = 1.25;              // Hz
	uint64_t max_burst_ns = 150000000;
	bool ecn = false;                // mark ECT packets instead of dropping ...
	double mark_ecn_th = 0.1;        // ... while drop_prob is at most this
	bool derandomize = true;         // RFC 8033 section 5.1
	uint32_t mtu_bytes = 1514;       // MEAN_PKTSIZE for the 2-packet safeguard
	uint64_t seed = 1;
};

[[nodiscard]] std::string pie_apply(PieParams &params, std::string_view key, std::string_view value);
bool pie_is_flag(std::string_view key);
[[nodiscard]] std::string pie_finalize(PieParams &params);

// What QueueCounters do not already say (tc's early_drops are its
// aqm_drops, ecn_mark its ce_marks, overflows its overflow_drops).
struct PieStats {
	uint64_t maxq = 0;
};

class Pie {
public:
	explicit Pie(const PieParams &params)
		: params_(params), queue_(params.limit_pkts), burst_allowance_ns_(params.max_burst_ns),
		  rng_(params.seed)
	{
	}

	QueueId classify(Ecn) const { return QueueId::classic; }
	EnqueueResult enqueue(Packet pkt);
	bool dequeue(uint64_t now_ns, Dequeued &out);
	void tick(uint64_t now_ns);
	// The burst API (aqm.hpp, semantics as DualPi2's): one call per burst.
	void enqueue_burst(uint64_t now_ns, const Packet *pkts, uint32_t n, EnqueueResult *result);
	uint32_t dequeue_burst(uint64_t now_ns, int64_t byte_budget, uint32_t overhead_bytes, uint32_t max_forward,
			       Dequeued *out, uint32_t out_cap);
	uint32_t peek_handles(uint64_t *out, uint32_t max) { return queue_.peek_handles(out, max); }

	const PieParams &params() const { return params_; }
	const PieStats &stats() const { return stats_; }
	std::array<QueueCounters, kQueueCount> counters() const { return single_queue_counters(counters_, queue_); }
	uint64_t backlog_pkts() const { return queue_.size(); }
	uint64_t backlog_bytes() const { return queue_.bytes(); }

	double drop_prob() const { return drop_prob_; }
	double accu_prob() const { return accu_prob_; }
	uint64_t burst_allowance_ns() const { return burst_allowance_ns_; }
	uint64_t qdelay_old_ns() const { return qdelay_old_ns_; }
	void set_drop_prob(double p) { drop_prob_ = p; }

	std::string describe() const;
	std::string stats_text(uint64_t now_ns) const;

	// Parameter handling, as sch_pie's pie_change: queued packets, the drop
	// probability, the old qdelay and the update timer carry on; no parameter
	// resets them (target, tupdate, alpha and beta act from the next update).
	// The burst allowance left is cut to a smaller max_burst; a new seed
	// restarts the roll generator. A limit below the backlog refuses arrivals
	// until the queue drains; one above queue_capacity_pkts() cannot be taken
	// (the caller checks). params must have passed pie_finalize().
	void change(const PieParams &params)
	{
		if (params.seed != params_.seed)
			rng_ = Rng(params.seed);
		params_ = params;
		burst_allowance_ns_ = std::min(burst_allowance_ns_, params.max_burst_ns);
	}
	uint32_t queue_capacity_pkts() const { return queue_.capacity(); }

private:
	EnqueueResult enqueue_one(const Packet &pkt);
	bool dequeue_one(Dequeued &out);
	bool drop_early();
	void calculate_drop_prob(uint64_t at_ns);

	PieParams params_;
	PacketFifo queue_;
	double drop_prob_ = 0;
	double accu_prob_ = 0;
	uint64_t qdelay_old_ns_ = 0;
	uint64_t burst_allowance_ns_;
	uint64_t next_update_ns_ = 0;
	uint64_t clock_ns_ = 0;
	Rng rng_;
	PieStats stats_;
	QueueCounters counters_{};
};

} // namespace dualpilot::aqm
