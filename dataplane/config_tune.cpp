// [policy] action and [policy.tune] (config_tune.hpp).
#include "dataplane/config_tune.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace dualpilot::dataplane {

namespace {

using common::TomlReader;

// An array of time strings ("5ms"); absent: out untouched.
[[nodiscard]] bool read_times(TomlReader &r, const toml::table &t, std::string_view key, std::vector<uint64_t> &out)
{
	const toml::node *n = t.get(key);
	if (!n)
		return true;
	const toml::array *arr = n->as_array();
	if (!arr)
		return r.fail(*n, key, "expected an array of times such as [\"5ms\", \"15ms\"]");
	out.clear();
	for (const toml::node &e : *arr) {
		uint64_t ns = 0;
		if (!e.is_string())
			return r.fail(e, key, "expected an array of times such as [\"5ms\", \"15ms\"]");
		if (std::string err = aqm::parse_time_ns(e.as_string()->get(), ns); !err.empty())
			return r.fail(e, key, err);
		out.push_back(ns);
	}
	return true;
}

[[nodiscard]] bool read_couplings(TomlReader &r, const toml::table &t, std::vector<uint32_t> &out)
{
	const toml::node *n = t.get("couplings");
	if (!n)
		return true;
	const toml::array *arr = n->as_array();
	if (!arr)
		return r.fail(*n, "couplings", "expected an array of integers such as [2, 3]");
	out.clear();
	for (const toml::node &e : *arr) {
		if (!e.is_integer() || e.as_integer()->get() < 0 || e.as_integer()->get() > 255)
			return r.fail(e, "couplings", "expected integers between 0 and 255");
		out.push_back(static_cast<uint32_t>(e.as_integer()->get()));
	}
	return true;
}

// A number in [lo, hi] (above lo where open), named at its line when not.
[[nodiscard]] bool read_factor(TomlReader &r, const toml::table &t, std::string_view key, double &out, double lo,
			       double hi, bool open)
{
	const toml::node *at = nullptr;
	if (!r.number(t, key, out, at))
		return false;
	if (at && !((open ? out > lo : out >= lo) && out <= hi))
		return r.fail(*at, key, fmt::format("{} {} and at most {}", open ? "above" : "at least", lo, hi));
	return true;
}

[[nodiscard]] bool read_rails(TomlReader &r, const toml::table &t, policy::TuneConfig &c)
{
	return r.time(t, "target_min", c.target_min_ns) && r.time(t, "target_max", c.target_max_ns) &&
	       r.time(t, "max_rtt_min", c.max_rtt_min_ns) && r.time(t, "max_rtt_max", c.max_rtt_max_ns) &&
	       r.time(t, "step_thresh_min", c.step_thresh_min_ns) && r.time(t, "step_thresh_max", c.step_thresh_max_ns) &&
	       r.integer(t, "coupling_min", c.coupling_min, 0, 255) && r.integer(t, "coupling_max", c.coupling_max, 0, 255);
}

[[nodiscard]] bool read_harm(TomlReader &r, const toml::table &t, policy::TuneConfig &c)
{
	return read_factor(r, t, "harm_classic_factor", c.harm_classic_factor, 1, 1000, true) &&
	       read_factor(r, t, "harm_l4s_factor", c.harm_l4s_factor, 1, 1000, true) &&
	       read_factor(r, t, "harm_load", c.harm_load, 0, 1, false) &&
	       read_factor(r, t, "idle_load", c.idle_load, 0, 1, false) &&
	       read_factor(r, t, "switch_margin", c.switch_margin, 0, 1, false) &&
	       r.integer(t, "harm_trip_intervals", c.harm_trip_intervals, 1, 1000) &&
	       r.time(t, "harm_backoff", c.harm_backoff_ns) && r.time(t, "harm_max_backoff", c.harm_max_backoff_ns);
}

// check_tune_config's error begins with the key it is about ("targets: ...",
// "tune_interval: ..."): reported at that key's line where the table has it,
// else at the table's.
[[nodiscard]] bool fail_tune(TomlReader &r, const toml::table &t, const std::string &err)
{
	const size_t colon = err.find(": ");
	const std::string key = colon == std::string::npos ? std::string() : err.substr(0, colon);
	if (const toml::node *n = key.empty() ? nullptr : t.get(key))
		return r.fail(*n, key, err.substr(colon + 2));
	return r.fail(t, "[policy.tune]", err);
}

[[nodiscard]] bool read_tune_table(TomlReader &r, const toml::table &t, PolicyConfig &p)
{
	policy::TuneConfig &c = p.tune;
	if (!r.only_keys(t, "[policy.tune]",
			 {"tune_interval", "steps_per_interval", "tune_ttl", "targets", "max_rtts", "step_threshs",
			  "couplings", "target_min", "target_max", "max_rtt_min", "max_rtt_max", "step_thresh_min",
			  "step_thresh_max", "coupling_min", "coupling_max", "harm_classic_factor", "harm_l4s_factor",
			  "harm_load", "idle_load", "harm_trip_intervals", "harm_backoff", "harm_max_backoff", "switch_margin", "ports"}))
		return false;
	if (!r.time(t, "tune_interval", c.interval_ns) || !r.integer(t, "steps_per_interval", c.steps_per_interval, 0, 1000) ||
	    !r.time(t, "tune_ttl", c.ttl_ns) || !read_times(r, t, "targets", c.targets_ns) ||
	    !read_times(r, t, "max_rtts", c.max_rtts_ns) || !read_times(r, t, "step_threshs", c.step_threshs_ns) ||
	    !read_couplings(r, t, c.couplings) || !read_rails(r, t, c) || !read_harm(r, t, c))
		return false;
	if (const toml::node *n = t.get("ports")) {
		const toml::array *arr = n->as_array();
		if (!arr || arr->empty())
			return r.fail(*n, "ports", "expected a non-empty array of port names");
		for (const toml::node &e : *arr) {
			if (!e.is_string())
				return r.fail(e, "ports", "expected an array of port names");
			p.tune_ports.push_back(e.as_string()->get());
		}
	}
	return true;
}

} // namespace

