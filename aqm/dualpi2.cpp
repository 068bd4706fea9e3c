#include "aqm/dualpi2.hpp"

#include <algorithm>
#include <cstdio>

#include "aqm/burst.hpp"
#include "aqm/units.hpp"

namespace dualpilot::aqm {

namespace {

// Kernel scaling of alpha/beta (sch_dualpi2.c): tc hands them over in 1/256 Hz;
// internally they are probability units per ns of delay error, times 64, so
// that the per-update increment is delay_error_ns * gain / 64.
constexpr uint32_t kAlphaBetaShift = 8;       // tc's unit: 1/256
constexpr uint32_t kAlphaBetaGranularity = 6; // internal: x64
constexpr uint32_t kAlphaBetaScaling = kAlphaBetaShift - kAlphaBetaGranularity;
constexpr uint64_t kNsPerSec = 1000000000ull;
constexpr uint32_t kAlphaBetaMax = (1u << 31) - 1;
constexpr uint64_t kMaxCatchUp = 1024; // PI updates replayed after a clock jump, at most

uint32_t scale_alpha_beta(uint32_t param_256)
{
	return static_cast<uint32_t>(((uint64_t)param_256 * kMaxProb >> kAlphaBetaScaling) / kNsPerSec);
}

uint32_t unscale_alpha_beta(uint32_t internal)
{
	return static_cast<uint32_t>(((uint64_t)internal * kNsPerSec << kAlphaBetaScaling) / kMaxProb);
}

int index_of(QueueId q) { return static_cast<int>(q); }

// 128 bits: delay differences of seconds times 32-bit gains overflow 64.
__extension__ typedef __int128 int128_t;

} // namespace

double dualpi2_effective_hz(uint32_t param_256)
{
	return unscale_alpha_beta(scale_alpha_beta(param_256)) / 256.0;
}

bool dualpi2_is_flag(std::string_view key)
{
	return key == "drop_on_overload" || key == "overflow" || key == "drop_enqueue" ||
	       key == "drop_dequeue" || key == "l4s_ect" || key == "any_ect";
}

std::string dualpi2_apply(DualPi2Params &p, std::string_view key, std::string_view value)
{
	std::string err;
	bool flag = false;
	double hz = 0;
	if (key == "limit") {
		// "auto": the router sizes the limit for the port's rate (docs/router.md,
		// "Queue sizing"); elsewhere the default stays.
		if (value != "auto")
			err = parse_packets(value, p.limit_pkts);
	} else if (key == "memlimit") {
		err = parse_size_bytes(value, p.memlimit_bytes);
		if (err.empty() && p.memlimit_bytes == 0)
			err = "must be at least 1 byte";
	} else if (key == "target") {
		err = parse_time_ns(value, p.target_ns);
		p.pi_gains_given = true;
	} else if (key == "tupdate") {
		err = parse_time_ns(value, p.tupdate_ns);
		p.pi_gains_given = true;
	} else if (key == "alpha" || key == "beta") {
		err = parse_double(value, hz);
		// tc truncates to its 1/256 Hz unit; a gain below one unit would be 0.
		if (err.empty() && (hz * 256 < 1 || hz * 256 > kAlphaBetaMax))
			err = "must be between 1/256 (0.0039) and 8388607 Hz, got '" + std::string(value) + "'";
		(key == "alpha" ? p.alpha_256 : p.beta_256) = static_cast<uint32_t>(hz * 256);
		p.pi_gains_given = true;
	} else if (key == "step_thresh") {
		const bool in_packets = value.ends_with("p") || value.ends_with("pkt") ||
					value.ends_with("pkts") || value.ends_with("packets");
		p.step_in_packets = in_packets;
		err = in_packets ? parse_packets(value, p.step_thresh_pkts)
				 : parse_time_ns(value, p.step_thresh_ns);
	} else if (key == "min_qlen_step") {
		err = parse_packets(value, p.min_qlen_step);
	} else if (key == "coupling_factor") {
		err = parse_u32(value, p.coupling_factor);
	} else if (key == "classic_protection") {
		err = parse_percent(value, p.classic_protection_pct);
	} else if (key == "max_rtt") {
		err = parse_time_ns(value, p.max_rtt_ns);
	} else if (key == "typical_rtt") {
		err = parse_time_ns(value, p.typical_rtt_ns);
	} else if (key == "mtu") {
		uint64_t mtu = 0;
		err = parse_size_bytes(value, mtu);
		if (err.empty() && (mtu < 68 || mtu > 65535))
			err = "must be between 68 and 65535 bytes";
		p.mtu_bytes = static_cast<uint32_t>(mtu);
	} else if (key == "seed") {
		err = parse_u64(value, p.seed);
	} else if (dualpi2_is_flag(key)) {
		// A bare flag sets itself; "overflow = false" reads as its opposite.
		err = parse_bool(value, flag);
		if (key == "drop_on_overload" || key == "overflow")
			p.drop_on_overload = (key == "drop_on_overload") == flag;
		else if (key == "drop_enqueue" || key == "drop_dequeue")
			p.drop_enqueue = (key == "drop_enqueue") == flag;
		else
			p.any_ect = (key == "any_ect") == flag;
	} else {
		return "dualpi2: unknown parameter '" + std::string(key) +
		       "' (known: limit memlimit target tupdate alpha beta step_thresh min_qlen_step "
		       "coupling_factor classic_protection max_rtt typical_rtt mtu seed "
		       "drop_on_overload overflow drop_enqueue drop_dequeue l4s_ect any_ect)";
	}
	if (!err.empty())
		return "dualpi2: " + std::string(key) + ": " + err;
	return {};
}

std::string dualpi2_finalize(DualPi2Params &p)
{
	if (p.max_rtt_ns != 0 || p.typical_rtt_ns != 0) {
		if (p.pi_gains_given)
			return "dualpi2: max_rtt/typical_rtt derive target, tupdate, alpha and beta; "
			       "give one or the other, not both";
		// tc-dualpi2 works in microseconds; doing the same keeps its rounding.
		uint64_t max_us = p.max_rtt_ns / 1000;
		uint64_t typ_us = p.typical_rtt_ns / 1000;
		if (typ_us == 0)
			typ_us = std::max<uint64_t>(max_us / 6, 1);
		else if (max_us == 0)
			max_us = typ_us * 6;
		else if (typ_us > max_us)
			return "dualpi2: typical_rtt must not exceed max_rtt";
		const uint64_t tupdate_us = std::max<uint64_t>(std::min(typ_us, max_us / 3), 1);
		// tc computes the gains in single precision; doing the same keeps its
		// truncation to 1/256 (0.3 / 0.2 is 1.4999... in double, 1.5 in float).
		const float alpha_hz = static_cast<float>(static_cast<double>(tupdate_us) /
							  (static_cast<double>(max_us) * static_cast<double>(max_us)) *
							  1e6 * static_cast<double>(0.1f));
		const float beta_hz = 0.3f / static_cast<float>(max_us) * 1e6f;
		if (alpha_hz * 256 < 1 || beta_hz * 256 < 1)
			return "dualpi2: max_rtt " + format_time(max_us * 1000) +
			       " is too large: alpha or beta would round down to 0";
		if (beta_hz * 256 > kAlphaBetaMax)
			return "dualpi2: max_rtt " + format_time(max_us * 1000) + " is too small: beta overflows";
		p.target_ns = typ_us * 1000;
		p.tupdate_ns = tupdate_us * 1000;
		p.alpha_256 = static_cast<uint32_t>(alpha_hz * 256);
		p.beta_256 = static_cast<uint32_t>(beta_hz * 256);
	}
	if (std::string err = limit_error("dualpi2", p.limit_pkts); !err.empty())
		return err;
	if (p.tupdate_ns == 0)
		return "dualpi2: tupdate must be greater than 0";
	if (p.tupdate_ns > 10 * kNsPerSec || p.target_ns > 10 * kNsPerSec)
		return "dualpi2: target and tupdate must be at most 10s";
	if (p.target_ns == 0)
		return "dualpi2: target must be greater than 0";
	if (p.alpha_256 == 0 || p.beta_256 == 0 || p.alpha_256 > kAlphaBetaMax || p.beta_256 > kAlphaBetaMax)
		return "dualpi2: alpha and beta must be between 1/256 and 8388607 Hz";
	if (p.coupling_factor < 1 || p.coupling_factor > 255)
		return "dualpi2: coupling_factor must be between 1 and 255";
	if (p.classic_protection_pct > 100)
		return "dualpi2: classic_protection must be a percentage 0..100";
	if (std::string err = mtu_error("dualpi2", p.mtu_bytes); !err.empty())
		return err;
	if (p.memlimit_bytes == 0)
		p.memlimit_bytes = (uint64_t)p.limit_pkts * 2 * p.mtu_bytes;
	return {};
}

DualPi2::DualPi2(const DualPi2Params &params)
	: params_(params), queue_{PacketFifo(params.limit_pkts), PacketFifo(params.limit_pkts)}, rng_(params.seed)
{
	derive_constants(params);
	credit_ = credit_init_;
}

// What the parameters fix for the queue's life, or until change().
void DualPi2::derive_constants(const DualPi2Params &p)
{
	alpha_int_ = scale_alpha_beta(p.alpha_256);
	beta_int_ = scale_alpha_beta(p.beta_256);
	memlimit_bytes_ = p.memlimit_bytes ? p.memlimit_bytes : (uint64_t)p.limit_pkts * 2 * p.mtu_bytes;
	// Negative initial credit: after a reset the L queue goes first.
	credit_init_ = (int64_t)p.mtu_bytes * ((int64_t)p.classic_protection_pct - (100 - (int64_t)p.classic_protection_pct));
	weight_c_ = p.classic_protection_pct;
	weight_l_ = 100 - p.classic_protection_pct;
}

// The slow half of tick(): an update is due (or the clock has not started).
void DualPi2::tick_due()
{
	if (next_update_ns_ == 0) {
		// The PI timer starts with the first event, as the qdisc's starts at init.
		next_update_ns_ = clock_ns_ + params_.tupdate_ns;
		return;
	}
	// A clock that jumps far ahead (a stalled core, a test at the end of
	// time) would replay millions of updates; past kMaxCatchUp the older
	// ones cannot change the outcome (p' saturates within ~100), so skip them.
	const uint64_t missed = (clock_ns_ - std::min(clock_ns_, next_update_ns_)) / params_.tupdate_ns;
	if (missed > kMaxCatchUp) {
		next_update_ns_ += (missed - kMaxCatchUp) * params_.tupdate_ns;
		stats_.pi_updates += missed - kMaxCatchUp;
	}
	// Run each update at the instant its timer would have fired; nothing
	// changed the queues in between, so this equals a real timer.
	while (clock_ns_ >= next_update_ns_) {
		if (prob_ == 0 && last_qdelay_ns_ == 0 && backlog_pkts() == 0) {
			// Idle and settled: every further update is a no-op, skip them.
			const uint64_t missed = (clock_ns_ - next_update_ns_) / params_.tupdate_ns + 1;
			next_update_ns_ += missed * params_.tupdate_ns;
			stats_.pi_updates += missed;
			break;
		}
		pi_update(next_update_ns_);
		next_update_ns_ += params_.tupdate_ns;
	}
}

uint64_t DualPi2::head_sojourn_ns(QueueId q, uint64_t now_ns) const
{
	const PacketFifo &fifo = queue_[index_of(q)];
	if (fifo.empty() || fifo.front().arrival_ns > now_ns)
		return 0;
	return now_ns - fifo.front().arrival_ns;
}

// RFC 9332 section 2.5.2 / Appendix A: every tupdate,
//   p' += alpha * (qdelay - target) + beta * (qdelay - qdelay_prev)
// with qdelay the larger head-of-line sojourn of the two queues, in the
// kernel's fixed point (gains x64, probability x(2^32 - 1)), saturating.
void DualPi2::pi_update(uint64_t at_ns)
{
	const uint64_t qdelay = std::max(head_sojourn_ns(QueueId::classic, at_ns),
					 head_sojourn_ns(QueueId::l4s, at_ns));
	int128_t delta = (int128_t)((int64_t)qdelay - (int64_t)params_.target_ns) * alpha_int_;
	delta += (int128_t)((int64_t)qdelay - (int64_t)last_qdelay_ns_) * beta_int_;
	last_qdelay_ns_ = qdelay;

	int64_t new_prob = prob_;
	if (delta > 0)
		new_prob += (int64_t)std::min<int128_t>(delta >> kAlphaBetaGranularity, kMaxProb);
	else
		new_prob -= (int64_t)std::min<int128_t>((-delta) >> kAlphaBetaGranularity, kMaxProb);
	new_prob = std::clamp<int64_t>(new_prob, 0, kMaxProb);
	// overflow mode: cap p' at 1/k so L marking never exceeds 100% and the
	// queue overflows at limit instead of dropping L4S traffic.
	if (!params_.drop_on_overload)
		new_prob = std::min<int64_t>(new_prob, kMaxProb / params_.coupling_factor);
	prob_ = static_cast<uint32_t>(new_prob);
	stats_.pi_updates++;
}

// The coupled AQM of RFC 9332 section 2.4 and Linux must_drop():
//   Classic: p_C = p'^2 as two independent rolls of p'; drop Not-ECT or
//            under overload, CE-mark otherwise.
//   L4S:     p_CL = k * p'; when that passes 1 (overload) drop with p'^2 if
//            drop_on_overload, and CE-mark the rest.
// No action while the backlog (this packet excluded) is under 2 MTU.
// The per-packet work below is inlined into the per-packet and the burst
// entry points alike: the burst API's gain is one call and one tick per
// burst instead of three calls per packet.
#define DUALPI2_INLINE [[gnu::always_inline]] inline

DUALPI2_INLINE DualPi2::Decision DualPi2::decide(QueueId q, Ecn ecn, uint64_t backlog_bytes)
{
	if (backlog_bytes < 2ull * params_.mtu_bytes || prob_ == 0)
		return Decision::pass;
	const uint64_t prob_cl = (uint64_t)prob_ * params_.coupling_factor;
	const bool overload = prob_cl > kMaxProb;
	if (q == QueueId::classic) {
		if (!(roll(prob_) && roll(prob_)))
			return Decision::pass;
		return (overload || ecn == Ecn::not_ect) ? Decision::drop : Decision::mark;
	}
	if (overload) {
		if (params_.drop_on_overload && roll(prob_) && roll(prob_))
			return Decision::drop_overload;
		return Decision::mark;
	}
	if (!roll(prob_cl))
		return Decision::pass;
	return ecn == Ecn::not_ect ? Decision::drop : Decision::mark;
}

DUALPI2_INLINE EnqueueResult DualPi2::enqueue_one(const Packet &pkt)
{
	const uint64_t arrival_ns = clock_ns_; // a clock that ran back must not make sojourns negative
	const QueueId q = classify(pkt.ecn);
	const int qi = index_of(q);
	QueueCounters &qc = counters_[qi];
	qc.arrived_bytes += pkt.len_bytes; // arrived_pkts is the sum of the fates: counters()

	const uint64_t memory_used = backlog_bytes();
	if (backlog_pkts() >= params_.limit_pkts || memory_used + pkt.len_bytes > memlimit_bytes_) {
		qc.overflow_drops++;
		return EnqueueResult::dropped_overflow;
	}
	uint8_t flags = 0;
	if (q == QueueId::l4s && queue_[qi].size() >= params_.min_qlen_step)
		flags |= kFlagStepEligible;
	if (params_.drop_enqueue) {
		const Decision d = decide(q, pkt.ecn, memory_used);
		if (d == Decision::drop || d == Decision::drop_overload) {
			qc.aqm_drops++;
			stats_.overload_drops += d == Decision::drop_overload;
			return EnqueueResult::dropped_aqm;
		}
		if (d == Decision::mark)
			flags |= kFlagCeAtEnqueue;
	}
	queue_[qi].push(arrival_ns, pkt.handle, pkt.len_bytes, pkt.ecn, flags, pkt.tag);
	qc.enqueued_pkts++;
	return EnqueueResult::accepted;
}

// Byte-credit WRR (Linux's C-protection): serve L while the credit is <= 0;
// an L dequeue while C waits adds wc * len, a C dequeue while L waits takes
// wl * len, so with both queues busy C gets wc percent of the bytes.
DUALPI2_INLINE QueueId DualPi2::pick_queue() const
{
	if (queue_[index_of(QueueId::l4s)].empty())
		return QueueId::classic;
	if (queue_[index_of(QueueId::classic)].empty() || credit_ <= 0)
		return QueueId::l4s;
	return QueueId::classic;
}

DUALPI2_INLINE bool DualPi2::dequeue_one(Dequeued &out)
{
	const uint64_t now_ns = clock_ns_;
	if (backlog_pkts() == 0) {
		credit_ = credit_init_;
		return false;
	}
	const QueueId q = pick_queue();
	const int qi = index_of(q);
	queue_[qi].pop_into(out.pkt);
	const Packet &pkt = out.pkt;
	if (!queue_[1 - qi].empty())
		credit_ += q == QueueId::l4s ? (int64_t)weight_c_ * pkt.len_bytes
					     : -(int64_t)weight_l_ * pkt.len_bytes;

	QueueCounters &qc = counters_[qi];
	out.queue = q;
	out.sojourn_ns = now_ns - pkt.arrival_ns;

	bool ce = (pkt.aqm_flags & kFlagCeAtEnqueue) != 0;
	if (!params_.drop_enqueue) {
		const Decision d = decide(q, pkt.ecn, backlog_bytes());
		if (d == Decision::drop || d == Decision::drop_overload) {
			qc.aqm_drops++;
			stats_.overload_drops += d == Decision::drop_overload;
			out.verdict = Verdict::drop;
			return true;
		}
		ce = d == Decision::mark;
	}
	// Native L4S step marking (RFC 9332 section 2.5.1.2), on the packet's own
	// sojourn or on the L queue length it leaves behind plus itself.
	if ((pkt.aqm_flags & kFlagStepEligible) != 0) {
		const bool over = params_.step_in_packets
					  ? queue_[qi].size() + 1 > params_.step_thresh_pkts
					  : out.sojourn_ns > params_.step_thresh_ns;
		if (over) {
			stats_.step_marks++;
			ce = true;
		}
	}
	qc.forwarded_pkts++;
	qc.forwarded_bytes += pkt.len_bytes;
	qc.ce_marks += ce;
	out.verdict = ce ? Verdict::forward_ce : Verdict::forward;
	return true;
}

EnqueueResult DualPi2::enqueue(Packet pkt)
{
	tick(pkt.arrival_ns);
	const EnqueueResult r = enqueue_one(pkt);
	note_peaks();
	return r;
}

bool DualPi2::dequeue(uint64_t now_ns, Dequeued &out)
{
	tick(now_ns);
	return dequeue_one(out);
}

void DualPi2::enqueue_burst(uint64_t now_ns, const Packet *pkts, uint32_t n, EnqueueResult *result)
{
	tick(now_ns);
	for (uint32_t i = 0; i < n; i++)
		result[i] = enqueue_one(pkts[i]);
	note_peaks();
}

uint32_t DualPi2::dequeue_burst(uint64_t now_ns, int64_t byte_budget, uint32_t overhead_bytes, uint32_t max_forward,
				Dequeued *out, uint32_t out_cap)
{
	tick(now_ns);
	// dequeue_one on an empty queue resets the WRR credit, as a per-packet
	// caller's last dequeue would.
	return dequeue_within_budget([this](Dequeued &d) { return dequeue_one(d); }, byte_budget, overhead_bytes,
				     max_forward, out, out_cap);
}

bool DualPi2::pass_through(uint64_t now_ns, const Packet *pkts, uint32_t n, int64_t byte_budget,
			   uint32_t overhead_bytes, uint32_t max_forward, Dequeued *out)
{
	tick(now_ns);
	if (n == 0 || backlog_pkts() != 0 || prob_ != 0 || params_.step_in_packets || n > params_.limit_pkts ||
	    n > max_forward || n > kMaxBurst)
		return false;
	// The order the WRR would dequeue the burst in (each class in arrival
	// order), with the credit it would leave: L while the credit is <= 0 or
	// no C is left, as pick_queue().
	uint16_t of_class[kQueueCount][kMaxBurst];
	uint32_t in_class[kQueueCount] = {0, 0};
	uint64_t class_bytes[kQueueCount] = {0, 0};
	for (uint32_t i = 0; i < n; i++) {
		const int qi = index_of(classify(pkts[i].ecn));
		of_class[qi][in_class[qi]++] = static_cast<uint16_t>(i);
		class_bytes[qi] += pkts[i].len_bytes;
	}
	const uint64_t bytes = class_bytes[0] + class_bytes[1];
	if (bytes > memlimit_bytes_)
		return false;
	const int l = index_of(QueueId::l4s), c = index_of(QueueId::classic);
	uint32_t taken[kQueueCount] = {0, 0};
	int64_t credit = credit_, budget = byte_budget;
	for (uint32_t k = 0; k < n; k++) {
		// A packet starts while budget is left: the last may overrun it.
		if (budget <= 0)
			return false;
		const bool l_left = taken[l] < in_class[l], c_left = taken[c] < in_class[c];
		const int qi = !l_left ? c : (!c_left || credit <= 0) ? l : c;
		const Packet &p = pkts[of_class[qi][taken[qi]++]];
		if (l_left && c_left)
			credit += qi == l ? (int64_t)weight_c_ * p.len_bytes : -(int64_t)weight_l_ * p.len_bytes;
		budget -= static_cast<int64_t>(p.len_bytes + overhead_bytes);
		forward_unqueued(out[k], p, clock_ns_, static_cast<QueueId>(qi));
	}
	// What enqueue_one and dequeue_one would have counted, per class.
	for (int qi = 0; qi < kQueueCount; qi++) {
		QueueCounters &qc = counters_[qi];
		qc.arrived_bytes += class_bytes[qi];
		qc.enqueued_pkts += in_class[qi];
		qc.forwarded_pkts += in_class[qi];
		qc.forwarded_bytes += class_bytes[qi];
	}
	stats_.maxq = std::max<uint64_t>(stats_.maxq, n);
	stats_.max_memory_used = std::max(stats_.max_memory_used, bytes);
	// dequeue_burst goes on to an empty queue, and resets the credit there,
	// where neither its forward count nor its budget stopped it.
	credit_ = n < max_forward && budget > 0 ? credit_init_ : credit;
	return true;
}

uint32_t DualPi2::peek_handles(uint64_t *out, uint32_t max)
{
	// Half from each queue: which one the next burst drains is the WRR's call.
	const uint32_t n = queue_[0].peek_handles(out, max / kQueueCount);
	return n + queue_[1].peek_handles(out + n, max / kQueueCount);
}

std::array<QueueCounters, kQueueCount> DualPi2::counters() const
{
	std::array<QueueCounters, kQueueCount> out = counters_;
	for (int i = 0; i < kQueueCount; i++) {
		out[i].backlog_pkts = queue_[i].size();
		out[i].backlog_bytes = queue_[i].bytes();
		out[i].arrived_pkts = arrived_pkts(out[i]);
	}
	return out;
}

void DualPi2::change(const DualPi2Params &params)
{
	const bool reseed = params.seed != params_.seed;
	params_ = params;
	derive_constants(params);
	if (reseed)
		rng_ = Rng(params.seed);
}

std::string DualPi2::describe() const
{
	const DualPi2Params &p = params_;
	char buf[512];
	const std::string step = p.step_in_packets ? std::to_string(p.step_thresh_pkts) + "p"
						   : format_time(p.step_thresh_ns);
	std::snprintf(buf, sizeof(buf),
		      "dualpi2 limit %up memlimit %llub target %s tupdate %s alpha %f beta %f "
		      "coupling_factor %u step_thresh %s min_qlen_step %up %s %s classic_protection %u%% %s",
		      p.limit_pkts, (unsigned long long)memlimit_bytes_, format_time(p.target_ns).c_str(),
		      format_time(p.tupdate_ns).c_str(), dualpi2_effective_hz(p.alpha_256),
		      dualpi2_effective_hz(p.beta_256), p.coupling_factor, step.c_str(), p.min_qlen_step,
		      p.drop_on_overload ? "drop_on_overload" : "overflow",
		      p.drop_enqueue ? "drop_enqueue" : "drop_dequeue", p.classic_protection_pct,
		      p.any_ect ? "any_ect" : "l4s_ect");
	return buf;
}

std::string DualPi2::stats_text(uint64_t now_ns) const
{
	const auto &c = counters_[index_of(QueueId::classic)];
	const auto &l = counters_[index_of(QueueId::l4s)];
	// tc's totals, from the per-queue counters that hold them.
	const uint64_t ecn_mark = c.ce_marks + l.ce_marks, overflows = c.overflow_drops + l.overflow_drops;
	char buf[768];
	std::snprintf(buf, sizeof(buf),
		      "prob %f delay_c %lluus delay_l %lluus\n"
		      "pkts_in_c %llu pkts_in_l %llu maxq %llu\n"
		      "ecn_mark %llu step_marks %llu\n"
		      "credit %lld (%c)\n"
		      "backlog_c %up backlog_l %up memory_used %llu (max %llu) of memory_limit %llu\n"
		      "drops classic %llu l4s %llu (overload %llu) overflows %llu",
		      q32_to_prob(prob_), (unsigned long long)head_sojourn_ns(QueueId::classic, now_ns) / 1000,
		      (unsigned long long)head_sojourn_ns(QueueId::l4s, now_ns) / 1000,
		      (unsigned long long)c.enqueued_pkts, (unsigned long long)l.enqueued_pkts,
		      (unsigned long long)stats_.maxq, (unsigned long long)ecn_mark,
		      (unsigned long long)stats_.step_marks, (long long)credit_, credit_ > 0 ? 'C' : 'L',
		      queue_[0].size(), queue_[1].size(), (unsigned long long)backlog_bytes(),
		      (unsigned long long)stats_.max_memory_used, (unsigned long long)memlimit_bytes_,
		      (unsigned long long)c.aqm_drops, (unsigned long long)l.aqm_drops,
		      (unsigned long long)stats_.overload_drops, (unsigned long long)overflows);
	return buf;
}

} // namespace dualpilot::aqm

