#include "perf/trafficgen/receiver.hpp"

#include <rte_ethdev.h>

#include "perf/trafficgen/frames.hpp"

namespace dualpilot::trafficgen {

void Receiver::init(uint16_t port, uint16_t queue, uint32_t burst, const Clock &clock)
{
	port_ = port;
	queue_ = queue;
	clock_ = &clock;
	burst_.assign(burst, nullptr);
}

void Receiver::account(const uint8_t *frame, uint32_t len, uint64_t now_ns, uint32_t readable)
{
	counters_.pkts++;
	// A chained mbuf's headers and stamp must lie in its first segment.
	if (readable < len && readable < 128) {
		counters_.foreign++;
		return;
	}
	const StampRead s = read_stamp(frame, len);
	if (!s.ours) {
		if (dataplane::is_malformed(s.kind))
			counters_.malformed++;
		else
			counters_.foreign++;
		return;
	}
	if (s.flow >= flows_.size())
		flows_.resize(s.flow + 1u);
	FlowRxStats &f = flows_[s.flow];
	ClassRxStats &c = classes_[s.sent_ecn];
	uint64_t latency = 0;
	if (now_ns >= s.tx_ns)
		latency = now_ns - s.tx_ns;
	else
		counters_.negative_latency++;
	c.pkts++;
	c.bytes += len;
	c.latency.add(latency);
	const auto ce = static_cast<uint8_t>(aqm::Ecn::ce), not_ect = static_cast<uint8_t>(aqm::Ecn::not_ect);
	if (s.ecn != s.sent_ecn) {
		if (s.ecn == ce)
			c.ce++, f.ce++;
		else if (s.ecn == not_ect)
			c.bleached++;
		else
			c.changed++;
	}
	f.pkts[s.sent_ecn]++;
	f.bytes += len;
	f.latency_sum_ns += latency;
	if (latency > f.latency_max_ns)
		f.latency_max_ns = latency;
	// Widen the 32-bit sequence number around the highest seen so far.
	const uint64_t expect = f.highest_seq;
	const auto delta = static_cast<int32_t>(s.seq - static_cast<uint32_t>(expect));
	const int64_t seq = static_cast<int64_t>(expect) + delta;
	if (seq < 0 || static_cast<uint64_t>(seq) < expect)
		f.late++;
	else
		f.highest_seq = static_cast<uint64_t>(seq) + 1;
}

uint16_t Receiver::poll()
{
	const uint16_t n = rte_eth_rx_burst(port_, queue_, burst_.data(), static_cast<uint16_t>(burst_.size()));
	if (n == 0)
		return 0;
	// The arrival time is read after the burst is in: a time read before it
	// could precede the send stamp of a frame that arrived during the call.
	const uint64_t now_ns = clock_->ns(rte_rdtsc());
	for (uint16_t i = 0; i < n; i++) {
		const rte_mbuf *m = burst_[i];
		account(rte_pktmbuf_mtod(m, const uint8_t *), m->pkt_len, now_ns, m->data_len);
	}
	rte_pktmbuf_free_bulk(burst_.data(), n);
	return n;
}

} // namespace dualpilot::trafficgen
