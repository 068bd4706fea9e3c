// A packet-level TCP sender and receiver: ACK clocking, optional delayed ACKs,
// slow start with appropriate byte counting (RFC 3465, L = 2), SACK-based
// loss recovery (RFC 6675: a packet is lost once three packets above it are
// SACKed; one window reduction per recovery episode), lost retransmissions
// found the way RACK does (RFC 8985: three packets sent after it arrived),
// the retransmission timer of RFC 6298, and three congestion controls:
//   reno     — AIMD, halve on loss or on an ECN echo once per window (RFC 5681, 3168)
//   cubic    — RFC 9438, beta 0.7, C 0.4, fast convergence, Reno-friendly region
//   scalable — L4S: ECT(1), DCTCP-style EWMA of the marked fraction (g = 1/16)
//              from accurate ECN feedback, cwnd *= 1 - alpha/2 once per window
//              with marks, additive increase, halve on loss (RFC 9331 section 4.3)
// Sequence numbers count packets; every data packet is one MSS on the wire.
#pragma once

#include <cstdint>
#include <deque>
#include <set>

#include "aqm/packet.hpp"

namespace dualpilot::sim {

enum class CcKind : uint8_t { reno, cubic, scalable, udp };

struct TcpConfig {
	CcKind cc = CcKind::reno;
	bool ecn = false;         // reno/cubic: ECT(0) and respond to ECE; scalable: always ECT(1)
	uint32_t init_cwnd = 10;  // RFC 6928
	uint64_t min_rto_ns = 200000000; // Linux's 200 ms floor
	uint64_t app_limit_packets = 0;  // a finite object (a web transfer): no new data past it; 0: a bulk flow
};

// What the sender wants done after handling an event.
struct SendRequest {
	uint64_t seq;
	bool retransmission;
};

class TcpSender {
public:
	explicit TcpSender(const TcpConfig &cfg);

	aqm::Ecn ecn() const;
	// Next packet to put on the wire now, if the window allows one: lost
	// packets first, lowest first, then new data.
	bool next_send(SendRequest &out);
	// An ACK arrives: ack = next expected seq (cumulative), sack_seq = the
	// packet that triggered it (its selective acknowledgement), echo_ns =
	// that packet's send time, ce_total = CE packets seen by the receiver so
	// far (accurate ECN), ece = classic ECN echo.
	void on_ack(uint64_t now_ns, uint64_t ack, uint64_t sack_seq, uint64_t echo_ns, uint64_t ce_total, bool ece);
	// The retransmission timer fired at now_ns; true if it really timed out.
	bool on_rto(uint64_t now_ns);
	uint64_t rto_deadline_ns() const { return rto_deadline_ns_; }
	void on_sent(uint64_t now_ns);

	double cwnd() const { return cwnd_; }
	uint64_t snd_una() const { return snd_una_; }
	uint64_t retransmits() const { return retransmits_; }
	uint64_t timeouts() const { return timeouts_; }
	uint64_t srtt_ns() const { return static_cast<uint64_t>(srtt_ns_); }
	// A finite object all acknowledged.
	bool done() const { return cfg_.app_limit_packets != 0 && snd_una_ >= cfg_.app_limit_packets; }
	// Packets in flight by RFC 6675's reckoning: sent, not SACKed, not lost.
	uint64_t pipe() const { return high_sent_ - snd_una_ - sacked_ - lost_; }

private:
	enum Mark : uint8_t { kOut, kSacked, kLost, kRetransmitted };

	void reduce();
	void grow(uint64_t now_ns, uint64_t acked, uint64_t ce_acked);
	void update_rtt(uint64_t sample_ns);
	void set_mark(uint64_t seq, Mark m);
	Mark mark(uint64_t seq) const { return static_cast<Mark>(board_[seq - snd_una_]); }

	TcpConfig cfg_;
	double cwnd_;
	double ssthresh_ = 1e9;
	uint64_t snd_una_ = 0;
	uint64_t high_sent_ = 0;      // one past the highest seq ever sent
	// The scoreboard: one mark per packet in [snd_una_, high_sent_).
	std::deque<uint8_t> board_;
	// Retransmissions in flight, in the order sent: (seq, high_sent_ then).
	std::deque<std::pair<uint64_t, uint64_t>> retransmitted_;
	uint64_t sacked_ = 0;
	uint64_t lost_ = 0;           // marked lost, not yet retransmitted
	uint64_t highest_sacked_ = 0; // one past the highest SACKed seq
	uint64_t loss_scan_ = 0;      // below this, every packet has been judged
	uint64_t retransmit_scan_ = 0;// no lost packet below this
	uint64_t recover_ = 0;        // recovery ends when snd_una_ reaches it
	uint64_t ecn_recover_ = 0;    // ECN: one reduction per window
	bool in_recovery_ = false;
	// RFC 6298 state.
	double srtt_ns_ = 0;
	double rttvar_ns_ = 0;
	uint64_t rto_ns_ = 1000000000;
	uint64_t rto_deadline_ns_ = 0;
	// Cubic state (RFC 9438).
	double w_max_ = 0;
	double cubic_k_s_ = 0;
	double w_est_ = 0;
	uint64_t epoch_start_ns_ = 0;
	// Scalable state.
	double alpha_ = 1.0;
	uint64_t alpha_window_end_ = 0;
	uint64_t acked_in_window_ = 0;
	uint64_t marked_in_window_ = 0;
	uint64_t last_ce_total_ = 0;
	uint64_t retransmits_ = 0;
	uint64_t timeouts_ = 0;
};

// The receiver: cumulative ACKs, out-of-order packets held until the hole
// fills, delayed ACKs (every second packet or 40 ms; at once on reordering or
// a change of CE state, as DCTCP receivers do).
struct AckToSend {
	uint64_t ack;
	uint64_t sack_seq; // the packet that triggered this ACK
	uint64_t echo_ns;
	uint64_t ce_total;
	bool ece;
};

class TcpReceiver {
public:
	explicit TcpReceiver(bool delayed_ack) : delayed_ack_(delayed_ack) {}

	// A data packet arrives; true if an ACK goes out now (filled in out).
	// new_in_order counts packets newly delivered in order (goodput).
	bool on_packet(uint64_t seq, uint64_t sent_ns, bool ce, AckToSend &out, uint64_t &new_in_order);
	// The delayed-ACK timer fired; true if an ACK was pending.
	bool on_timer(AckToSend &out);
	bool ack_pending() const { return unacked_ > 0; }

private:
	void fill(AckToSend &out);

	bool delayed_ack_;
	uint64_t rcv_nxt_ = 0;
	std::set<uint64_t> out_of_order_;
	uint64_t ce_total_ = 0;
	uint64_t last_echo_ns_ = 0;
	uint64_t last_seq_ = 0;
	uint32_t unacked_ = 0;
	bool ece_pending_ = false;
	bool last_ce_ = false;
};

} // namespace dualpilot::sim
