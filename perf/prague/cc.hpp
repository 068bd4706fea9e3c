// dualpilot-prague's congestion control, apart from the sockets so that it
// can be tested on its own: a window in packets driven by per-packet
// acknowledgements that carry the receiver's running counts (packets,
// CE-marked packets, highest sequence seen), as AccECN feeds a TCP sender
// (RFC 9331 asks a scalable sender for a per-packet congestion signal).
//
// scalable (ECT(1), L4S; DCTCP-style, in the spirit of the Prague
//           requirements of RFC 9331 section 4.3):
//   alpha   EWMA of the CE-marked fraction, updated once per round trip
//           with gain 1/16;
//   CE      at most once per round trip, cwnd *= 1 - alpha / 2;
//   growth  slow start to the first congestion signal, then (srtt /
//           rtt_target)^2 packets per round trip (at most one): the rate
//           grows as fast per second as that of a flow whose round trip
//           were rtt_target (d rate / dt = packet / rtt_target^2), so a
//           flow on a short path does not out-grow longer-RTT flows
//           (RFC 9331's "reduce RTT dependence"; TCP Prague's default
//           target is 25 ms);
//   loss    a classic response: cwnd halved, at most once per round trip.
// classic (ECT(0), Reno with RFC 3168 ECN): CE and loss both halve the
//           window, at most once per round trip.
// The sender paces at pace_gain * cwnd / srtt. A scalable window may fall
// below one packet (pacing then sets the rate, one packet in flight at a
// time), as TCP Prague's does: on a path whose bandwidth-delay product is a
// fraction of a packet a floor of two packets would hold a standing queue
// the flow could never drain, and take its share from any Classic flow.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace dualpilot::prague {

enum class Response : uint8_t { scalable, classic };

struct CcParams {
	Response response = Response::scalable;
	double initial_cwnd = 10;   // packets
	double min_cwnd = 2;        // packets, classic response
	double min_cwnd_scalable = 0.25;
	double alpha_gain = 1.0 / 16;
	double pace_gain_slow_start = 2.0;
	double pace_gain = 1.25;
	uint64_t initial_rtt_ns = 100000000; // 100 ms, until the first sample
	uint64_t min_rto_ns = 200000000;     // no ack for this long (or 4 srtt): everything in flight is lost
	uint64_t rtt_target_ns = 25000000;   // scalable: additive increase as for this round trip (0: one packet per RTT)
};

// The receiver's running counts, as the latest acknowledgement carries them.
struct AckCounts {
	uint64_t packets = 0;      // data packets received
	uint64_t ce_packets = 0;   // of which CE-marked
	uint64_t highest_seq = 0;  // the highest sequence number received
};

class Cc {
public:
	explicit Cc(const CcParams &p = {}) : p_(p), cwnd_(p.initial_cwnd) {}

	// A packet goes out now with this sequence number (0, 1, 2, ...).
	void on_send(uint64_t seq, uint64_t now_ns)
	{
		sent_ = std::max(sent_, seq + 1);
		if (!last_ack_ns_)
			last_ack_ns_ = now_ns; // the retransmission timer starts with the first packet
	}

	// An acknowledgement: the counts it carries and the round trip of the
	// packet that caused it.
	void on_ack(const AckCounts &a, uint64_t rtt_ns, uint64_t now_ns)
	{
		last_ack_ns_ = now_ns;
		rtt_sample(rtt_ns);
		if (a.packets <= delivered_ && a.ce_packets <= ce_)
			return; // old news: the counts only grow
		const uint64_t newly = a.packets > delivered_ ? a.packets - delivered_ : 0;
		const uint64_t new_ce = a.ce_packets > ce_ ? a.ce_packets - ce_ : 0;
		delivered_ = std::max(delivered_, a.packets);
		ce_ = std::max(ce_, a.ce_packets);
		// Losses: sequence numbers below the highest seen that never arrived
		// (the bed's paths do not reorder).
		const uint64_t missing = a.highest_seq + 1 > delivered_ ? a.highest_seq + 1 - delivered_ : 0;
		const bool new_loss = missing > lost_;
		lost_ = std::max(lost_, missing);
		highest_acked_ = std::max(highest_acked_, a.highest_seq);

		// A round trip ends when the packet sent first after its start is acknowledged.
		if (highest_acked_ >= round_end_seq_) {
			const uint64_t d = delivered_ - round_delivered_, m = ce_ - round_ce_;
			if (d > 0 && p_.response == Response::scalable)
				alpha_ += p_.alpha_gain * (static_cast<double>(m) / static_cast<double>(d) - alpha_);
			round_delivered_ = delivered_;
			round_ce_ = ce_;
			round_end_seq_ = sent_;
			reduced_this_round_ = false;
			rounds_++;
		}
		if (new_loss) {
			reduce(0.5);
			losses_++;
		} else if (new_ce > 0) {
			reduce(p_.response == Response::scalable ? 1 - alpha_ / 2 : 0.5);
		}
		// Growth for what arrived unmarked.
		const uint64_t clean = newly > new_ce ? newly - new_ce : 0;
		double per_rtt = 1.0; // packets of additive increase per round trip
		if (p_.response == Response::scalable && p_.rtt_target_ns) {
			const double r = static_cast<double>(srtt_ns()) / static_cast<double>(p_.rtt_target_ns);
			per_rtt = std::min(1.0, r * r);
		}
		for (uint64_t i = 0; i < clean; i++)
			cwnd_ += slow_start_ ? 1.0 : per_rtt / cwnd_;
	}

