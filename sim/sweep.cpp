#include "sim/sweep.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>
#include <tuple>

#include "aqm/random.hpp"
#include "aqm/units.hpp"
#include "common/toml_reader.hpp"
#include "sim/heldout.hpp"

namespace dualpilot::sim {

namespace {

using common::TomlReader;

constexpr std::string_view kBehaviours[] = {"dualpi2", "dualpi2-random", "pie", "codel", "fifo"};

template <typename T, typename Parse>
bool unit_list(TomlReader &r, const toml::table &t, std::string_view key, std::vector<T> &out, Parse parse,
	       const char *example)
{
	const toml::node *n = t.get(key);
	if (!n)
		return true;
	const toml::array *a = n->as_array();
	if (!a || a->empty())
		return r.fail(*n, key, std::string("expected a non-empty array such as [\"") + example + "\"]");
	out.clear();
	for (const toml::node &e : *a) {
		if (!e.is_string())
			return r.fail(e, key, std::string("expected strings such as \"") + example + "\"");
		uint64_t v = 0;
		if (std::string err = parse(e.as_string()->get(), v); !err.empty())
			return r.fail(e, key, err);
		if (v == 0)
			return r.fail(e, key, "must be greater than 0");
		out.push_back(v);
	}
	return true;
}

bool read_sweep_table(TomlReader &r, const toml::table &t, Sweep &s)
{
	if (!r.only_keys(t, "[sweep]",
			 {"name", "rates", "rtts", "behaviours", "epsilon", "seeds", "cells", "seed", "duration", "warmup"}))
		return false;
	uint32_t seed32 = 1;
	if (!r.text(t, "name", s.name) || !unit_list(r, t, "rates", s.rates_bps, aqm::parse_rate_bps, "8mbit") ||
	    !unit_list(r, t, "rtts", s.rtts_ns, aqm::parse_time_ns, "20ms") || !r.integer(t, "seeds", s.seeds, 1, 1000) ||
	    !r.integer(t, "cells", s.cells, 0, 1000000) || !r.integer(t, "seed", seed32, 0, 2147483647) ||
	    !r.time(t, "duration", s.duration_ns) || !r.time(t, "warmup", s.warmup_ns))
		return false;
	s.seed = seed32;
	if (s.warmup_ns >= s.duration_ns)
		return r.fail(t, "warmup", "must be shorter than duration");
	if (const toml::node *n = t.get("behaviours")) {
		const toml::array *a = n->as_array();
		if (!a || a->empty())
			return r.fail(*n, "behaviours", "expected a non-empty array of names");
		for (const toml::node &e : *a) {
			const std::string name = e.is_string() ? e.as_string()->get() : "";
			if (std::find(std::begin(kBehaviours), std::end(kBehaviours), name) == std::end(kBehaviours))
				return r.fail(e, "behaviours",
					      "unknown behaviour '" + name + "' (known: dualpi2 dualpi2-random pie codel fifo)");
			s.behaviours.push_back(name);
		}
	}
	if (const toml::node *n = t.get("epsilon")) {
		const toml::array *a = n->as_array();
		if (!a || a->empty())
			return r.fail(*n, "epsilon", "expected a non-empty array of probabilities, e.g. [0, 0.05]");
		s.epsilons.clear();
		for (const toml::node &e : *a) {
			const double v = e.is_integer()		 ? static_cast<double>(e.as_integer()->get())
					 : e.is_floating_point() ? e.as_floating_point()->get()
								 : -1;
			if (!(v >= 0 && v <= 1))
				return r.fail(e, "epsilon", "each must be a probability, 0..1");
			s.epsilons.push_back(v);
		}
	}
	if (s.rates_bps.empty() || s.rtts_ns.empty() || s.behaviours.empty())
		return r.fail(t, "sweep", "rates, rtts and behaviours are required");
	return true;
}

// A mix's flows as [[flows]] tables, formatted back to TOML; `rtt` is added
// per cell to the flows that have none.
bool read_mix(TomlReader &r, const toml::table &t, SweepMix &m)
{
	if (!r.only_keys(t, "[[mix]]", {"name", "flows"}) || !r.text(t, "name", m.name))
		return false;
	if (m.name.empty())
		return r.fail(t, "name", "a [[mix]] needs a name");
	const toml::array *flows = t["flows"].as_array();
	if (!flows || flows->empty())
		return r.fail(t, "flows", "a [[mix]] needs flows = [{cc = \"cubic\"}, ...]");
	std::ostringstream out;
	for (const toml::node &f : *flows) {
		if (!f.is_table())
			return r.fail(f, "flows", "expected inline tables such as {cc = \"cubic\", count = 2}");
		toml::table block = *f.as_table();
		block.is_inline(false); // key = value lines, not { ... }
		out << "[[flows]]\n" << toml::toml_formatter(block) << "\n";
	}
	m.flows_toml = out.str();
	return true;
}

std::string with_rtt(const std::string &flows_toml, uint64_t rtt_ns)
{
	// Each [[flows]] block without its own rtt gets the cell's.
	std::string out;
	std::istringstream in(flows_toml);
	std::string line, block;
	auto flush = [&]() {
		if (block.empty())
			return;
		if (block.find("\nrtt = ") == std::string::npos)
			block += "rtt = \"" + std::to_string(rtt_ns / 1000) + "us\"\n";
		out += block;
		block.clear();
	};
	while (std::getline(in, line)) {
		if (line == "[[flows]]")
			flush();
		if (!line.empty())
			block += line + "\n";
	}
	flush();
	return out;
}

std::string rate_name(uint64_t bps)
{
	char t[32];
	if (bps % 1000000000 == 0)
		std::snprintf(t, sizeof(t), "%llug", static_cast<unsigned long long>(bps / 1000000000));
	else if (bps % 1000000 == 0)
		std::snprintf(t, sizeof(t), "%llum", static_cast<unsigned long long>(bps / 1000000));
	else
		std::snprintf(t, sizeof(t), "%llub", static_cast<unsigned long long>(bps));
	return t;
}

// dualpi2-random: each parameter drawn log-uniformly from a range around
// tc's default (target 15 ms: 5-40 ms; tupdate 16 ms: 8-32 ms; alpha 0.16 Hz
// and beta 3.2 Hz: each x0.5-x2; coupling_factor 1-4; step_thresh 1 ms:
// 0.5-4 ms), so the pools hold the consequences of many static settings.
std::vector<aqm::Setting> random_dualpi2(aqm::Rng &rng)
{
	auto log_uniform = [&](double lo, double hi) { return lo * std::pow(hi / lo, rng.next_double()); };
	char v[32];
	std::vector<aqm::Setting> s;
	std::snprintf(v, sizeof(v), "%.0fus", log_uniform(5000, 40000));
	s.push_back({"target", v});
	std::snprintf(v, sizeof(v), "%.0fus", log_uniform(8000, 32000));
	s.push_back({"tupdate", v});
	std::snprintf(v, sizeof(v), "%.4f", 0.16 * log_uniform(0.5, 2));
	s.push_back({"alpha", v});
	std::snprintf(v, sizeof(v), "%.4f", 3.2 * log_uniform(0.5, 2));
	s.push_back({"beta", v});
	s.push_back({"coupling_factor", std::to_string(1 + rng.next_u64() % 4)});
	std::snprintf(v, sizeof(v), "%.0fus", log_uniform(500, 4000));
	s.push_back({"step_thresh", v});
	return s;
}

} // namespace

std::string parse_sweep(std::string_view text, const std::string &origin, Sweep &out, bool *no_sweep_table)
{
	if (no_sweep_table)
		*no_sweep_table = false;
	toml::table root;
	if (std::string err = common::parse_toml(text, origin, root); !err.empty())
		return err;
	TomlReader r{origin, {}};
	Sweep s;
	const toml::table *t = root["sweep"].as_table();
	if (!t) {
		if (no_sweep_table)
			*no_sweep_table = true;
		return origin + ": no [sweep] table";
	}
	if (!read_sweep_table(r, *t, s))
		return r.error;
	if (const toml::node *mixes = root.get("mix")) {
		const toml::array *a = mixes->as_array();
		if (!a)
			return r.where(*mixes, "mix") + "expected [[mix]] tables";
		for (const toml::node &n : *a) {
			SweepMix m;
			if (!n.is_table() || !read_mix(r, *n.as_table(), m))
				return r.error.empty() ? r.where(n, "mix") + "expected [[mix]] tables" : r.error;
			for (const SweepMix &other : s.mixes)
				if (other.name == m.name)
					return r.where(n, "mix") + "two mixes named '" + m.name + "'";
			s.mixes.push_back(m);
		}
	} else if (root.get("flows")) {
		// A scenario file with a [sweep] table: its flows are the one mix.
		Scenario sc;
		toml::table copy = root;
		copy.erase("sweep");
		std::ostringstream scenario_text;
		scenario_text << toml::toml_formatter(copy);
		if (std::string err = parse_scenario(scenario_text.str(), origin, sc); !err.empty())
			return err;
		SweepMix m{sc.name.empty() ? "scenario" : sc.name, {}};
		std::ostringstream flows;
		for (const toml::node &f : *root["flows"].as_array())
			flows << "[[flows]]\n" << toml::toml_formatter(*f.as_table()) << "\n";
		m.flows_toml = flows.str();
		s.mixes.push_back(m);
	}
	if (s.mixes.empty())
		return origin + ": the sweep has no [[mix]] tables (and is no scenario with [[flows]])";
	if (std::string err = experience::read_objective(root, origin, s.objective); !err.empty())
		return err;
	out = std::move(s);
	return {};
}

std::string load_sweep(const std::string &path, Sweep &out, bool *no_sweep_table)
{
	if (no_sweep_table)
		*no_sweep_table = false;
	std::string text;
	if (std::string err = common::read_file(path, "sweep file", text); !err.empty())
		return err;
	return parse_sweep(text, path, out, no_sweep_table);
}

std::string sweep_cells(const Sweep &sw, std::vector<SweepCell> &out)
{
	std::vector<SweepCell> cells;
	aqm::Rng rng(sw.seed * 0x2545f4914f6cdd1dull + 7);
	for (uint64_t rate : sw.rates_bps)
		for (uint64_t rtt : sw.rtts_ns)
			for (const SweepMix &mix : sw.mixes)
				for (const std::string &behaviour : sw.behaviours)
					for (double eps : sw.epsilons)
						for (uint32_t k = 0; k < sw.seeds; k++) {
							SweepCell c;
							char e[32];
							std::snprintf(e, sizeof(e), "%g", eps);
							c.name = rate_name(rate) + "-" + std::to_string(rtt / 1000) + "us-" + mix.name +
								 "-" + behaviour + "-e" + e + "-s" + std::to_string(sw.seed + k);
							c.seed = sw.seed + k;
							c.mix = mix.name;
							c.behaviour = behaviour;
							c.rtt_ns = rtt;
							c.epsilon = eps;
							c.aqm = behaviour == "dualpi2-random" ? "dualpi2" : behaviour;
							// Drawn for every cell, used or not, so a cell's
							// parameters do not depend on the grid's other axes.
							std::vector<aqm::Setting> random = random_dualpi2(rng);
							if (behaviour == "dualpi2-random")
								c.settings = random;
							// A string, not a fixed buffer: a long mix name must not be cut.
							const std::string head = fmt::format(
								"name = \"{}\"\nduration = \"{}us\"\nwarmup = \"{}us\"\n[bottleneck]\nrate = \"{}bit\"\n",
								c.name, sw.duration_ns / 1000, sw.warmup_ns / 1000, rate);
							const std::string text = head + with_rtt(mix.flows_toml, rtt);
							if (std::string err = parse_scenario(text, "sweep cell " + c.name, c.scenario);
							    !err.empty())
								return err;
							c.scenario.objective = sw.objective;
							cells.push_back(std::move(c));
						}
	if (sw.cells > 0 && sw.cells < cells.size()) {
		// A seeded partial Fisher-Yates: the first `cells` of a shuffle, in grid order.
		std::vector<size_t> idx(cells.size());
		for (size_t i = 0; i < idx.size(); i++)
			idx[i] = i;
		for (size_t i = 0; i < sw.cells; i++)
			std::swap(idx[i], idx[i + rng.next_u64() % (idx.size() - i)]);
		idx.resize(sw.cells);
		std::sort(idx.begin(), idx.end());
		std::vector<SweepCell> kept;
		for (size_t i : idx)
			kept.push_back(std::move(cells[i]));
		cells = std::move(kept);
	}
	out = std::move(cells);
	return {};
}

std::vector<size_t> best_cell_per_scenario(const std::vector<SweepCell> &cells, const std::vector<double> &scores)
{
	std::vector<size_t> best;
	std::map<std::tuple<uint64_t, uint64_t, std::string>, size_t> slot_of; // scenario -> its place in best
	for (size_t i = 0; i < cells.size() && i < scores.size(); i++) {
		const auto key = std::make_tuple(cells[i].scenario.rate_bps, cells[i].rtt_ns, cells[i].mix);
		const auto [it, fresh] = slot_of.try_emplace(key, best.size());
		if (fresh)
			best.push_back(i);
		else if (scores[i] > scores[best[it->second]])
			best[it->second] = i;
	}
	return best;
}

std::string check_sweep_against_heldout(const Sweep &sw, const std::string &heldout_dir)
{
	if (experience::is_heldout_name(sw.name))
		return "sweep '" + sw.name + "': held-out scenarios are never swept for training";
	for (const SweepMix &m : sw.mixes)
		if (experience::is_heldout_name(m.name))
			return "mix '" + m.name + "': held-out scenarios are never swept for training";
	std::vector<Scenario> heldout;
	if (std::string err = load_scenario_dir(heldout_dir, heldout); !err.empty())
		return err;
	// Every scenario of the whole grid (whatever cells a run draws), once.
	Sweep grid = sw;
	grid.behaviours = {"dualpi2"};
	grid.epsilons = {0};
	grid.seeds = 1;
	grid.cells = 0;
	std::vector<SweepCell> cells;
	if (std::string err = sweep_cells(grid, cells); !err.empty())
		return err;
	for (const SweepCell &c : cells)
		if (std::string why = heldout_refusal(c.scenario, heldout); !why.empty())
			return "sweep '" + sw.name + "': cell " + why;
	for (const Scenario &h : heldout) {
		for (uint64_t rate : sw.rates_bps)
			if (rate == h.rate_bps)
				return "rate " + rate_name(rate) + "bit is held-out scenario " + h.name +
				       "'s: training never sees a held-out rate";
		for (const FlowSpec &f : h.flows)
			for (uint64_t rtt : sw.rtts_ns)
				if (f.cc != CcKind::udp && rtt == f.rtt_ns) // a UDP flow's RTT carries nothing back
					return "RTT " + aqm::format_time(rtt) + " is held-out scenario " + h.name +
					       "'s: training never sees a held-out RTT";
	}
	return {};
}

std::string training_cells(const std::string &sweep_path, const std::string &heldout_dir, uint32_t count,
			   std::vector<Scenario> &scenarios, std::vector<uint64_t> &seeds)
{
	Sweep sweep;
	if (std::string err = load_sweep(sweep_path, sweep); !err.empty())
		return err;
	if (std::string err = check_sweep_against_heldout(sweep, heldout_dir); !err.empty())
		return err;
	sweep.behaviours = {"dualpi2"};
	sweep.epsilons = {0};
	sweep.seeds = 1;
	sweep.cells = count;
	std::vector<SweepCell> cells;
	if (std::string err = sweep_cells(sweep, cells); !err.empty())
		return err;
	for (const SweepCell &c : cells) {
		scenarios.push_back(c.scenario);
		seeds.push_back(c.seed);
	}
	return {};
}

} // namespace dualpilot::sim
