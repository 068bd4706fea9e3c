#include "sim/tcp.hpp"

#include <algorithm>
#include <cmath>

namespace dualpilot::sim {

namespace {

constexpr double kCubicBeta = 0.7; // RFC 9438 section 4.6
constexpr double kCubicC = 0.4;    // RFC 9438 section 5
constexpr double kCubicAlpha = 3 * (1 - kCubicBeta) / (1 + kCubicBeta); // Reno-friendly slope
constexpr double kDctcpG = 1.0 / 16;
constexpr uint64_t kMaxRtoNs = 60000000000ull;
constexpr double kAbcLimit = 2; // RFC 3465: at most 2 packets of growth per ACK in slow start

} // namespace

TcpSender::TcpSender(const TcpConfig &cfg) : cfg_(cfg), cwnd_(cfg.init_cwnd) {}

aqm::Ecn TcpSender::ecn() const
{
	if (cfg_.cc == CcKind::scalable)
		return aqm::Ecn::ect1;
	return cfg_.ecn ? aqm::Ecn::ect0 : aqm::Ecn::not_ect;
}

void TcpSender::set_mark(uint64_t seq, Mark m)
{
	uint8_t &slot = board_[seq - snd_una_];
	sacked_ -= slot == kSacked;
	lost_ -= slot == kLost;
	slot = m;
	sacked_ += m == kSacked;
	lost_ += m == kLost;
}

bool TcpSender::next_send(SendRequest &out)
{
	if (static_cast<double>(pipe()) >= std::floor(cwnd_))
		return false;
	if (lost_ > 0) {
		retransmit_scan_ = std::max(retransmit_scan_, snd_una_);
		while (mark(retransmit_scan_) != kLost)
			retransmit_scan_++;
		set_mark(retransmit_scan_, kRetransmitted);
		retransmitted_.emplace_back(retransmit_scan_, high_sent_);
		retransmits_++;
		out = {retransmit_scan_++, true};
		return true;
	}
	if (cfg_.app_limit_packets != 0 && high_sent_ >= cfg_.app_limit_packets)
		return false; // the object is all sent: only repairs from here on
	board_.push_back(kOut);
	out = {high_sent_++, false};
	return true;
}

void TcpSender::on_sent(uint64_t now_ns)
{
	if (rto_deadline_ns_ == 0)
		rto_deadline_ns_ = now_ns + rto_ns_;
}

// RFC 6298 section 2.
void TcpSender::update_rtt(uint64_t sample_ns)
{
	const double r = static_cast<double>(sample_ns);
	if (srtt_ns_ == 0) {
		srtt_ns_ = r;
		rttvar_ns_ = r / 2;
	} else {
		rttvar_ns_ = 0.75 * rttvar_ns_ + 0.25 * std::fabs(srtt_ns_ - r);
		srtt_ns_ = 0.875 * srtt_ns_ + 0.125 * r;
	}
	const auto rto = static_cast<uint64_t>(srtt_ns_ + std::max(1e6, 4 * rttvar_ns_));
	rto_ns_ = std::clamp(rto, cfg_.min_rto_ns, kMaxRtoNs);
}

// Multiplicative decrease on loss or on a classic ECN echo.
void TcpSender::reduce()
{
	if (cfg_.cc == CcKind::cubic) {
		// RFC 9438 sections 4.6 and 4.7 (fast convergence).
		epoch_start_ns_ = 0;
		w_max_ = cwnd_ < w_max_ ? cwnd_ * (1 + kCubicBeta) / 2 : cwnd_;
		ssthresh_ = std::max(cwnd_ * kCubicBeta, 2.0);
		return;
	}
	ssthresh_ = std::max(cwnd_ / 2, 2.0);
}

void TcpSender::grow(uint64_t now_ns, uint64_t acked, uint64_t ce_acked)
{
	const auto n = static_cast<double>(acked);
	if (cfg_.cc == CcKind::scalable) {
		acked_in_window_ += acked;
		marked_in_window_ += ce_acked;
		if (ce_acked > 0)
			ssthresh_ = std::min(ssthresh_, cwnd_); // the first mark ends slow start
		cwnd_ += cwnd_ < ssthresh_ ? std::min(n, kAbcLimit) : n / cwnd_;
		if (snd_una_ >= alpha_window_end_) {
			const double frac = acked_in_window_ ? static_cast<double>(marked_in_window_) / acked_in_window_ : 0;
			alpha_ += kDctcpG * (frac - alpha_);
			if (marked_in_window_ > 0) {
				cwnd_ = std::max(2.0, cwnd_ * (1 - alpha_ / 2));
				ssthresh_ = cwnd_;
			}
			alpha_window_end_ = high_sent_;
			acked_in_window_ = marked_in_window_ = 0;
		}
		return;
	}
	if (cwnd_ < ssthresh_) {
		cwnd_ += std::min(n, kAbcLimit);
		return;
	}
	if (cfg_.cc == CcKind::reno) {
		cwnd_ += n / cwnd_;
		return;
	}
	// Cubic congestion avoidance, RFC 9438 section 4.2 - 4.4.
	if (epoch_start_ns_ == 0) {
		epoch_start_ns_ = now_ns;
		if (cwnd_ < w_max_) {
			cubic_k_s_ = std::cbrt((w_max_ - cwnd_) / kCubicC);
		} else {
			cubic_k_s_ = 0;
			w_max_ = cwnd_;
		}
		w_est_ = cwnd_;
	}
	const double rtt_s = srtt_ns_ > 0 ? srtt_ns_ / 1e9 : 0.1;
	const double t = static_cast<double>(now_ns - epoch_start_ns_) / 1e9 + rtt_s;
	double target = kCubicC * std::pow(t - cubic_k_s_, 3) + w_max_;
	target = std::clamp(target, cwnd_, 1.5 * cwnd_);
	const double cubic_cwnd = cwnd_ + (target - cwnd_) / cwnd_ * n;
	w_est_ += kCubicAlpha * n / cwnd_;
	cwnd_ = std::max(cubic_cwnd, w_est_);
}

void TcpSender::on_ack(uint64_t now_ns, uint64_t ack, uint64_t sack_seq, uint64_t echo_ns, uint64_t ce_total,
		       bool ece)
{
	if (echo_ns != 0 && echo_ns <= now_ns)
		update_rtt(now_ns - echo_ns);
	const uint64_t ce_acked = ce_total > last_ce_total_ ? ce_total - last_ce_total_ : 0;
	last_ce_total_ = std::max(last_ce_total_, ce_total);

	// Cumulative ACK: slide the scoreboard. delivered counts packets that
	// reached the receiver and were not counted before (SACKed ones were).
	ack = std::min(ack, high_sent_);
	const uint64_t acked = ack > snd_una_ ? ack - snd_una_ : 0;
	uint64_t delivered = 0;
	for (uint64_t i = 0; i < acked; i++) {
		delivered += board_.front() != kSacked;
		sacked_ -= board_.front() == kSacked;
		lost_ -= board_.front() == kLost;
		board_.pop_front();
	}
	snd_una_ += acked;
	loss_scan_ = std::max(loss_scan_, snd_una_);
	// Selective ACK of the packet that triggered this ACK.
	if (sack_seq >= snd_una_ && sack_seq < high_sent_ && mark(sack_seq) != kSacked) {
		set_mark(sack_seq, kSacked);
		highest_sacked_ = std::max(highest_sacked_, sack_seq + 1);
		delivered++;
	}
	// A retransmission is lost too once three packets sent after it have
	// arrived (RACK's time order; this network never reorders).
	while (!retransmitted_.empty()) {
		const auto [seq, sent_before] = retransmitted_.front();
		if (seq >= snd_una_ && mark(seq) == kRetransmitted) {
			if (sent_before + 3 > highest_sacked_)
				break;
			set_mark(seq, kLost);
			retransmit_scan_ = std::min(retransmit_scan_, seq);
		}
		retransmitted_.pop_front();
	}
	// RFC 6675 IsLost(): three SACKed packets above a hole make it a loss
	// (the network here never reorders, so that is exact for first sends).
	bool new_loss = false;
	while (loss_scan_ + 3 < highest_sacked_) {
		if (mark(loss_scan_) == kOut) {
			set_mark(loss_scan_, kLost);
			retransmit_scan_ = std::min(retransmit_scan_, loss_scan_);
			new_loss = true;
		}
		loss_scan_++;
	}
	if (in_recovery_ && snd_una_ >= recover_)
		in_recovery_ = false;
	if (new_loss && !in_recovery_ && snd_una_ >= recover_) {
		// One reduction per episode of losses (RFC 6675 section 5).
		reduce();
		cwnd_ = ssthresh_;
		in_recovery_ = true;
		recover_ = high_sent_;
	}
	if (delivered > 0 && !in_recovery_)
		grow(now_ns, delivered, ce_acked);
	if (acked > 0)
		rto_deadline_ns_ = snd_una_ >= high_sent_ ? 0 : now_ns + rto_ns_;
	// Classic ECN (RFC 3168 section 6.1.2): react like a loss, once per window.
	if (ece && cfg_.ecn && cfg_.cc != CcKind::scalable && !in_recovery_ && snd_una_ >= ecn_recover_) {
		reduce();
		cwnd_ = ssthresh_;
		ecn_recover_ = high_sent_;
	}
}

bool TcpSender::on_rto(uint64_t now_ns)
{
	if (rto_deadline_ns_ == 0 || now_ns < rto_deadline_ns_)
		return false;
	// RFC 6298 section 5 and RFC 5681 equation (4): every packet not SACKed
	// is presumed lost; back to one packet of window, back the timer off.
	timeouts_++;
	const double flight = static_cast<double>(pipe());
	reduce();
	ssthresh_ = std::max(flight / 2, 2.0);
	cwnd_ = 1;
	for (uint64_t seq = snd_una_; seq < high_sent_; seq++)
		if (mark(seq) != kSacked)
			set_mark(seq, kLost);
	retransmitted_.clear();
	retransmit_scan_ = snd_una_;
	in_recovery_ = false;
	recover_ = high_sent_;
	rto_ns_ = std::min(2 * rto_ns_, kMaxRtoNs);
	rto_deadline_ns_ = now_ns + rto_ns_;
	alpha_window_end_ = high_sent_;
	return true;
}

bool TcpReceiver::on_packet(uint64_t seq, uint64_t sent_ns, bool ce, AckToSend &out, uint64_t &new_in_order)
{
	new_in_order = 0;
	bool immediate = false;
	if (ce) {
		ce_total_++;
		ece_pending_ = true;
	}
	last_echo_ns_ = sent_ns;
	last_seq_ = seq;
	if (seq == rcv_nxt_) {
		immediate = !out_of_order_.empty(); // a hole filled: tell the sender now
		rcv_nxt_++;
		new_in_order = 1;
		while (!out_of_order_.empty() && *out_of_order_.begin() == rcv_nxt_) {
			out_of_order_.erase(out_of_order_.begin());
			rcv_nxt_++;
			new_in_order++;
		}
	} else {
		if (seq > rcv_nxt_)
			out_of_order_.insert(seq);
		immediate = true; // out of order or duplicate: a dupack at once
	}
	if (ce != last_ce_) {
		immediate = true;
		last_ce_ = ce;
	}
	unacked_++;
	if (!delayed_ack_ || immediate || unacked_ >= 2) {
		fill(out);
		return true;
	}
	return false;
}

bool TcpReceiver::on_timer(AckToSend &out)
{
	if (unacked_ == 0)
		return false;
	fill(out);
	return true;
}

void TcpReceiver::fill(AckToSend &out)
{
	out = {rcv_nxt_, last_seq_, last_echo_ns_, ce_total_, ece_pending_};
	ece_pending_ = false;
	unacked_ = 0;
}

} // namespace dualpilot::sim