	// Nothing acknowledged for an RTO: everything in flight is taken as lost
	// and the window starts again from the minimum.
	bool check_timeout(uint64_t now_ns)
	{
		if (inflight() == 0 || now_ns - last_ack_ns_ < rto_ns())
			return false;
		lost_ = sent_ > delivered_ ? sent_ - delivered_ : 0;
		cwnd_ = std::max(1.0, min_cwnd()); // the loss window
		slow_start_ = false;
		last_ack_ns_ = now_ns;
		timeouts_++;
		return true;
	}

	uint64_t inflight() const
	{
		const uint64_t done = delivered_ + lost_;
		return sent_ > done ? sent_ - done : 0;
	}
	bool can_send() const { return static_cast<double>(inflight()) < cwnd_; }
	// Bytes per second to pace packets at.
	double pacing_rate(uint32_t packet_bytes) const
	{
		const double gain = slow_start_ ? p_.pace_gain_slow_start : p_.pace_gain;
		return gain * cwnd_ * packet_bytes * 1e9 / static_cast<double>(srtt_ns());
	}
	uint64_t srtt_ns() const { return srtt_ns_ ? srtt_ns_ : p_.initial_rtt_ns; }
	uint64_t rto_ns() const { return std::max(p_.min_rto_ns, 4 * srtt_ns()); }

	double cwnd() const { return cwnd_; }
	double alpha() const { return alpha_; }
	bool slow_start() const { return slow_start_; }
	uint64_t delivered() const { return delivered_; }
	uint64_t ce() const { return ce_; }
	uint64_t lost() const { return lost_; }
	uint64_t losses() const { return losses_; }
	uint64_t timeouts() const { return timeouts_; }
	uint64_t reductions() const { return reductions_; }
	uint64_t rounds() const { return rounds_; }

private:
	double min_cwnd() const { return p_.response == Response::scalable ? p_.min_cwnd_scalable : p_.min_cwnd; }
	void rtt_sample(uint64_t rtt_ns)
	{
		if (rtt_ns == 0)
			return;
		srtt_ns_ = srtt_ns_ ? (7 * srtt_ns_ + rtt_ns) / 8 : rtt_ns;
	}
	// At most once per round trip; ends slow start.
	void reduce(double factor)
	{
		slow_start_ = false;
		if (reduced_this_round_)
			return;
		cwnd_ = std::max(min_cwnd(), cwnd_ * factor);
		reduced_this_round_ = true;
		round_end_seq_ = sent_; // the reduction's effect is seen a round trip later
		reductions_++;
	}

	CcParams p_;
	double cwnd_;
	double alpha_ = 1.0; // start cautious: the first marks cut as hard as Reno's
	bool slow_start_ = true, reduced_this_round_ = false;
	uint64_t sent_ = 0, delivered_ = 0, ce_ = 0, lost_ = 0, highest_acked_ = 0;
	uint64_t round_end_seq_ = 0, round_delivered_ = 0, round_ce_ = 0;
	uint64_t srtt_ns_ = 0, last_ack_ns_ = 0;
	uint64_t losses_ = 0, timeouts_ = 0, reductions_ = 0, rounds_ = 0;
};

} // namespace dualpilot::prague
