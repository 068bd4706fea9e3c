#include "aqm/fifo.hpp"

#include <algorithm>
#include <cstdio>

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
	if (p.limit_pkts == 0)
		return "fifo: limit must be at least 1 packet";
	if (p.limit_pkts > (1u << 26))
		return "fifo: limit above 67108864 packets";
	return {};
}

EnqueueResult Fifo::enqueue(Packet pkt)
{
	clock_ns_ = std::max(clock_ns_, pkt.arrival_ns);
	pkt.arrival_ns = clock_ns_;
	pkt.aqm_flags = 0;
	counters_.arrived_bytes += pkt.len_bytes; // arrived_pkts is the sum of the fates: counters()
	if (queue_.size() >= params_.limit_pkts ||
	    (params_.memlimit_bytes != 0 && queue_.bytes() + pkt.len_bytes > params_.memlimit_bytes)) {
		counters_.overflow_drops++;
		return EnqueueResult::dropped_overflow;
	}
	queue_.push(pkt);
	counters_.enqueued_pkts++;
	maxq_ = std::max<uint64_t>(maxq_, queue_.size());
	return EnqueueResult::accepted;
}

bool Fifo::dequeue(uint64_t now_ns, Dequeued &out)
{
	clock_ns_ = std::max(clock_ns_, now_ns);
	if (queue_.empty())
		return false;
	out.pkt = queue_.pop();
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
