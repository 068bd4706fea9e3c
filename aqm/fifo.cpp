#include "aqm/fifo.hpp"

#include <algorithm>
#include <cstdio>

#include "aqm/burst.hpp"
#include "aqm/units.hpp"

namespace dualpilot::aqm {

std::string fifo_apply(FifoParams &p, std::string_view key, std::string_view value)
{
	std::string err;
	if (key == "limit")
		err = value == "auto" ? std::string() : parse_packets(value, p.limit_pkts); // auto: the router sizes it
	else if (key == "memlimit")
		err = parse_size_bytes(value, p.memlimit_bytes);
	else if (key == "ce_threshold")
		err = parse_time_ns(value, p.ce_threshold_ns);
	else
		return "fifo: unknown parameter '" + std::string(key) + "' (known: limit memlimit ce_threshold)";
	return err.empty() ? err : "fifo: " + std::string(key) + ": " + err;
}

std::string fifo_finalize(FifoParams &p)
{
	if (std::string err = limit_error("fifo", p.limit_pkts); !err.empty())
		return err;
	return {};
}

// The one-packet work, inlined into the per-packet and the burst entry
// points alike (as DualPi2's): the burst's gain is one call per burst.
#define FIFO_INLINE [[gnu::always_inline]] inline

FIFO_INLINE EnqueueResult Fifo::enqueue_one(const Packet &pkt)
{
	counters_.arrived_bytes += pkt.len_bytes; // arrived_pkts is the sum of the fates: counters()
	if (queue_.size() >= params_.limit_pkts ||
	    (params_.memlimit_bytes != 0 && queue_.bytes() + pkt.len_bytes > params_.memlimit_bytes)) {
		counters_.overflow_drops++;
		return EnqueueResult::dropped_overflow;
	}
	queue_.push(clock_ns_, pkt.handle, pkt.len_bytes, pkt.ecn, 0, pkt.tag);
	counters_.enqueued_pkts++;
	return EnqueueResult::accepted;
}

FIFO_INLINE bool Fifo::dequeue_one(Dequeued &out)
{
	if (queue_.empty())
		return false;
	queue_.pop_into(out.pkt);
	out.queue = QueueId::classic;
	out.sojourn_ns = clock_ns_ - out.pkt.arrival_ns;
	out.verdict = Verdict::forward;
	if (params_.ce_threshold_ns != 0 && out.sojourn_ns > params_.ce_threshold_ns && is_ect(out.pkt.ecn)) {
		out.verdict = Verdict::forward_ce;
		counters_.ce_marks++;
		step_marks_++;
	}
	counters_.forwarded_pkts++;
	counters_.forwarded_bytes += out.pkt.len_bytes;
	return true;
}

EnqueueResult Fifo::enqueue(Packet pkt)
{
	clock_ns_ = std::max(clock_ns_, pkt.arrival_ns);
	const EnqueueResult r = enqueue_one(pkt);
	maxq_ = std::max<uint64_t>(maxq_, queue_.size());
	return r;
}

void Fifo::enqueue_burst(uint64_t now_ns, const Packet *pkts, uint32_t n, EnqueueResult *result)
{
	clock_ns_ = std::max(clock_ns_, now_ns);
	for (uint32_t i = 0; i < n; i++)
		result[i] = enqueue_one(pkts[i]);
	maxq_ = std::max<uint64_t>(maxq_, queue_.size()); // the peak of a burst is where it ends
}

bool Fifo::dequeue(uint64_t now_ns, Dequeued &out)
{
	clock_ns_ = std::max(clock_ns_, now_ns);
	return dequeue_one(out);
}

uint32_t Fifo::dequeue_burst(uint64_t now_ns, int64_t byte_budget, uint32_t overhead_bytes, uint32_t max_forward,
			     Dequeued *out, uint32_t out_cap)
{
	clock_ns_ = std::max(clock_ns_, now_ns);
	return dequeue_within_budget([this](Dequeued &d) { return dequeue_one(d); }, byte_budget, overhead_bytes,
				     max_forward, out, out_cap);
}

bool Fifo::pass_through(uint64_t now_ns, const Packet *pkts, uint32_t n, int64_t byte_budget,
			uint32_t overhead_bytes, uint32_t max_forward, Dequeued *out)
{
	clock_ns_ = std::max(clock_ns_, now_ns);
	if (n == 0 || !queue_.empty() || n > params_.limit_pkts || n > max_forward)
		return false;
	uint64_t bytes = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (byte_budget <= 0) // a packet starts while budget is left: the last may overrun it
			return false;
		byte_budget -= static_cast<int64_t>(pkts[i].len_bytes + overhead_bytes);
		bytes += pkts[i].len_bytes;
	}
	if (params_.memlimit_bytes != 0 && bytes > params_.memlimit_bytes)
		return false;
	for (uint32_t i = 0; i < n; i++)
		forward_unqueued(out[i], pkts[i], clock_ns_, QueueId::classic);
	counters_.arrived_bytes += bytes;
	counters_.enqueued_pkts += n;
	counters_.forwarded_pkts += n;
	counters_.forwarded_bytes += bytes;
	maxq_ = std::max<uint64_t>(maxq_, n);
	return true;
}


std::string Fifo::describe() const
{
	std::string out = "fifo limit " + std::to_string(params_.limit_pkts) + "p";
	if (params_.memlimit_bytes != 0)
		out += " memlimit " + std::to_string(params_.memlimit_bytes) + "b";
	if (params_.ce_threshold_ns != 0)
		out += " ce_threshold " + format_time(params_.ce_threshold_ns);
	return out;
}

std::string Fifo::stats_text(uint64_t) const
{
	char buf[256];
	std::snprintf(buf, sizeof(buf), "backlog %up %llub maxq %llu overflows %llu",
		      queue_.size(), (unsigned long long)queue_.bytes(), (unsigned long long)maxq_,
		      (unsigned long long)counters_.overflow_drops);
	return buf;
}

} // namespace dualpilot::aqm
