#include "aqm/observe.hpp"

#include <algorithm>

namespace dualpilot::aqm {

namespace {

void fill_counters(const std::array<QueueCounters, kQueueCount> &counts, QueueId q, AqmObservation &o)
{
	const QueueCounters &c = counts[static_cast<int>(q)];
	o.backlog_bytes = c.backlog_bytes;
	o.total_drops = c.aqm_drops + c.overflow_drops;
}

struct Observer {
	QueueId queue;
	AqmObservation operator()(const DualPi2 &a) const
	{
		AqmObservation o;
		const double p = q32_to_prob(a.prob_q32());
		// Classic packets face p'^2 (RFC 9332 section 2.4); L4S packets k * p'.
		o.drop_probability = queue == QueueId::classic ? p * p
							       : std::min(1.0, a.params().coupling_factor * p);
		o.accumulated_probability = p;
		fill_counters(a.counters(), queue, o);
		return o;
	}
	AqmObservation operator()(const Pie &a) const
	{
		AqmObservation o;
		o.burst_allowance_us = static_cast<double>(a.burst_allowance_ns()) / 1e3;
		o.drop_probability = a.drop_prob();
		o.accumulated_probability = a.accu_prob();
		fill_counters(a.counters(), QueueId::classic, o);
		return o;
	}
	AqmObservation operator()(const Codel &a) const
	{
		AqmObservation o; // CoDel has no probability: its control law is in time
		fill_counters(a.counters(), QueueId::classic, o);
		return o;
	}
	AqmObservation operator()(const Fifo &a) const
	{
		AqmObservation o;
		fill_counters(a.counters(), QueueId::classic, o);
		return o;
	}
};

} // namespace

AqmObservation observe(const AnyAqm &aqm, QueueId queue) { return std::visit(Observer{queue}, aqm); }

} // namespace dualpilot::aqm
