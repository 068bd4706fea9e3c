#include "sim/heldout.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "common/read_file.hpp"

namespace dualpilot::sim {

namespace {

// One flow group's kind; min_rtt_ns: the scenario's shortest TCP RTT, so
// that a group far from it (several RTTs at once) is a kind of its own.
std::string flow_kind(const FlowSpec &f, uint64_t min_rtt_ns)
{
	if (f.cc == CcKind::udp) {
		static const char *const names[] = {"udp-not-ect", "udp-ect1", "udp-ect0", "udp-ce"};
		return names[static_cast<int>(f.udp_ecn) & 3];
	}
	std::string k = f.arrival_rate_per_s > 0 ? std::string("web-") + cc_name(f.cc) : cc_name(f.cc);
	if (f.ecn && f.cc != CcKind::scalable)
		k += "+ecn";
	if (f.arrival_rate_per_s == 0 && f.start_ns > 0)
		k += "+join";
	if (f.arrival_rate_per_s == 0 && f.stop_ns > 0)
		k += "+leave";
	const double rtt_ratio = static_cast<double>(f.rtt_ns) / static_cast<double>(std::max<uint64_t>(1, min_rtt_ns));
	if (rtt_ratio >= 1.5)
		k += "+rtt" + std::to_string(static_cast<int>(std::lround(rtt_ratio))) + "x";
	return k;
}

} // namespace

std::string mix_signature(const Scenario &s)
{
	uint64_t min_rtt_ns = UINT64_MAX;
	for (const FlowSpec &f : s.flows)
		if (f.cc != CcKind::udp)
			min_rtt_ns = std::min(min_rtt_ns, f.rtt_ns);
	std::map<std::string, uint64_t> count;
	for (const FlowSpec &f : s.flows)
		count[flow_kind(f, min_rtt_ns)] += f.arrival_rate_per_s > 0 ? 1 : f.count;
	std::string out;
	for (const auto &[kind, n] : count)
		out += (out.empty() ? "" : ", ") + kind + " x" + std::to_string(n);
	if (!s.rate_changes.empty())
		out += ", varying-rate";
	return out;
}

double base_rtt_ns(const Scenario &s)
{
	double log_sum = 0, n = 0;
	for (bool tcp_only : {true, false}) {
		for (const FlowSpec &f : s.flows) {
			if (tcp_only && f.cc == CcKind::udp)
				continue;
			const double w = f.arrival_rate_per_s > 0 ? 1 : f.count;
			log_sum += w * std::log(static_cast<double>(f.rtt_ns));
			n += w;
		}
		if (n > 0)
			break;
	}
	return n > 0 ? std::exp(log_sum / n) : 0;
}

bool near_twins(const Scenario &a, const Scenario &b)
{
	auto within = [](double x, double y) { return x > 0 && y > 0 && std::max(x / y, y / x) <= kNearTwinFactor; };
	return within(static_cast<double>(a.rate_bps), static_cast<double>(b.rate_bps)) &&
	       within(base_rtt_ns(a), base_rtt_ns(b)) && mix_signature(a) == mix_signature(b);
}

std::string heldout_refusal(const Scenario &s, const std::vector<Scenario> &heldout)
{
	if (experience::is_heldout_name(s.name))
		return s.name + ": a held-out scenario is never trained on or used for selection";
	for (const Scenario &h : heldout)
		if (near_twins(s, h))
			return s.name + ": a near twin of held-out scenario " + h.name + " (the same mix: " + mix_signature(s) +
			       "; rate and base RTT each within 2x): never trained on or used for selection";
	return {};
}

std::string check_against_heldout(const std::vector<Scenario> &set, const std::string &heldout_dir)
{
	std::vector<Scenario> heldout;
	if (std::string err = load_scenario_dir(heldout_dir, heldout); !err.empty())
		return err;
	for (const Scenario &s : set)
		if (std::string why = heldout_refusal(s, heldout); !why.empty())
			return why;
	return {};
}

} // namespace dualpilot::sim
