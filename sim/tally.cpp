#include "sim/tally.hpp"

#include <algorithm>

namespace dualpilot::sim {

void add_tally(Tally &a, const Tally &b)
{
	for (int q = 0; q < 2; q++)
		a.scored_delay[q].merge(b.scored_delay[q]);
	a.payload_bytes += b.payload_bytes;
	a.capacity_bits += b.capacity_bits;
	if (a.flows.empty())
		a.flows.resize(b.flows.size());
	for (size_t i = 0; i < a.flows.size() && i < b.flows.size(); i++) {
		a.flows[i].long_flow = b.flows[i].long_flow;
		a.flows[i].l4s = b.flows[i].l4s;
		a.flows[i].goodput_bytes += b.flows[i].goodput_bytes;
		a.flows[i].active_ns += b.flows[i].active_ns;
	}
}

experience::ObjectiveInputs tally_inputs(const Tally &t)
{
	experience::ObjectiveInputs in;
	for (int q = 0; q < 2; q++) {
		const aqm::DelayHistogram &h = t.scored_delay[q];
		in.queue[q].present = h.count() > 0;
		in.queue[q].p50_ms = static_cast<double>(h.percentile_ns(0.5)) / 1e6;
		in.queue[q].p99_ms = static_cast<double>(h.percentile_ns(0.99)) / 1e6;
	}
	in.utilisation = t.capacity_bits > 0 ? std::min(1.0, static_cast<double>(t.payload_bytes) * 8 / t.capacity_bits) : 0;
	double sum = 0, sum_sq = 0;
	std::array<double, 2> class_sum{0, 0};
	std::array<int, 2> class_n{0, 0};
	int n = 0;
	for (const FlowTally &f : t.flows) {
		if (!f.long_flow || f.active_ns == 0)
			continue;
		const double x = static_cast<double>(f.goodput_bytes) * 8e9 / static_cast<double>(f.active_ns);
		sum += x;
		sum_sq += x * x;
		n++;
		class_sum[f.l4s] += x;
		class_n[f.l4s]++;
	}
	in.jain = n == 0 ? -1 : sum_sq == 0 ? 0 : sum * sum / (n * sum_sq);
	if (class_n[0] > 0 && class_n[1] > 0) {
		const double l = class_sum[1] / class_n[1], c = class_sum[0] / class_n[0];
		// 0 when one class's long flows delivered nothing: the worst balance.
		in.rate_balance = l == 0 || c == 0 ? 0 : l / c;
	}
	return in;
}

} // namespace dualpilot::sim
