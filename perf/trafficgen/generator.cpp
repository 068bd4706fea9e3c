#include "perf/trafficgen/generator.hpp"

#include <rte_ethdev.h>

#include <fmt/core.h>

#include <algorithm>

namespace dualpilot::trafficgen {

Generator::~Generator() { stop(); }

std::string Generator::init(const TrafficSpec &spec, uint16_t port, uint16_t queue, rte_mempool *pool,
			    const Clock &clock)
{
	if (spec.flows.empty())
		return "no flows to send";
	if (spec.flows.size() > kMaxFlows)
		return fmt::format("{} flows: at most {}", spec.flows.size(), kMaxFlows);
	const uint32_t room = rte_pktmbuf_data_room_size(pool) - RTE_PKTMBUF_HEADROOM;
	clock_ = &clock;
	pool_ = pool;
	port_ = port;
	queue_ = queue;
	burst_ = spec.burst;
	duration_tsc_ = clock.tsc_of_ns(spec.duration_ns);
	flows_.clear();
	for (size_t i = 0; i < spec.flows.size(); i++) {
		const FlowSpec &s = spec.flows[i];
		for (uint16_t size : s.sizes)
			if (size > room)
				return fmt::format("flow '{}': {}-byte frames do not fit the pool's {}-byte mbufs", s.name,
						   size, room);
		FlowTx f;
		f.templates = build_templates(s, static_cast<uint16_t>(i));
		f.cycle = variant_cycle(s, spec.seed + i);
		f.rate_kind = s.rate_kind;
		if (s.rate_kind == RateKind::pps)
			f.gap_tsc_per_pkt = clock.tsc_hz / s.rate;
		else if (s.rate_kind == RateKind::bps)
			f.gap_tsc_per_byte = clock.tsc_hz * 8 / s.rate;
		f.left = s.count ? s.count : UINT64_MAX;
		// Relative to the run's start until start() anchors them.
		f.start_tsc = clock.tsc_of_ns(s.start_ns);
		f.stop_tsc = s.stop_ns ? clock.tsc_of_ns(s.stop_ns) : 0;
		if (s.off_ns) {
			f.on_tsc = clock.tsc_of_ns(s.on_ns);
			f.period_tsc = clock.tsc_of_ns(s.on_ns + s.off_ns);
		}
		flows_.push_back(std::move(f));
	}
	flow_counters_.assign(flows_.size(), {});
	counters_ = {};
	held_.assign(burst_, nullptr);
	spare_.assign(burst_, nullptr);
	held_first_ = held_count_ = spare_count_ = 0;
	return {};
}

void Generator::start(uint64_t now_tsc)
{
	start_tsc_ = now_tsc;
	for (size_t i = 0; i < flows_.size(); i++) {
		FlowTx &f = flows_[i];
		f.start_tsc = now_tsc + f.start_tsc;
		f.stop_tsc = f.stop_tsc ? now_tsc + f.stop_tsc : 0;
		f.next_tsc = static_cast<double>(f.start_tsc);
	}
}

bool Generator::due(FlowTx &f, uint64_t now_tsc) const
{
	if (f.left == 0 || now_tsc < f.start_tsc || (f.stop_tsc && now_tsc >= f.stop_tsc))
		return false;
	double on_start = 0; // on/off: when the current on-period began
	if (f.period_tsc) {
		const uint64_t phase = (now_tsc - f.start_tsc) % f.period_tsc;
		if (phase >= f.on_tsc)
			return false;
		on_start = static_cast<double>(now_tsc - phase);
	}
	if (f.rate_kind == RateKind::max)
		return true;
	// An on-period starts afresh: nothing owed from the off time before it.
	if (f.next_tsc < on_start)
		f.next_tsc = on_start;
	// A flow that fell behind (a busy core) catches up by one
	// burst at most rather than sending everything it missed at once.
	const double gap = f.rate_kind == RateKind::pps ? f.gap_tsc_per_pkt
							: f.gap_tsc_per_byte * f.templates[f.cycle[f.cycle_pos]].frame_len;
	const double now = static_cast<double>(now_tsc);
	if (f.next_tsc < now - gap * burst_)
		f.next_tsc = now - gap * burst_;
	return f.next_tsc <= now;
}

uint32_t Generator::build(uint32_t fi, uint64_t now_tsc, uint64_t tx_ns, rte_mbuf **out, uint32_t room)
{
	FlowTx &f = flows_[fi];
	FlowTxCounters &c = flow_counters_[fi];
	if (!due(f, now_tsc))
		return 0;
	// How many are due: all that fit for the unpaced, the whole missed gaps
	// for packet rates; bit rates decide frame by frame (sizes differ).
	uint64_t k = room;
	if (f.rate_kind == RateKind::pps)
		k = std::min<uint64_t>(k, static_cast<uint64_t>((static_cast<double>(now_tsc) - f.next_tsc) /
								f.gap_tsc_per_pkt) + 1);
	k = std::min(k, f.left);
	uint32_t n = 0;
	if (f.cycle.size() == 1 && f.rate_kind != RateKind::bps) {
		// One template: the common case, kept lean (a local copy of the
		// template and the sequence number: the frame writes could alias
		// anything, so members would be reloaded every frame).
		const FrameTemplate t = f.templates[f.cycle[0]];
		const uint16_t len = t.frame_len;
		uint32_t seq = f.seq;
		for (; n < k; n++) {
			rte_mbuf *m = out[n];
			write_frame(rte_pktmbuf_mtod(m, uint8_t *), t, seq++, tx_ns);
			m->data_len = len;
			m->pkt_len = len;
		}
		f.seq = seq;
		c.pkts[t.ecn] += n;
		c.bytes[t.ecn] += static_cast<uint64_t>(n) * t.frame_len;
		counters_.bytes += static_cast<uint64_t>(n) * t.frame_len;
		if (f.rate_kind == RateKind::pps)
			f.next_tsc += f.gap_tsc_per_pkt * n;
	} else {
		for (; n < k; n++) {
			if (n > 0 && f.rate_kind == RateKind::bps && f.next_tsc > static_cast<double>(now_tsc))
				break;
			const FrameTemplate &t = f.templates[f.cycle[f.cycle_pos]];
			if (++f.cycle_pos == f.cycle.size())
				f.cycle_pos = 0;
			rte_mbuf *m = out[n];
			write_frame(rte_pktmbuf_mtod(m, uint8_t *), t, f.seq++, tx_ns);
			m->data_len = t.frame_len;
			m->pkt_len = t.frame_len;
			c.pkts[t.ecn]++;
			c.bytes[t.ecn] += t.frame_len;
			counters_.bytes += t.frame_len;
			if (f.rate_kind == RateKind::pps)
				f.next_tsc += f.gap_tsc_per_pkt;
			else if (f.rate_kind == RateKind::bps)
				f.next_tsc += f.gap_tsc_per_byte * t.frame_len;
		}
	}
	if (f.left != UINT64_MAX)
		f.left -= n;
	return n;
}

uint16_t Generator::poll(uint64_t now_tsc)
{
	if (held_count_) {
		const uint16_t took = rte_eth_tx_burst(port_, queue_, &held_[held_first_], static_cast<uint16_t>(held_count_));
		held_first_ += took;
		held_count_ -= took;
		return took;
	}
	if (spare_count_ < burst_) {
		if (rte_pktmbuf_alloc_bulk(pool_, &spare_[spare_count_], burst_ - spare_count_) == 0)
			spare_count_ = burst_;
		else
			counters_.alloc_failed++;
		if (spare_count_ == 0)
			return 0;
	}
	// Paced flows first, then the as-fast-as-possible ones fill the burst; the
	// round starts one flow further each time, so equal flows share fairly.
	const uint64_t tx_ns = clock_->ns(now_tsc);
	const auto nflows = static_cast<uint32_t>(flows_.size());
	uint32_t n = 0;
	for (int pass = 0; pass < 2 && n < spare_count_; pass++)
		for (uint32_t k = 0; k < nflows && n < spare_count_; k++) {
			const uint32_t fi = next_flow_ + k < nflows ? next_flow_ + k : next_flow_ + k - nflows;
			if ((flows_[fi].rate_kind == RateKind::max) == (pass == 1))
				n += build(fi, now_tsc, tx_ns, &spare_[n], spare_count_ - n);
		}
	if (++next_flow_ >= nflows)
		next_flow_ = 0;
	if (n == 0)
		return 0;
	counters_.bursts++;
	counters_.pkts += n;
	const uint16_t took = rte_eth_tx_burst(port_, queue_, spare_.data(), static_cast<uint16_t>(n));
	if (took < n) {
		counters_.port_full++;
		std::copy(&spare_[took], &spare_[n], held_.begin());
		held_first_ = 0;
		held_count_ = n - took;
	}
	// The unwritten mbufs move to the front for the next burst.
	std::copy(&spare_[n], &spare_[spare_count_], spare_.begin());
	spare_count_ -= n;
	return took;
}

bool Generator::finished(uint64_t now_tsc) const
{
	if (now_tsc - start_tsc_ >= duration_tsc_)
		return true;
	for (const FlowTx &f : flows_)
		if (f.left != 0 && !(f.stop_tsc && now_tsc >= f.stop_tsc))
			return false;
	return held_count_ == 0;
}

void Generator::stop()
{
	// Frames the port never took come off the counts they were added to.
	for (uint32_t i = held_first_; i < held_first_ + held_count_; i++) {
		const rte_mbuf *m = held_[i];
		const StampRead s = read_stamp(rte_pktmbuf_mtod(m, const uint8_t *), m->pkt_len);
		if (s.ours && s.flow < flow_counters_.size()) {
			flow_counters_[s.flow].pkts[s.sent_ecn]--;
			flow_counters_[s.flow].bytes[s.sent_ecn] -= m->pkt_len;
		}
		counters_.pkts--;
		counters_.bytes -= m->pkt_len;
		counters_.unsent++;
	}
	if (held_count_)
		rte_pktmbuf_free_bulk(&held_[held_first_], held_count_);
	held_count_ = 0;
	if (spare_count_)
		rte_pktmbuf_free_bulk(spare_.data(), spare_count_);
	spare_count_ = 0;
}

} // namespace dualpilot::trafficgen
