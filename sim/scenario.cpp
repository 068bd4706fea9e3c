#include "sim/scenario.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>

#include "aqm/units.hpp"
#include "common/toml_reader.hpp"

namespace dualpilot::sim {

namespace {

using common::TomlReader;

// A number (integer or float) within [lo, hi]; absent leaves out alone.
bool number(TomlReader &r, const toml::table &t, std::string_view key, double &out, double lo, double hi)
{
	const toml::node *n = nullptr;
	double v = 0;
	if (!r.number(t, key, v, n))
		return false;
	if (!n)
		return true; // absent: out keeps its default
	if (!(v >= lo && v <= hi))
		return r.fail(*n, key, "must be between " + fmt::format("{:g}", lo) + " and " + fmt::format("{:g}", hi));
	out = v;
	return true;
}

// Web-like short flows: the arrival process and object sizes.
bool read_web(TomlReader &r, const toml::table &t, FlowSpec &f)
{
	if (!number(r, t, "arrival_rate", f.arrival_rate_per_s, 0, 10000) ||
	    !r.integer(t, "mean_packets", f.mean_packets, 1, 1000000) ||
	    !number(r, t, "pareto_shape", f.pareto_shape, 1.05, 10))
		return false;
	const bool sized = t.get("mean_packets") || t.get("pareto_shape");
	if (f.arrival_rate_per_s == 0 && sized)
		return r.fail(t, "arrival_rate", "mean_packets and pareto_shape need arrival_rate (connections per second)");
	if (f.arrival_rate_per_s > 0 && f.cc == CcKind::udp)
		return r.fail(t, "arrival_rate", "short flows are TCP: reno, cubic or scalable");
	if (f.arrival_rate_per_s > 0 && f.count != 1)
		return r.fail(t, "count", "a short-flow group is one arrival process: raise arrival_rate instead");
	return true;
}

// [bottleneck] changes = [{at = "8s", rate = "10mbit"}, ...], in time order.
bool read_rate_changes(TomlReader &r, const toml::table &b, Scenario &s)
{
	const toml::node *n = b.get("changes");
	if (!n)
		return true;
	const toml::array *a = n->as_array();
	if (!a)
		return r.fail(*n, "changes", "expected an array such as [{at = \"8s\", rate = \"10mbit\"}]");
	for (const toml::node &e : *a) {
		const toml::table *t = e.as_table();
		if (!t)
			return r.fail(e, "changes", "expected {at = \"8s\", rate = \"10mbit\"}");
		RateChange c;
		if (!r.only_keys(*t, "a rate change", {"at", "rate"}) || !r.time(*t, "at", c.at_ns) ||
		    !r.unit(*t, "rate", c.rate_bps, aqm::parse_rate_bps, "10mbit"))
			return false;
		if (!t->get("at") || c.rate_bps == 0)
			return r.fail(e, "changes", "each change needs at and a rate greater than 0");
		if (!s.rate_changes.empty() && c.at_ns <= s.rate_changes.back().at_ns)
			return r.fail(e, "changes", "changes must be in time order");
		s.rate_changes.push_back(c);
	}
	return true;
}

bool read_flow(TomlReader &r, const toml::table &t, FlowSpec &f)
{
	if (!r.only_keys(t, "[[flows]]", {"name", "cc", "ecn", "count", "rtt", "start", "stop", "rate", "size", "delayed_ack",
					   "arrival_rate", "mean_packets", "pareto_shape"}))
		return false;
	std::string cc = "reno";
	if (!r.text(t, "name", f.name) || !r.text(t, "cc", cc))
		return false;
	if (cc == "reno" || cc == "newreno")
		f.cc = CcKind::reno;
	else if (cc == "cubic")
		f.cc = CcKind::cubic;
	else if (cc == "scalable" || cc == "prague" || cc == "dctcp")
		f.cc = CcKind::scalable;
	else if (cc == "udp")
		f.cc = CcKind::udp;
	else
		return r.fail(*t.get("cc"), "cc", "unknown congestion control '" + cc + "' (known: reno cubic scalable udp)");
	if (const toml::node *n = t.get("ecn")) {
		if (f.cc == CcKind::udp) {
			// UDP sends a fixed codepoint: not-ect, ect0, ect1 or ce.
			std::string cp;
			if (!r.text(t, "ecn", cp))
				return false;
			if (cp == "not-ect")
				f.udp_ecn = aqm::Ecn::not_ect;
			else if (cp == "ect0")
				f.udp_ecn = aqm::Ecn::ect0;
			else if (cp == "ect1")
				f.udp_ecn = aqm::Ecn::ect1;
			else if (cp == "ce")
				f.udp_ecn = aqm::Ecn::ce;
			else
				return r.fail(*n, "ecn", "udp ecn must be \"not-ect\", \"ect0\", \"ect1\" or \"ce\"");
		} else if (!r.boolean(t, "ecn", f.ecn)) {
			return false;
		}
	}
	if (!r.integer(t, "count", f.count, 1, 10000) || !r.time(t, "rtt", f.rtt_ns) ||
	    !r.time(t, "start", f.start_ns) || !r.time(t, "stop", f.stop_ns) ||
	    !r.unit(t, "rate", f.udp_rate_bps, aqm::parse_rate_bps, "10mbit") ||
	    !r.integer(t, "size", f.udp_size_bytes, 64, 9000) || !r.boolean(t, "delayed_ack", f.delayed_ack))
		return false;
	if (f.rtt_ns < 4)
		return r.fail(t, "rtt", "must be at least 4ns");
	if (!read_web(r, t, f))
		return false;
	if (f.cc == CcKind::udp && f.udp_rate_bps == 0)
		return r.fail(t, "rate", "a udp flow needs a rate, e.g. rate = \"10mbit\"");
	if (f.stop_ns != 0 && f.stop_ns <= f.start_ns)
		return r.fail(t, "stop", "must be after start");
	if (f.name.empty())
		f.name = cc_name(f.cc);
	return true;
}

bool read(TomlReader &r, const toml::table &root, Scenario &s)
{
	if (!r.only_keys(root, "the scenario", {"name", "description", "duration", "warmup", "repetitions",
						 "sample_interval", "bottleneck", "flows", "objective", "sweep"}))
		return false;
	if (!r.text(root, "name", s.name) || !r.text(root, "description", s.description) ||
	    !r.time(root, "duration", s.duration_ns) || !r.time(root, "warmup", s.warmup_ns) ||
	    !r.integer(root, "repetitions", s.repetitions, 1, 1000) ||
	    !r.time(root, "sample_interval", s.sample_interval_ns))
		return false;
	if (s.duration_ns == 0)
		return r.fail(root, "duration", "must be greater than 0");
	if (s.warmup_ns >= s.duration_ns)
		return r.fail(root, "warmup", "must be shorter than duration");
	if (s.sample_interval_ns == 0)
		return r.fail(root, "sample_interval", "must be greater than 0");

	const toml::table *b = root["bottleneck"].as_table();
	if (!b)
		return r.fail(root, "bottleneck", "missing [bottleneck] table with at least rate = \"...\"");
	if (!r.only_keys_and_aqm_tables(*b, "[bottleneck]", {"rate", "changes", "mtu", "aqm"}) ||
	    !read_rate_changes(r, *b, s) ||
	    !r.unit(*b, "rate", s.rate_bps, aqm::parse_rate_bps, "8mbit") || !r.text(*b, "aqm", s.aqm) ||
	    !r.integer(*b, "mtu", s.mtu_bytes, 128, 9000))
		return false;
	if (s.rate_bps == 0)
		return r.fail(*b, "rate", "missing: the bottleneck needs a rate, e.g. rate = \"8mbit\"");
	for (std::string_view name : aqm::kAqmNames) {
		const toml::node *n = b->get(name);
		if (!n)
			continue;
		if (!r.aqm_settings(*n, name, s.aqm_params[std::string(name)]))
			return false;
	}

	const toml::array *flows = root["flows"].as_array();
	if (!flows || flows->empty())
		return r.fail(root, "flows", "missing: add at least one [[flows]] table");
	for (const toml::node &n : *flows) {
		if (!n.is_table())
			return r.fail(n, "flows", "expected [[flows]] tables");
		FlowSpec f;
		if (!read_flow(r, *n.as_table(), f))
			return false;
		s.flows.push_back(f);
	}
	return true;
}

} // namespace

const char *cc_name(CcKind cc)
{
	switch (cc) {
	case CcKind::reno:
		return "reno";
	case CcKind::cubic:
		return "cubic";
	case CcKind::scalable:
		return "scalable";
	case CcKind::udp:
		return "udp";
	}
	return "?";
}

uint64_t rate_at(const Scenario &s, uint64_t t_ns)
{
	uint64_t rate = s.rate_bps;
	for (const RateChange &c : s.rate_changes)
		if (c.at_ns <= t_ns)
			rate = c.rate_bps;
	return rate;
}

double capacity_bits(const Scenario &s, uint64_t from_ns, uint64_t to_ns)
{
	double bits = 0;
	uint64_t t = from_ns;
	while (t < to_ns) {
		uint64_t next = to_ns; // the next change after t, or the end
		for (const RateChange &c : s.rate_changes)
			if (c.at_ns > t) {
				next = std::min(next, c.at_ns);
				break;
			}
		bits += static_cast<double>(rate_at(s, t)) * static_cast<double>(next - t) / 1e9;
		t = next;
	}
	return bits;
}

std::string parse_scenario(std::string_view text, const std::string &origin, Scenario &out)
{
	toml::table root;
	if (std::string err = common::parse_toml(text, origin, root); !err.empty())
		return err;
	TomlReader r{origin, {}};
	Scenario s;
	if (!read(r, root, s))
		return r.error;
	if (std::string err = experience::read_objective(root, origin, s.objective); !err.empty())
		return err;
	out = std::move(s);
	return {};
}

std::string load_scenario(const std::string &path, Scenario &out)
{
	std::string text;
	if (std::string err = common::read_file(path, "scenario file", text); !err.empty())
		return err;
	return parse_scenario(text, path, out);
}

std::string load_scenario_dir(const std::string &dir, std::vector<Scenario> &out)
{
	std::vector<std::string> paths;
	std::error_code ec;
	for (const auto &e : std::filesystem::directory_iterator(dir, ec))
		if (e.path().extension() == ".toml")
			paths.push_back(e.path().string());
	if (ec)
		return dir + ": " + ec.message();
	std::sort(paths.begin(), paths.end());
	for (const std::string &p : paths) {
		Scenario sc;
		if (std::string err = load_scenario(p, sc); !err.empty())
			return err;
		out.push_back(std::move(sc));
	}
	return {};
}

} // namespace dualpilot::sim
