#include "perf/trafficgen/report.hpp"

#include <fmt/core.h>

namespace dualpilot::trafficgen {

LatencySummary summarise(const aqm::DelayHistogram &h)
{
	LatencySummary s;
	s.samples = h.count();
	if (!s.samples)
		return s;
	s.mean_us = h.mean_ns() / 1e3;
	s.p50_us = static_cast<double>(h.percentile_ns(0.50)) / 1e3;
	s.p99_us = static_cast<double>(h.percentile_ns(0.99)) / 1e3;
	s.p999_us = static_cast<double>(h.percentile_ns(0.999)) / 1e3;
	s.max_us = static_cast<double>(h.max_ns()) / 1e3;
	return s;
}

namespace {

// One ECN codepoint's figures: what the generator sent of it, what the
// receiver saw (whose latencies also join `all`); mbit: bytes to Mbit/s.
ClassReport class_report(int c, const Generator *gen, const Receiver *rx, double mbit, aqm::DelayHistogram &all)
{
	ClassReport cr;
	cr.name = kEcnNames[c];
	if (gen) {
		uint64_t pkts = 0, bytes = 0;
		for (const FlowTxCounters &f : gen->flow_counters())
			pkts += f.pkts[c], bytes += f.bytes[c];
		cr.sent = pkts;
		cr.sent_bytes = bytes;
		cr.sent_mbps = static_cast<double>(bytes) * mbit;
	}
	if (rx) {
		const ClassRxStats &s = rx->classes()[c];
		cr.received = s.pkts;
		cr.bytes = s.bytes;
		cr.ce = s.ce;
		cr.bleached = s.bleached;
		cr.changed = s.changed;
		cr.rx_mbps = static_cast<double>(s.bytes) * mbit;
		cr.ce_fraction = s.pkts ? static_cast<double>(s.ce) / static_cast<double>(s.pkts) : 0;
		cr.latency = summarise(s.latency);
		all.merge(s.latency);
	}
	if (cr.sent)
		cr.lost = static_cast<int64_t>(*cr.sent) - static_cast<int64_t>(cr.received);
	return cr;
}

// A class's counts added to the total.
void add_to_total(ClassReport &total, const ClassReport &cr)
{
	if (cr.sent) {
		*total.sent += *cr.sent;
		*total.sent_bytes += *cr.sent_bytes;
	}
	total.received += cr.received;
	total.bytes += cr.bytes;
	total.ce += cr.ce;
	total.bleached += cr.bleached;
	total.changed += cr.changed;
}

// Flow i's figures: its spec's name and endpoints (or flowN for a flow only
// the receiver saw), what was sent of it and what arrived.
FlowReport flow_report(size_t i, const TrafficSpec &spec, const Generator *gen, const Receiver *rx, double mbit)
{
	FlowReport f;
	if (i < spec.flows.size()) {
		const FlowSpec &s = spec.flows[i];
		f.name = s.name;
		f.src = format_endpoint(s.ipv6, s.src_ip, s.src_port);
		f.dst = format_endpoint(s.ipv6, s.dst_ip, s.dst_port);
	} else {
		f.name = fmt::format("flow{}", i);
	}
	if (gen && i < gen->flow_counters().size()) {
		uint64_t n = 0;
		for (uint64_t p : gen->flow_counters()[i].pkts)
			n += p;
		f.sent = n;
	}
	int64_t expected = 0;
	if (rx && i < rx->flows().size()) {
		const FlowRxStats &s = rx->flows()[i];
		f.received = s.received();
		f.bytes = s.bytes;
		f.late = s.late;
		f.ce = s.ce;
		f.rx_mbps = static_cast<double>(s.bytes) * mbit;
		f.ce_fraction = f.received ? static_cast<double>(s.ce) / static_cast<double>(f.received) : 0;
		f.mean_latency_us = f.received ? static_cast<double>(s.latency_sum_ns) / f.received / 1e3 : 0;
		f.max_latency_us = static_cast<double>(s.latency_max_ns) / 1e3;
		expected = static_cast<int64_t>(s.highest_seq);
	}
	f.lost = f.sent ? static_cast<int64_t>(*f.sent) - static_cast<int64_t>(f.received)
			: expected - static_cast<int64_t>(f.received);
	return f;
}

} // namespace

Report make_report(const TrafficSpec &spec, const Generator *gen, const Receiver *rx, double seconds)
{
	Report r;
	r.seconds = seconds;
	const double mbit = seconds > 0 ? 8 / (seconds * 1e6) : 0;
	aqm::DelayHistogram all;
	r.total.name = "all";
	if (gen)
		r.total.sent = r.total.sent_bytes = 0;
	for (int c = 0; c < kEcnCodepoints; c++) {
		ClassReport cr = class_report(c, gen, rx, mbit, all);
		if ((cr.sent && *cr.sent) || cr.received) {
			add_to_total(r.total, cr);
			r.classes.push_back(std::move(cr));
		}
	}
	if (r.total.sent) {
		r.total.lost = static_cast<int64_t>(*r.total.sent) - static_cast<int64_t>(r.total.received);
		r.total.sent_mbps = static_cast<double>(*r.total.sent_bytes) * mbit;
	}
	r.total.rx_mbps = static_cast<double>(r.total.bytes) * mbit;
	r.total.ce_fraction = r.total.received ? static_cast<double>(r.total.ce) / static_cast<double>(r.total.received) : 0;
	r.total.latency = summarise(all);
	const size_t nflows = std::max(spec.flows.size(), rx ? rx->flows().size() : 0);
	for (size_t i = 0; i < nflows; i++)
		r.flows.push_back(flow_report(i, spec, gen, rx, mbit));
	if (gen)
		r.generator = gen->counters();
	if (rx)
		r.receiver = rx->counters();
	return r;
}

namespace {

std::string opt(const std::optional<uint64_t> &v) { return v ? std::to_string(*v) : "-"; }

std::string class_row(const ClassReport &c)
{
	std::string loss = "-";
	if (c.lost && c.sent && *c.sent)
		loss = fmt::format("{:.3f}", 100.0 * static_cast<double>(*c.lost) / static_cast<double>(*c.sent));
	return fmt::format("{:<8} {:>11} {:>11} {:>9} {:>7} {:>9.3f} {:>9.3f} {:>7.2f} {:>9.1f} {:>9.1f} {:>9.1f}\n", c.name,
			   opt(c.sent), c.received, c.lost ? std::to_string(*c.lost) : "-", loss, c.sent_mbps,
			   c.rx_mbps, 100 * c.ce_fraction, c.latency.p50_us, c.latency.p99_us, c.latency.max_us);
}

nlohmann::json latency_json(const LatencySummary &l)
{
	return {{"samples", l.samples}, {"mean_us", l.mean_us}, {"p50_us", l.p50_us}, {"p99_us", l.p99_us},
		{"p999_us", l.p999_us}, {"max_us", l.max_us}};
}

nlohmann::json class_json(const ClassReport &c)
{
	nlohmann::json j = {{"class", c.name},        {"received", c.received},   {"received_bytes", c.bytes},
			    {"ce", c.ce},             {"bleached", c.bleached},   {"changed", c.changed},
			    {"rx_mbps", c.rx_mbps},   {"ce_fraction", c.ce_fraction}, {"latency", latency_json(c.latency)}};
	j["sent"] = c.sent ? nlohmann::json(*c.sent) : nlohmann::json(nullptr);
	j["sent_bytes"] = c.sent_bytes ? nlohmann::json(*c.sent_bytes) : nlohmann::json(nullptr);
	j["sent_mbps"] = c.sent ? nlohmann::json(c.sent_mbps) : nlohmann::json(nullptr);
	j["lost"] = c.lost ? nlohmann::json(*c.lost) : nlohmann::json(nullptr);
	return j;
}

} // namespace

std::string format_table(const Report &r, bool per_flow)
{
	std::string out = fmt::format("{:<8} {:>11} {:>11} {:>9} {:>7} {:>9} {:>9} {:>7} {:>9} {:>9} {:>9}\n", "class",
				      "sent", "received", "lost", "loss%", "tx Mb/s", "rx Mb/s", "CE%", "p50 us",
				      "p99 us", "max us");
	for (const ClassReport &c : r.classes)
		out += class_row(c);
	out += class_row(r.total);
	if (r.total.bleached || r.total.changed)
		out += fmt::format("ECN changed on the way: {} ECN-capable frames arrived Not-ECT, {} swapped ECT(0)/ECT(1)\n",
				   r.total.bleached, r.total.changed);
	if (r.receiver && (r.receiver->foreign || r.receiver->malformed || r.receiver->negative_latency))
		out += fmt::format("receiver: {} frames without a stamp, {} malformed, {} stamped later than they arrived\n",
				   r.receiver->foreign, r.receiver->malformed, r.receiver->negative_latency);
	if (r.generator && (r.generator->port_full || r.generator->alloc_failed || r.generator->unsent))
		out += fmt::format("generator: port full on {} bursts (offered again), {} bursts waited for mbufs, "
				   "{} frames unsent at the end\n",
				   r.generator->port_full, r.generator->alloc_failed, r.generator->unsent);
	if (per_flow) {
		out += fmt::format("\n{:<16} {:>22} {:>22} {:>10} {:>10} {:>8} {:>6} {:>9} {:>7} {:>9}\n", "flow", "src", "dst",
				   "sent", "received", "lost", "late", "rx Mb/s", "CE%", "mean us");
		for (const FlowReport &f : r.flows)
			out += fmt::format("{:<16} {:>22} {:>22} {:>10} {:>10} {:>8} {:>6} {:>9.3f} {:>7.2f} {:>9.1f}\n", f.name,
					   f.src, f.dst, opt(f.sent), f.received, f.lost, f.late, f.rx_mbps,
					   100 * f.ce_fraction, f.mean_latency_us);
	}
	return out;
}

nlohmann::json to_json(const Report &r)
{
	nlohmann::json j;
	j["seconds"] = r.seconds;
	j["classes"] = nlohmann::json::array();
	for (const ClassReport &c : r.classes)
		j["classes"].push_back(class_json(c));
	j["total"] = class_json(r.total);
	j["flows"] = nlohmann::json::array();
	for (const FlowReport &f : r.flows) {
		nlohmann::json fj = {{"name", f.name},         {"src", f.src},         {"dst", f.dst},
				     {"received", f.received}, {"bytes", f.bytes},     {"lost", f.lost},
				     {"late", f.late},         {"ce", f.ce},           {"rx_mbps", f.rx_mbps},
				     {"ce_fraction", f.ce_fraction}, {"mean_latency_us", f.mean_latency_us},
				     {"max_latency_us", f.max_latency_us}};
		fj["sent"] = f.sent ? nlohmann::json(*f.sent) : nlohmann::json(nullptr);
		fj["loss_exact"] = f.sent.has_value();
		j["flows"].push_back(std::move(fj));
	}
	if (r.generator)
		j["generator"] = {{"pkts", r.generator->pkts},         {"bytes", r.generator->bytes},
				  {"bursts", r.generator->bursts},     {"port_full", r.generator->port_full},
				  {"alloc_failed", r.generator->alloc_failed}, {"unsent", r.generator->unsent},
				  {"mpps", r.seconds > 0 ? static_cast<double>(r.generator->pkts) / r.seconds / 1e6 : 0}};
	if (r.receiver)
		j["receiver"] = {{"pkts", r.receiver->pkts},
				 {"foreign", r.receiver->foreign},
				 {"malformed", r.receiver->malformed},
				 {"negative_latency", r.receiver->negative_latency}};
	return j;
}

} // namespace dualpilot::trafficgen
