// The [objective] table: the objective's weights from any TOML file (a
// scenario, the router's config, perf/eval's config). Apart from
// objective.cpp so that what only scores (the pool code, the fuzzers) needs
// no TOML library.
#include "experience/objective.hpp"

#include <cmath>

#include "common/toml_reader.hpp"

namespace dualpilot::experience {

namespace {

// A positive finite number, or (with zero_ok) zero.
bool read_number(common::TomlReader &r, const toml::table &t, std::string_view key, double &out, bool zero_ok,
		 double hi = 1e9)
{
	const toml::node *n = nullptr;
	double v = 0;
	if (!r.number(t, key, v, n))
		return false;
	if (!n)
		return true; // absent: out keeps its default
	if (!std::isfinite(v) || v < 0 || (v == 0 && !zero_ok) || v > hi)
		return r.fail(*n, key, std::string("must be ") + (zero_ok ? "at least 0" : "greater than 0") +
					       " and at most " + std::to_string(hi));
	out = v;
	return true;
}

} // namespace

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
			  "utilisation_floor", "floor_exponent", "fairness_weight", "drop_penalty_ms", "balance_weight", "reward",
			  "paper_delay_offset_us"}) ||
	    !read_number(r, *t, "l4s_weight", o.l4s_weight, true) ||
	    !read_number(r, *t, "classic_weight", o.classic_weight, true) ||
	    !read_number(r, *t, "l4s_delay_ref_ms", o.l4s_delay_ref_ms, false) ||
	    !read_number(r, *t, "classic_delay_ref_ms", o.classic_delay_ref_ms, false) ||
	    !read_number(r, *t, "p99_weight", o.p99_weight, true, 1) ||
	    !read_number(r, *t, "utilisation_floor", o.utilisation_floor, false, 1) ||
	    !read_number(r, *t, "floor_exponent", o.floor_exponent, true, 100) ||
	    !read_number(r, *t, "fairness_weight", o.fairness_weight, true, 100) ||
	    !read_number(r, *t, "drop_penalty_ms", o.drop_penalty_ms, true, 10000) ||
	    !read_number(r, *t, "balance_weight", o.balance_weight, true, 100) || !r.text(*t, "reward", reward) ||
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

std::string parse_objective(std::string_view text, const std::string &origin, Objective &out)
{
	toml::table root;
	if (std::string err = common::parse_toml(text, origin, root); !err.empty())
		return err;
	return read_objective(root, origin, out);
}

std::string load_objective(const std::string &path, Objective &out)
{
	std::string text;
	if (std::string err = common::read_file(path, "objective file", text); !err.empty())
		return err;
	return parse_objective(text, path, out);
}

} // namespace dualpilot::experience
