// The router's counters as the operator reads them: summed over the
// workers, off the fast path (the stats line, the summary at exit).
#include "dataplane/router.hpp"

#include <fmt/format.h>

#include "aqm/observe.hpp"

namespace dualpilot::dataplane {

uint64_t Router::queue_queued_pkts(size_t queue) const
{
	const EgressQueue &q = queues_[queue];
	uint64_t n = q.tx.count() + q.delay.size() + (q.handoff ? rte_ring_count(q.handoff) : 0);
	if (q.aqm)
		n += aqm::backlog_pkts(*q.aqm);
	return n;
}

uint64_t Router::queued_pkts(size_t port) const
{
	uint64_t n = 0;
	for (uint16_t t = 0; t < ports_[port].queues; t++)
		n += queue_queued_pkts(ports_[port].first_queue + t);
	return n;
}

uint64_t Router::queued_pkts() const
{
	uint64_t n = 0;
	for (size_t i = 0; i < queues_.size(); i++)
		n += queue_queued_pkts(i);
	return n;
}

aqm::DelayHistogram Router::sojourn(size_t port, int aqm_queue) const
{
	aqm::DelayHistogram h;
	for (uint16_t t = 0; t < ports_[port].queues; t++)
		h.merge(queue(port, t).sojourn[aqm_queue]);
	return h;
}

aqm::DelayHistogram Router::scored_delay(size_t port, int aqm_queue, uint64_t penalty_ns) const
{
	aqm::DelayHistogram scored;
	for (uint16_t t = 0; t < ports_[port].queues; t++) {
		const EgressQueue &q = queue(port, t);
		scored.merge(q.sojourn[aqm_queue]);
		q.dropped_waits[aqm_queue].each_bucket(
			[&](uint64_t waited_ns, uint64_t n) { scored.add(waited_ns + penalty_ns, n); });
		if (!q.aqm)
			continue;
		// Drops at enqueue waited nothing: the queue's overflows, and the
		// AQM's drops less those it made at dequeue.
		const aqm::QueueCounters c = aqm::counters(*q.aqm)[aqm_queue];
		const uint64_t dequeue_drops = q.aqm_dequeue_drops[aqm_queue];
		const uint64_t at_enqueue = c.overflow_drops + (c.aqm_drops > dequeue_drops ? c.aqm_drops - dequeue_drops : 0);
		if (at_enqueue != 0)
			scored.add(penalty_ns, at_enqueue);
	}
	return scored;
}

namespace {

// The AQM's decisions of one egress queue with the policy's changes applied
// (the workers' counters of the queue summed in sum): a verdict moved off
// drop (mark) is one drop (mark) fewer, moved onto it one more. The AQM's
// counters are read after the workers': a worker writes its changes and
// failed marks at the end of a burst whose verdicts the AQM has counted
// already, so a reading while it runs never takes away more than it adds
// (x86-64 keeps loads in order; a weaker CPU may read a burst's worth apart
// while the worker runs, never below 0, and the figures are exact once it
// stops).
void add_aqm_decisions(const EgressQueue &q, PortStats &sum)
{
	if (!q.aqm)
		return;
	const auto c = aqm::counters(*q.aqm);
	constexpr int kForward = static_cast<int>(aqm::Verdict::forward);
	constexpr int kMark = static_cast<int>(aqm::Verdict::forward_ce);
	constexpr int kDrop = static_cast<int>(aqm::Verdict::drop);
	const auto &vc = sum.verdict_changes;
	for (const aqm::QueueCounters &qc : c) {
		sum.aqm_drops += qc.aqm_drops;
		sum.overflow_drops += qc.overflow_drops;
		sum.marked += qc.ce_marks;
	}
	auto net = [](uint64_t n, uint64_t more, uint64_t fewer) { return n + more > fewer ? n + more - fewer : 0; };
	sum.aqm_drops = net(sum.aqm_drops, vc[kForward][kDrop] + vc[kMark][kDrop], vc[kDrop][kForward] + vc[kDrop][kMark]);
	sum.marked = net(sum.marked, vc[kForward][kMark] + vc[kDrop][kMark],
			 vc[kMark][kForward] + vc[kMark][kDrop] + sum.mark_failed);
	for (const auto &row : vc)
		for (uint64_t n : row)
			sum.overridden += n;
}

} // namespace

PortStats Router::queue_stats(size_t queue) const
{
	PortStats sum;
	for (const Worker &w : workers_)
		sum += w.stats[queue];
	add_aqm_decisions(queues_[queue], sum);
	return sum;
}

PortStats Router::port_stats(size_t port) const
{
	PortStats sum;
	for (uint16_t t = 0; t < ports_[port].queues; t++)
		sum += queue_stats(ports_[port].first_queue + t);
	return sum;
}

std::string Router::stats_line() const
{
	std::string line;
	for (size_t i = 0; i < ports_.size(); i++) {
		const PortStats s = port_stats(i);
		line += fmt::format("{}{} rx {} tx {} drop {} mark {} q {}", line.empty() ? "" : " | ", ports_[i].cfg.name,
				    s.rx_pkts, s.tx_pkts, s.aqm_drops + s.overflow_drops, s.marked, queued_pkts(i));
	}
	return line;
}

std::string Router::summary() const
{
	std::string out = fmt::format("{:<10} {:>12} {:>12} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}\n", "port",
				      "rx", "tx", "marked", "aqm drop", "overflow", "malformed", "no route", "tx failed",
				      "queued");
	for (size_t i = 0; i < ports_.size(); i++) {
		const PortStats s = port_stats(i);
		out += fmt::format("{:<10} {:>12} {:>12} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}\n",
				   ports_[i].cfg.name, s.rx_pkts, s.tx_pkts, s.marked, s.aqm_drops, s.overflow_drops,
				   s.malformed(), s.no_route + s.ttl_expired,
				   s.tx_failed + s.mark_failed + s.handoff_drops + s.delay_drops, queued_pkts(i));
	}
	for (const EgressQueue &e : queues_) {
		if (!e.aqm)
			continue;
		const Port &p = ports_[e.port];
		const std::string name = p.queues > 1 ? fmt::format("{} queue {}", p.cfg.name, e.tx_queue) : p.cfg.name;
		out += fmt::format("{} egress: {}\n{}\n", name, aqm::describe(*e.aqm), aqm::stats_text(*e.aqm, now_ns()));
		for (int q = aqm::kQueueCount - 1; q >= 0; q--) {
			const aqm::DelayHistogram &h = e.sojourn[q];
			if (h.count() == 0)
				continue;
			out += fmt::format("{} {} queue sojourn: p50 {:.3f} ms p90 {:.3f} ms p99 {:.3f} ms max {:.3f} ms "
					   "({} packets)\n",
					   name, q == 1 ? "L4S" : "Classic", h.percentile_ns(0.5) / 1e6,
					   h.percentile_ns(0.9) / 1e6, h.percentile_ns(0.99) / 1e6, h.max_ns() / 1e6, h.count());
		}
	}
	return out;
}

} // namespace dualpilot::dataplane
