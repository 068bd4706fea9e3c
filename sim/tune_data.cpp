#include "sim/tune_data.hpp"

#include <cmath>

#include "aqm/random.hpp"
#include "sim/bench_grid.hpp"
#include "sim/parallel.hpp"
#include "sim/simulation.hpp"
#include "sim/tally.hpp"

namespace dualpilot::sim {

namespace {

using Schedule = std::vector<RunOptions::ScheduledSetting>;

constexpr double kTieLogRatio = 0.02; // 2 % a segment

RunResult run_with(const TuneDataConfig &c, const Scenario &sc, uint64_t seed, const Schedule &schedule,
		   uint64_t delay_ns, bool record)
{
	auto built = aqm::make_aqm("dualpi2", c.base, seed); // checked by make_tune_data
	RunOptions o;
	o.seed = seed;
	o.objective = sc.objective;
	o.segment_ns = record ? 0 : c.segment_ns;
	o.tune = c.tune;
	o.decision_delay_ns = delay_ns;
	o.tune_schedule = schedule;
	o.record_tune_states = record;
	return run_scenario(sc, std::move(*built.aqm), o);
}

// A behaviour: settings held for a random time each, drawn over the table
// and the base, from the cell's seed and the run's index.
Schedule random_schedule(const TuneDataConfig &c, uint64_t duration_ns, uint64_t seed, uint32_t run, size_t actions)
{
	aqm::Rng rng(seed * 0x9e3779b97f4a7c15ull + run * 0xbf58476d1ce4e5b9ull + 17);
	Schedule out;
	for (uint64_t t = 0; t < duration_ns;) {
		const bool base = rng.next_double() < c.base_share;
		out.push_back({t, base ? experience::kBaseSetting : static_cast<uint16_t>(rng.next_u64() % actions)});
		t += c.min_hold_ns + rng.next_u64() % (c.max_hold_ns - c.min_hold_ns + 1);
	}
	return out;
}

// One cell's whole runs: per action, the log score of each segment, and
// whether it keeps the L4S promise over the run against the base's.
struct Hindsight {
	std::vector<std::vector<double>> log_score; // [action][segment]
	std::vector<double> run_log_score;          // [action]: the whole measured run
	std::vector<bool> admissible;
	double base_l99 = 0;
};

uint8_t label_at(const Hindsight &h, const TuneDataConfig &c, uint64_t warmup_ns, uint64_t at_ns)
{
	const size_t segments = h.log_score.empty() ? 0 : h.log_score[0].size();
	const size_t first = std::min<size_t>(at_ns < warmup_ns ? 0 : (at_ns - warmup_ns) / c.segment_ns,
					      segments ? segments - 1 : 0);
	const size_t last = std::min<size_t>(first + std::max<uint64_t>(1, c.horizon_ns / c.segment_ns), segments);
	bool any = false;
	for (bool a : h.admissible)
		any = any || a;
	std::vector<double> sum(h.log_score.size(), -1e300);
	double best_sum = -1e300;
	for (size_t k = 0; k < h.log_score.size(); k++) {
		if (any && !h.admissible[k])
			continue;
		sum[k] = 0;
		for (size_t i = first; i < last; i++)
			sum[k] += h.log_score[k][i];
		best_sum = std::max(best_sum, sum[k]);
	}
	// Settings within kTieLogRatio a segment of the best are as good on
	// this stretch: the one best over the whole run is the label, so that
	// labels do not flicker between near ties from one interval to the next.
	const double tie = kTieLogRatio * static_cast<double>(last - first);
	size_t best = 0;
	double best_run = -1e300;
	for (size_t k = 0; k < sum.size(); k++)
		if (sum[k] >= best_sum - tie && h.run_log_score[k] > best_run) {
			best_run = h.run_log_score[k];
			best = k;
		}
	return static_cast<uint8_t>(best);
}

} // namespace

std::string make_tune_data(const TuneDataConfig &c, const std::vector<Scenario> &cells,
			   const std::vector<uint64_t> &seeds, TuneData &out)
{
	if (std::string err = policy::check_tune_config(c.tune); !err.empty())
		return "[policy.tune] " + err;
	if (auto built = aqm::make_aqm("dualpi2", c.base); !built.error.empty())
		return "the base: " + built.error;
	if (cells.size() != seeds.size() || cells.empty())
		return "the tuner's data needs training cells, one seed each";
	if (c.decision_delays_ns.empty() || c.min_hold_ns == 0 || c.max_hold_ns < c.min_hold_ns || c.segment_ns == 0)
		return "the tuner's data needs decision delays and holds of 0 < min <= max";
	const size_t k = policy::tune_actions(c.tune).size();
	const size_t per_cell = (k + 1) + c.behaviour_runs; // the base, each action, the behaviours
	std::vector<Hindsight> hindsight(cells.size());
	for (Hindsight &h : hindsight) {
		h.log_score.assign(k, {});
		h.admissible.assign(k, false);
		h.run_log_score.assign(k, 0);
	}
	std::vector<std::vector<double>> l99(cells.size(), std::vector<double>(k + 1));
	std::vector<std::vector<RunResult>> behaviour(cells.size(), std::vector<RunResult>(c.behaviour_runs));
	parallel_for(cells.size() * per_cell, c.threads, [&](size_t job, uint32_t) {
		const size_t i = job / per_cell, j = job % per_cell;
		const Scenario &sc = cells[i];
		if (j <= k) {
			const uint16_t action = j == 0 ? experience::kBaseSetting : static_cast<uint16_t>(j - 1);
			const RunResult r = run_with(c, sc, seeds[i], {{0, action}}, 0, false);
			l99[i][j] = tally_inputs(r.measured).queue[1].p99_ms;
			if (j > 0)
				hindsight[i].run_log_score[j - 1] =
					std::log(std::max(1e-9, score(tally_inputs(r.measured), sc.objective).score));
			if (j > 0)
				for (const Tally &t : r.segments)
					hindsight[i].log_score[j - 1].push_back(
						std::log(std::max(1e-9, score(tally_inputs(t), sc.objective).score)));
			return;
		}
		const uint32_t run = static_cast<uint32_t>(j - k - 1);
		behaviour[i][run] = run_with(c, sc, seeds[i], random_schedule(c, sc.duration_ns, seeds[i], run, k),
					     c.decision_delays_ns[run % c.decision_delays_ns.size()], true);
	});
	out = {};
	out.label_counts.assign(k, 0);
	for (size_t i = 0; i < cells.size(); i++) {
		for (size_t a = 0; a < k; a++)
			hindsight[i].admissible[a] = keeps_l4s_promise(l99[i][a + 1], l99[i][0]);
		for (const RunResult &r : behaviour[i]) {
			out.runs++;
			for (const RunResult::TuneTrace &t : r.tune_states) {
				out.states.insert(out.states.end(), t.state.begin(), t.state.end());
				const uint8_t label = label_at(hindsight[i], c, cells[i].warmup_ns, t.at_ns);
				out.labels.push_back(label);
				out.label_counts[label]++;
				out.dones.push_back(0);
			}
			if (!out.dones.empty())
				out.dones.back() = 1;
		}
		out.runs += k + 1;
	}
	return {};
}

} // namespace dualpilot::sim
