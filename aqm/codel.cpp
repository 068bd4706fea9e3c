#include "aqm/codel.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "aqm/burst.hpp"
#include "aqm/units.hpp"

namespace dualpilot::aqm {

bool codel_is_flag(std::string_view key) { return key == "ecn" || key == "noecn"; }

std::string codel_apply(CodelParams &p, std::string_view key, std::string_view value)
{
	std::string err;
	bool flag = false;
	if (key == "limit")
		err = value == "auto" ? std::string() : parse_packets(value, p.limit_pkts); // auto: the router sizes it
	else if (key == "target")
		err = parse_time_ns(value, p.target_ns);
	else if (key == "interval")
		err = parse_time_ns(value, p.interval_ns);
	else if (key == "mtu") {
		uint64_t mtu = 0;
		err = parse_size_bytes(value, mtu);
		p.mtu_bytes = static_cast<uint32_t>(std::min<uint64_t>(mtu, UINT32_MAX));
	} else if (key == "ecn" || key == "noecn") {
		err = parse_bool(value, flag);
		p.ecn = (key == "ecn") == flag;
	} else
		return "codel: unknown parameter '" + std::string(key) +
		       "' (known: limit target interval ecn noecn mtu)";
	return err.empty() ? err : "codel: " + std::string(key) + ": " + err;
}

std::string codel_finalize(CodelParams &p)
{
	if (std::string err = limit_error("codel", p.limit_pkts); !err.empty())
		return err;
	if (p.interval_ns == 0)
		return "codel: interval must be greater than 0";
	if (p.target_ns == 0)
		return "codel: target must be greater than 0";
	if (p.target_ns >= p.interval_ns)
		return "codel: target must be below interval";
	if (std::string err = mtu_error("codel", p.mtu_bytes); !err.empty())
		return err;
	return {};
}

// The one-packet work, inlined into the per-packet and the burst entry
// points alike (as DualPi2's): the burst's gain is one call per burst.
#define CODEL_INLINE [[gnu::always_inline]] inline

CODEL_INLINE EnqueueResult Codel::enqueue_one(const Packet &pkt)
{
	counters_.arrived_bytes += pkt.len_bytes; // arrived_pkts is the sum of the fates: counters()
	if (queue_.size() >= params_.limit_pkts) {
		counters_.overflow_drops++;
		return EnqueueResult::dropped_overflow;
	}
	queue_.push(clock_ns_, pkt.handle, pkt.len_bytes, pkt.ecn, 0, pkt.tag);
	counters_.enqueued_pkts++;
	return EnqueueResult::accepted;
}

EnqueueResult Codel::enqueue(Packet pkt)
{
	clock_ns_ = std::max(clock_ns_, pkt.arrival_ns);
	const EnqueueResult r = enqueue_one(pkt);
	stats_.maxq = std::max<uint64_t>(stats_.maxq, queue_.size());
	return r;
}

void Codel::enqueue_burst(uint64_t now_ns, const Packet *pkts, uint32_t n, EnqueueResult *result)
{
	clock_ns_ = std::max(clock_ns_, now_ns);
	for (uint32_t i = 0; i < n; i++)
		result[i] = enqueue_one(pkts[i]);
	stats_.maxq = std::max<uint64_t>(stats_.maxq, queue_.size()); // the peak of a burst is where it ends
}

uint64_t Codel::control_law(uint64_t t_ns) const
{
	return t_ns + static_cast<uint64_t>(static_cast<double>(params_.interval_ns) /
					    std::sqrt(static_cast<double>(std::max(count_, 1u))));
}

// RFC 8289 dodequeue(): a packet is ok to drop once the sojourn has stayed at
// or above target for a full interval, and more than one MTU is queued.
bool Codel::do_dequeue(uint64_t now_ns, Packet &pkt, bool &ok_to_drop)
{
	ok_to_drop = false;
	if (queue_.empty()) {
		first_above_time_ns_ = 0;
		return false;
	}
	pkt = queue_.pop();
	const uint64_t sojourn = now_ns - pkt.arrival_ns;
	if (sojourn < params_.target_ns || queue_.bytes() <= params_.mtu_bytes) {
		first_above_time_ns_ = 0;
	} else if (first_above_time_ns_ == 0) {
		first_above_time_ns_ = now_ns + params_.interval_ns;
	} else if (now_ns >= first_above_time_ns_) {
		ok_to_drop = true;
	}
	return true;
}

void Codel::emit(const Packet &pkt, uint64_t now_ns, Verdict verdict, Dequeued &out)
{
	out.pkt = pkt;
	out.queue = QueueId::classic;
	out.sojourn_ns = now_ns - pkt.arrival_ns;
	out.verdict = verdict;
	if (verdict == Verdict::drop) {
		counters_.aqm_drops++;
		return;
	}
	counters_.forwarded_pkts++;
	counters_.forwarded_bytes += pkt.len_bytes;
	counters_.ce_marks += verdict == Verdict::forward_ce;
}

// RFC 8289 dequeue(), one packet per call (drops included), at the clock.
CODEL_INLINE bool Codel::dequeue_one(Dequeued &out)
{
	const uint64_t now_ns = clock_ns_;
	Packet pkt;
	bool ok_to_drop = false;
	if (!do_dequeue(now_ns, pkt, ok_to_drop)) {
		dropping_ = false;
		pending_law_ = forward_next_ = false;
		return false;
	}
	if (forward_next_) {
		forward_next_ = false;
		emit(pkt, now_ns, Verdict::forward, out);
		return true;
	}
	if (dropping_) {
		if (!ok_to_drop)
			dropping_ = false;
		else if (pending_law_)
			drop_next_ns_ = control_law(drop_next_ns_);
		pending_law_ = false;
		if (dropping_ && now_ns >= drop_next_ns_) {
			count_++;
			if (mark_instead(pkt)) {
				drop_next_ns_ = control_law(drop_next_ns_);
				emit(pkt, now_ns, Verdict::forward_ce, out);
			} else {
				pending_law_ = true;
				emit(pkt, now_ns, Verdict::drop, out);
			}
			return true;
		}
		emit(pkt, now_ns, Verdict::forward, out);
		return true;
	}
	if (ok_to_drop) {
		// Enter dropping state; resume near the previous drop rate if the last
		// episode was recent (RFC 8289 section 5.6).
		dropping_ = true;
		const uint32_t delta = count_ - lastcount_;
		count_ = 1;
		if (delta > 1 && now_ns - drop_next_ns_ < 16 * params_.interval_ns)
			count_ = delta;
		drop_next_ns_ = control_law(now_ns);
		lastcount_ = count_;
		if (mark_instead(pkt)) {
			emit(pkt, now_ns, Verdict::forward_ce, out);
		} else {
			forward_next_ = true;
			emit(pkt, now_ns, Verdict::drop, out);
		}
		return true;
	}
	emit(pkt, now_ns, Verdict::forward, out);
	return true;
}

bool Codel::dequeue(uint64_t now_ns, Dequeued &out)
{
	clock_ns_ = std::max(clock_ns_, now_ns);
	return dequeue_one(out);
}

uint32_t Codel::dequeue_burst(uint64_t now_ns, int64_t byte_budget, uint32_t overhead_bytes, uint32_t max_forward,
			      Dequeued *out, uint32_t out_cap)
{
	clock_ns_ = std::max(clock_ns_, now_ns);
	return dequeue_within_budget([this](Dequeued &d) { return dequeue_one(d); }, byte_budget, overhead_bytes,
				     max_forward, out, out_cap);
}

std::string Codel::describe() const
{
	char buf[192];
	std::snprintf(buf, sizeof(buf), "codel limit %up target %s interval %s %s", params_.limit_pkts,
		      format_time(params_.target_ns).c_str(), format_time(params_.interval_ns).c_str(),
		      params_.ecn ? "ecn" : "noecn");
	return buf;
}

std::string Codel::stats_text(uint64_t) const
{
	char buf[256];
	std::snprintf(buf, sizeof(buf),
		      "count %u lastcount %u dropping %d drop_next %lluus\n"
		      "backlog %up maxq %llu drops %llu ecn_mark %llu overflows %llu",
		      count_, lastcount_, dropping_ ? 1 : 0, (unsigned long long)drop_next_ns_ / 1000,
		      queue_.size(), (unsigned long long)stats_.maxq, (unsigned long long)counters_.aqm_drops,
		      (unsigned long long)counters_.ce_marks, (unsigned long long)counters_.overflow_drops);
	return buf;
}

} // namespace dualpilot::aqm
