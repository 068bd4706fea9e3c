#include "aqm/pie.hpp"

#include <algorithm>
#include <cstdio>

#include "aqm/burst.hpp"
#include "aqm/units.hpp"

namespace dualpilot::aqm {

namespace {
constexpr uint64_t kMaxCatchUp = 1024; // updates replayed after a clock jump, at most
} // namespace

bool pie_is_flag(std::string_view key)
{
	return key == "ecn" || key == "noecn" || key == "derandomize" || key == "noderandomize";
}

std::string pie_apply(PieParams &p, std::string_view key, std::string_view value)
{
	std::string err;
	bool flag = false;
	if (key == "limit")
		err = value == "auto" ? std::string() : parse_packets(value, p.limit_pkts); // auto: the router sizes it
	else if (key == "target")
		err = parse_time_ns(value, p.target_ns);
	else if (key == "tupdate")
		err = parse_time_ns(value, p.tupdate_ns);
	else if (key == "alpha")
		err = parse_double(value, p.alpha);
	else if (key == "beta")
		err = parse_double(value, p.beta);
	else if (key == "max_burst")
		err = parse_time_ns(value, p.max_burst_ns);
	else if (key == "mark_ecn_th")
		err = parse_double(value, p.mark_ecn_th);
	else if (key == "mtu") {
		uint64_t mtu = 0;
		err = parse_size_bytes(value, mtu);
		p.mtu_bytes = static_cast<uint32_t>(std::min<uint64_t>(mtu, UINT32_MAX));
	} else if (key == "seed")
		err = parse_u64(value, p.seed);
	else if (key == "ecn" || key == "noecn") {
		err = parse_bool(value, flag);
		p.ecn = (key == "ecn") == flag;
	} else if (key == "derandomize" || key == "noderandomize") {
		err = parse_bool(value, flag);
		p.derandomize = (key == "derandomize") == flag;
	} else
		return "pie: unknown parameter '" + std::string(key) +
		       "' (known: limit target tupdate alpha beta max_burst ecn noecn mark_ecn_th "
		       "derandomize noderandomize mtu seed)";
	return err.empty() ? err : "pie: " + std::string(key) + ": " + err;
}

std::string pie_finalize(PieParams &p)
{
	if (std::string err = limit_error("pie", p.limit_pkts); !err.empty())
		return err;
	if (p.tupdate_ns == 0)
		return "pie: tupdate must be greater than 0";
	if (p.target_ns == 0)
		return "pie: target must be greater than 0";
	if (p.alpha <= 0 || p.beta <= 0)
		return "pie: alpha and beta must be greater than 0";
	if (p.mark_ecn_th < 0 || p.mark_ecn_th > 1)
		return "pie: mark_ecn_th must be between 0 and 1";
	if (std::string err = mtu_error("pie", p.mtu_bytes); !err.empty())
		return err;
	return {};
}

void Pie::tick(uint64_t now_ns)
{
	clock_ns_ = std::max(clock_ns_, now_ns);
	if (next_update_ns_ == 0) {
		next_update_ns_ = clock_ns_ + params_.tupdate_ns;
		return;
	}
	// After a far clock jump only the last kMaxCatchUp updates matter.
	const uint64_t missed = (clock_ns_ - std::min(clock_ns_, next_update_ns_)) / params_.tupdate_ns;
	if (missed > kMaxCatchUp)
		next_update_ns_ += (missed - kMaxCatchUp) * params_.tupdate_ns;
	while (clock_ns_ >= next_update_ns_) {
		if (drop_prob_ == 0 && qdelay_old_ns_ == 0 && queue_.empty() &&
		    burst_allowance_ns_ == params_.max_burst_ns) {
			const uint64_t missed = (clock_ns_ - next_update_ns_) / params_.tupdate_ns + 1;
			next_update_ns_ += missed * params_.tupdate_ns;
			break;
		}
		calculate_drop_prob(next_update_ns_);
		next_update_ns_ += params_.tupdate_ns;
	}
}

// RFC 8033 section 4.2 (with 4.3's exponential decay and 4.4's burst
// allowance). The current delay is the head packet's sojourn (timestamps, as
// section 5.3 allows), 0 when the queue is empty.
void Pie::calculate_drop_prob(uint64_t at_ns)
{
	const uint64_t qdelay_ns =
		queue_.empty() || queue_.front().arrival_ns > at_ns ? 0 : at_ns - queue_.front().arrival_ns;
	const double qdelay = static_cast<double>(qdelay_ns) * 1e-9;
	const double target = static_cast<double>(params_.target_ns) * 1e-9;
	const double qdelay_old = static_cast<double>(qdelay_old_ns_) * 1e-9;

	double p = params_.alpha * (qdelay - target) + params_.beta * (qdelay - qdelay_old);
	// Auto-tuning: small probabilities move in small steps (section 4.2).
	if (drop_prob_ < 0.000001)
		p /= 2048;
	else if (drop_prob_ < 0.00001)
		p /= 512;
	else if (drop_prob_ < 0.0001)
		p /= 128;
	else if (drop_prob_ < 0.001)
		p /= 32;
	else if (drop_prob_ < 0.01)
		p /= 8;
	else if (drop_prob_ < 0.1)
		p /= 2;
	// Cap the step once the probability is high, against overshoot.
	if (drop_prob_ >= 0.1 && p > 0.02)
		p = 0.02;
	drop_prob_ += p;
	// Decay when congestion has gone away (section 4.3).
	if (qdelay_ns == 0 && qdelay_old_ns_ == 0)
		drop_prob_ *= 0.98;
	drop_prob_ = std::clamp(drop_prob_, 0.0, 1.0);

	burst_allowance_ns_ = burst_allowance_ns_ > params_.tupdate_ns ? burst_allowance_ns_ - params_.tupdate_ns : 0;
	// Re-arm the burst allowance once the queue has settled (section 4.4).
	if (drop_prob_ == 0 && qdelay_ns < params_.target_ns / 2 && qdelay_old_ns_ < params_.target_ns / 2)
		burst_allowance_ns_ = params_.max_burst_ns;
	qdelay_old_ns_ = qdelay_ns;
}

// RFC 8033 section 4.1 plus the de-randomisation of section 5.1.
bool Pie::drop_early()
{
	if (burst_allowance_ns_ > 0)
		return false;
	if (qdelay_old_ns_ < params_.target_ns / 2 && drop_prob_ < 0.2)
		return false;
	if (queue_.bytes() <= 2ull * params_.mtu_bytes)
		return false;
	if (params_.derandomize) {
		if (drop_prob_ == 0)
			accu_prob_ = 0;
		accu_prob_ += drop_prob_;
		if (accu_prob_ < 0.85)
			return false;
		if (accu_prob_ >= 8.5) {
			accu_prob_ = 0;
			return true;
		}
	}
	if (rng_.next_double() < drop_prob_) {
		accu_prob_ = 0;
		return true;
	}
	return false;
}

// The one-packet work, inlined into the per-packet and the burst entry
// points alike (as DualPi2's): the burst's gain is one call and one tick per
// burst.
#define PIE_INLINE [[gnu::always_inline]] inline

PIE_INLINE EnqueueResult Pie::enqueue_one(const Packet &pkt)
{
	uint8_t flags = 0;
	counters_.arrived_bytes += pkt.len_bytes; // arrived_pkts is the sum of the fates: counters()
	if (queue_.size() >= params_.limit_pkts) {
		counters_.overflow_drops++;
		return EnqueueResult::dropped_overflow;
	}
	if (drop_early()) {
		// Section 5.1: mark ECN-capable packets instead while the probability
		// is low enough that marking still means something.
		if (params_.ecn && is_ect(pkt.ecn) && drop_prob_ <= params_.mark_ecn_th) {
			flags |= kFlagCeAtEnqueue;
		} else {
			counters_.aqm_drops++;
			return EnqueueResult::dropped_aqm;
		}
	}
	queue_.push(clock_ns_, pkt.handle, pkt.len_bytes, pkt.ecn, flags, pkt.tag);
	counters_.enqueued_pkts++;
	return EnqueueResult::accepted;
}

PIE_INLINE bool Pie::dequeue_one(Dequeued &out)
{
	if (queue_.empty())
		return false;
	queue_.pop_into(out.pkt);
	out.queue = QueueId::classic;
	out.sojourn_ns = clock_ns_ - out.pkt.arrival_ns;
	const bool ce = (out.pkt.aqm_flags & kFlagCeAtEnqueue) != 0;
	out.verdict = ce ? Verdict::forward_ce : Verdict::forward;
	counters_.forwarded_pkts++;
	counters_.forwarded_bytes += out.pkt.len_bytes;
	counters_.ce_marks += ce;
	return true;
}

EnqueueResult Pie::enqueue(Packet pkt)
{
	tick(pkt.arrival_ns);
	const EnqueueResult r = enqueue_one(pkt);
	stats_.maxq = std::max<uint64_t>(stats_.maxq, queue_.size());
	return r;
}

void Pie::enqueue_burst(uint64_t now_ns, const Packet *pkts, uint32_t n, EnqueueResult *result)
{
	tick(now_ns);
	for (uint32_t i = 0; i < n; i++)
		result[i] = enqueue_one(pkts[i]);
	stats_.maxq = std::max<uint64_t>(stats_.maxq, queue_.size()); // the peak of a burst is where it ends
}

bool Pie::dequeue(uint64_t now_ns, Dequeued &out)
{
	tick(now_ns);
	return dequeue_one(out);
}

uint32_t Pie::dequeue_burst(uint64_t now_ns, int64_t byte_budget, uint32_t overhead_bytes, uint32_t max_forward,
			    Dequeued *out, uint32_t out_cap)
{
	tick(now_ns);
	return dequeue_within_budget([this](Dequeued &d) { return dequeue_one(d); }, byte_budget, overhead_bytes,
				     max_forward, out, out_cap);
}

std::string Pie::describe() const
{
	char buf[256];
	std::snprintf(buf, sizeof(buf), "pie limit %up target %s tupdate %s alpha %g beta %g max_burst %s %s%s",
		      params_.limit_pkts, format_time(params_.target_ns).c_str(),
		      format_time(params_.tupdate_ns).c_str(), params_.alpha, params_.beta,
		      format_time(params_.max_burst_ns).c_str(), params_.ecn ? "ecn" : "noecn",
		      params_.derandomize ? " derandomize" : "");
	return buf;
}

std::string Pie::stats_text(uint64_t now_ns) const
{
	const uint64_t delay = queue_.empty() ? 0 : now_ns - std::min(now_ns, queue_.front().arrival_ns);
	char buf[256];
	std::snprintf(buf, sizeof(buf),
		      "prob %f delay %lluus accu_prob %f burst_allowance %lluus\n"
		      "backlog %up maxq %llu early_drops %llu ecn_mark %llu overflows %llu",
		      drop_prob_, (unsigned long long)delay / 1000, accu_prob_,
		      (unsigned long long)burst_allowance_ns_ / 1000, queue_.size(),
		      (unsigned long long)stats_.maxq, (unsigned long long)counters_.aqm_drops,
		      (unsigned long long)counters_.ce_marks, (unsigned long long)counters_.overflow_drops);
	return buf;
}

} // namespace dualpilot::aqm