bool read_policy_action(TomlReader &r, const toml::table &policy, PolicyConfig &p)
{
	std::string action = "verdict";
	if (!r.text(policy, "action", action))
		return false;
	// policy::kPilotActionNames are string_views, not enum_names.hpp's words.
	if (action == policy::kPilotActionNames[0] || action == policy::kPilotActionNames[1])
		p.action = action == policy::kPilotActionNames[0] ? policy::PilotAction::verdict : policy::PilotAction::tune;
	else
		return r.fail(*policy.get("action"), "action", "unknown action '" + action + "' (known: verdict tune)");
	if (const toml::node *n = policy.get("tune")) {
		if (!n->is_table())
			return r.fail(*n, "tune", "expected a table: [policy.tune]");
		if (!read_tune_table(r, *n->as_table(), p))
			return false;
		if (std::string err = policy::check_tune_config(p.tune); !err.empty())
			return fail_tune(r, *n->as_table(), err);
	}
	if (p.action != policy::PilotAction::tune)
		return true;
	if (!p.pool_out.empty())
		return r.fail(*policy.get("pool_out"), "pool_out",
			      "pools hold the verdict pilot's samples; action \"tune\" records none (dualpilot-tune-data "
			      "makes the tuner's)");
	return true;
}

// The tuner's counting and its settings are per port, on one DualPI2: a
// tuned port runs one egress queue (docs/router.md, "Egress queues").
static bool one_queue_each(TomlReader &r, const toml::node &at, const RouterConfig &c, std::string_view key)
{
	for (const std::string &name : c.policy.tune_ports)
		for (const PortConfig &port : c.ports)
			if (port.name == name && port.egress_queues > 1)
				return r.fail(at, key,
					      "port '" + name + "' has egress_queues = " + std::to_string(port.egress_queues) +
						      ": the tuner tunes a port of one egress queue; set egress_queues = 1 "
						      "there, or name only the other ports in [policy.tune] ports");
	return true;
}

bool check_tuned_ports(TomlReader &r, const toml::table &root, RouterConfig &c)
{
	PolicyConfig &p = c.policy;
	if (p.action != policy::PilotAction::tune)
		return true;
	const toml::node *tune = root.at_path("policy.tune").node();
	const toml::node *ports = tune && tune->is_table() ? tune->as_table()->get("ports") : nullptr;
	const toml::node *at = ports ? ports : root.at_path("policy.action").node();
	if (p.tune_ports.empty()) {
		for (const PortConfig &port : c.ports)
			if (port.aqm == "dualpi2")
				p.tune_ports.push_back(port.name);
		if (p.tune_ports.empty())
			return r.fail(*at, "action", "\"tune\" sets DualPI2's settings, and no port runs aqm \"dualpi2\"");
		return one_queue_each(r, *at, c, ports ? "ports" : "action");
	}
	for (const std::string &name : p.tune_ports) {
		const auto port = std::find_if(c.ports.begin(), c.ports.end(), [&](const PortConfig &q) { return q.name == name; });
		if (port == c.ports.end())
			return r.fail(*at, "ports", "no port named '" + name + "'");
		if (port->aqm != "dualpi2")
			return r.fail(*at, "ports", "port '" + name + "' runs aqm \"" + port->aqm +
							     "\": the tuner sets DualPI2's settings, so a tuned port runs dualpi2");
		if (std::count(p.tune_ports.begin(), p.tune_ports.end(), name) > 1)
			return r.fail(*at, "ports", "port '" + name + "' named twice");
	}
	return one_queue_each(r, *at, c, "ports");
}

} // namespace dualpilot::dataplane
