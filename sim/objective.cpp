#include "sim/objective.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common/toml_reader.hpp"

namespace dualpilot::sim {

namespace {

double class_weight(const Objective &o, int q) { return q == 1 ? o.l4s_weight : o.classic_weight; }
double class_ref_ms(const Objective &o, int q) { return q == 1 ? o.l4s_delay_ref_ms : o.classic_delay_ref_ms; }

// A positive finite number, or (with zero_ok) zero.
bool read_number(common::TomlReader &r, const toml::table &t, std::string_view key, double &out, bool zero_ok,
		 double hi = 1e9)
{
	const toml::node *n = t.get(key);
	if (!n)
		return true;
	double v = 0;
	if (n->is_integer())
		v = static_cast<double>(n->as_integer()->get());
	else if (n->is_floating_point())
		v = n->as_floating_point()->get();
	else
		return r.fail(*n, key, "expected a number");
	if (!std::isfinite(v) || v < 0 || (v == 0 && !zero_ok) || v > hi)
		return r.fail(*n, key, std::string("must be ") + (zero_ok ? "at least 0" : "greater than 0") +
					       " and at most " + std::to_string(hi));
	out = v;
	return true;
}

} // namespace

ObjectiveScore score(const ObjectiveInputs &in, const Objective &o)
{
	ObjectiveScore s;
	const double u = std::clamp(in.utilisation, 0.0, 1.0);
	s.utilisation_term = u >= o.utilisation_floor ? u : u * std::pow(u / o.utilisation_floor, o.floor_exponent);
	double sum = 0, weights = 0;
	for (int q = 0; q < 2; q++) {
		const ClassFigures &c = in.queue[q];
		if (!c.present)
			continue;
		const double delay_ms = (1 - o.p99_weight) * std::max(0.0, c.p50_ms) + o.p99_weight * std::max(0.0, c.p99_ms);
		s.delay_factor[q] = 1 + delay_ms / class_ref_ms(o, q);
		sum += class_weight(o, q) * s.utilisation_term / s.delay_factor[q];
		weights += class_weight(o, q);
	}
	s.fairness_term = in.jain < 0 ? 1.0 : std::pow(std::clamp(in.jain, 0.0, 1.0), o.fairness_weight);
	s.score = weights > 0 ? sum / weights * s.fairness_term : 0;
	return s;
}

double decision_reward(const Objective &o, bool l4s, double len_bytes, double delay_us, uint8_t action,
		       double mtu_bytes)
{
	if (o.reward == RewardKind::paper)
		return len_bytes / (delay_us + o.paper_delay_offset_us);
	if (action == 1)
		return 0;
	const int q = l4s ? 1 : 0;
	const double share = class_weight(o, q) / (o.l4s_weight + o.classic_weight);
	return share * (len_bytes / mtu_bytes) / (1 + delay_us / 1e3 / class_ref_ms(o, q));
}

std::string reward_definition(const Objective &o)
{
	char text[160];
	if (o.reward == RewardKind::paper)
		std::snprintf(text, sizeof(text), "packet_length / (current_queue_delay_us + %g)", o.paper_delay_offset_us);
	else
		std::snprintf(text, sizeof(text), "objective: w*sent/mtu/(1+delay/ref) L %g/%gms C %g/%gms", o.l4s_weight,
			      o.l4s_delay_ref_ms, o.classic_weight, o.classic_delay_ref_ms);
	return std::string(text).substr(0, 63); // the .dpp header's field
}

std::string read_objective(const toml::table &root, const std::string &origin, Objective &out)
{
	const toml::node *node = root.get("objective");
	if (!node)
		return {};
	common::TomlReader r{origin, {}};
	const toml::table *t = node->as_table();
	if (!t) {
		r.fail(*node, "objective", "expected a table [objective]");
		return r.error;
	}
	Objective o;
	std::string reward = "objective";
	if (!r.only_keys(*t, "[objective]",
			 {"l4s_weight", "classic_weight", "l4s_delay_ref_ms", "classic_delay_ref_ms", "p99_weight",
			  "utilisation_floor", "floor_exponent", "fairness_weight", "reward", "paper_delay_offset_us"}) ||
	    !read_number(r, *t, "l4s_weight", o.l4s_weight, true) ||
	    !read_number(r, *t, "classic_weight", o.classic_weight, true) ||
	    !read_number(r, *t, "l4s_delay_ref_ms", o.l4s_delay_ref_ms, false) ||
	    !read_number(r, *t, "classic_delay_ref_ms", o.classic_delay_ref_ms, false) ||
	    !read_number(r, *t, "p99_weight", o.p99_weight, true, 1) ||
	    !read_number(r, *t, "utilisation_floor", o.utilisation_floor, false, 1) ||
	    !read_number(r, *t, "floor_exponent", o.floor_exponent, true, 100) ||
	    !read_number(r, *t, "fairness_weight", o.fairness_weight, true, 100) || !r.text(*t, "reward", reward) ||
	    !read_number(r, *t, "paper_delay_offset_us", o.paper_delay_offset_us, false))
		return r.error;
	if (o.l4s_weight + o.classic_weight == 0) {
		r.fail(*t, "l4s_weight", "l4s_weight and classic_weight cannot both be 0");
		return r.error;
	}
	if (reward == "objective") {
		o.reward = RewardKind::objective;
	} else if (reward == "paper") {
		o.reward = RewardKind::paper;
	} else {
		r.fail(*t->get("reward"), "reward", "expected \"objective\" or \"paper\"");
		return r.error;
	}
	out = o;
	return {};
}

std::string load_objective(const std::string &path, Objective &out)
{
	std::string text;
	if (std::string err = common::read_file(path, "objective file", text); !err.empty())
		return err;
	toml::table root;
	if (std::string err = common::parse_toml(text, path, root); !err.empty())
		return err;
	return read_objective(root, path, out);
}

ObjectiveInputs as_printed(const ObjectiveInputs &exact)
{
	auto round_to = [](double v, double unit) { return std::round(v / unit) * unit; };
	ObjectiveInputs in = exact;
	for (ClassFigures &c : in.queue) {
		c.p50_ms = round_to(c.p50_ms, 1e-4);
		c.p99_ms = round_to(c.p99_ms, 1e-4);
	}
	in.utilisation = round_to(in.utilisation, 1e-6);
	if (in.jain >= 0)
		in.jain = round_to(in.jain, 1e-4);
	return in;
}

std::string objective_line(const ObjectiveInputs &exact, const Objective &o)
{
	// Scored on the inputs as printed, so that a reader of the line who
	// scores them again (dualpilot-score) gets the same number.
	const ObjectiveInputs in = as_printed(exact);
	const ObjectiveScore s = score(in, o);
	auto cls = [&](int q, const char *name) {
		char t[96];
		if (!in.queue[q].present)
			std::snprintf(t, sizeof(t), "%s -", name);
		else
			std::snprintf(t, sizeof(t), "%s p50 %.4f p99 %.4f ms", name, in.queue[q].p50_ms, in.queue[q].p99_ms);
		return std::string(t);
	};
	char jain[32];
	if (in.jain < 0)
		std::snprintf(jain, sizeof(jain), "-");
	else
		std::snprintf(jain, sizeof(jain), "%.4f", in.jain);
	char head[64], tail[96];
	std::snprintf(head, sizeof(head), "objective: score %.4f (", s.score);
	std::snprintf(tail, sizeof(tail), ", utilisation %.4f %%, Jain %s)", 100 * in.utilisation, jain);
	return head + cls(1, "L") + ", " + cls(0, "C") + tail;
}

} // namespace dualpilot::sim
