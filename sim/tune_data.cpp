#include "sim/tune_data.hpp"

#include <cmath>

#include "aqm/random.hpp"
#include "aqm/units.hpp"
#include "sim/bench_grid.hpp"
#include "sim/parallel.hpp"
#include "sim/simulation.hpp"
#include "sim/tally.hpp"

namespace dualpilot::sim {

namespace {

using Schedule = std::vector<RunOptions::ScheduledSetting>;

constexpr double kTieLogRatio = 0.02; // 2 % a segment

// A run of the scenario over `base`: whole (no schedule: the base alone,
// its tallies by segment), or a behaviour's (the tuner's schedule over the
// base, its states recorded).
RunResult run_with(const TuneDataConfig &c, const std::vector<aqm::Setting> &base, const Scenario &sc,
		   uint64_t seed, const Schedule &schedule, uint64_t delay_ns)
{
	auto built = aqm::make_aqm("dualpi2", base, seed); // checked by make_tune_data
	const bool record = !schedule.empty();
	RunOptions o;
	o.seed = seed;
	o.objective = sc.objective;
	o.segment_ns = record ? 0 : c.segment_ns;
	if (record) {
		o.tune = c.tune;
		o.decision_delay_ns = delay_ns;
		o.tune_schedule = schedule;
		o.record_tune_states = true;
	}
	return run_scenario(sc, std::move(*built.aqm), o);
}

// One whole run's figures: the objective's, and the log score of each segment.
struct WholeRun {
	double score = 0, l99 = 0, util = 0, balance = -1;
	std::vector<double> segment_log_score;
};

WholeRun whole_figures(const RunResult &r, const Scenario &sc)
{
	WholeRun w;
	const experience::ObjectiveInputs in = tally_inputs(r.measured);
	w.score = score(in, sc.objective).score;
	w.l99 = in.queue[1].p99_ms;
	w.util = in.utilisation;
	w.balance = in.rate_balance;
	for (const Tally &t : r.segments)
		w.segment_log_score.push_back(std::log(std::max(1e-9, score(tally_inputs(t), sc.objective).score)));
	return w;
}

// The tuned default over the cells' whole runs ([cell][candidate], candidate
// 0 tc's defaults, 1 + a the table's entry a): dualpilot-baselines' rule.
size_t searched_base(const std::vector<std::vector<WholeRun>> &whole)
{
	size_t best = 0;
	double best_mean = -1;
	const double cells = static_cast<double>(whole.size());
	for (size_t k = 0; k < whole[0].size(); k++) {
		double sum = 0, kept = 0;
		for (const auto &cell : whole) {
			sum += cell[k].score;
			kept += keeps_l4s_promise(cell[k].l99, cell[0].l99);
		}
		if (kept >= kL4sPromiseShare * cells && sum / cells > best_mean) {
			best_mean = sum / cells;
			best = k;
		}
	}
	return best;
}

bool within_limits(const WholeRun &x, const WholeRun &base, bool balance)
{
	return within_tuner_limits(x.l99, x.util, x.balance, base.l99, base.util, balance);
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
// whether it stays within the limits over the run against the base's.
struct Hindsight {
	std::vector<std::vector<double>> log_score; // [action][segment]
	std::vector<double> run_log_score;          // [action]: the whole measured run
	std::vector<bool> admissible;
};

// A cell's hindsight from its whole runs (candidate 0 tc's defaults, 1 + a
// entry a) against the base candidate. False where no entry met every
// limit, and the rate balance was left out.
bool hindsight_of(const std::vector<WholeRun> &whole, size_t base, Hindsight &h)
{
	const size_t k = whole.size() - 1;
	h = {};
	for (size_t a = 0; a < k; a++) {
		h.log_score.push_back(whole[a + 1].segment_log_score);
		h.run_log_score.push_back(std::log(std::max(1e-9, whole[a + 1].score)));
	}
	for (bool balance : {true, false}) {
		h.admissible.assign(k, false);
		bool any = false;
		for (size_t a = 0; a < k; a++)
			any |= h.admissible[a] = within_limits(whole[a + 1], whole[base], balance);
		if (any)
			return balance;
	}
	return false;
}

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

namespace {

// Each behaviour run's recorded intervals, labelled, as one episode.
void label_behaviours(const Hindsight &h, const TuneDataConfig &c, const Scenario &sc,
		      const std::vector<RunResult> &behaviour, TuneData &out)
{
	for (const RunResult &r : behaviour) {
		out.runs++;
		for (const RunResult::TuneTrace &t : r.tune_states) {
			out.states.insert(out.states.end(), t.state.begin(), t.state.end());
			const uint8_t label = label_at(h, c, sc.warmup_ns, t.at_ns);
			out.labels.push_back(label);
			out.label_counts[label]++;
			out.dones.push_back(0);
		}
		if (!out.dones.empty())
			out.dones.back() = 1;
	}
}

// Phase one: every cell's whole runs, tc's defaults and each table entry.
std::vector<std::vector<WholeRun>> whole_runs(const TuneDataConfig &c, const std::vector<Scenario> &cells,
					      const std::vector<uint64_t> &seeds,
					      const std::vector<policy::TuneSetting> &table)
{
	const size_t per_cell = table.size() + 1;
	std::vector<std::vector<WholeRun>> whole(cells.size(), std::vector<WholeRun>(per_cell));
	parallel_for(cells.size() * per_cell, c.threads, [&](size_t job, uint32_t) {
		const size_t i = job / per_cell, j = job % per_cell;
		const std::vector<aqm::Setting> settings = j == 0 ? std::vector<aqm::Setting>{} : settings_of(table[j - 1]);
		whole[i][j] = whole_figures(run_with(c, settings, cells[i], seeds[i], {}, 0), cells[i]);
	});
	return whole;
}

} // namespace

std::vector<aqm::Setting> settings_of(const policy::TuneSetting &s)
{
	return {{"typical_rtt", aqm::format_time(s.target_ns)},
		{"max_rtt", aqm::format_time(s.max_rtt_ns)},
		{"step_thresh", aqm::format_time(s.step_thresh_ns)},
		{"coupling_factor", std::to_string(s.coupling)}};
}

bool within_tuner_limits(double l99_ms, double util, double rate_balance, double base_l99_ms, double base_util,
			 bool balance)
{
	const bool balanced = rate_balance <= 0 || (rate_balance >= 0.5 && rate_balance <= 2);
	return l99_ms <= base_l99_ms + 0.1 + 1e-9 && util >= base_util - 0.01 - 1e-12 && (!balance || balanced);
}

std::string make_tune_data(const TuneDataConfig &c, const std::vector<Scenario> &cells,
			   const std::vector<uint64_t> &seeds, TuneData &out)
{
	if (std::string err = policy::check_tune_config(c.tune); !err.empty())
		return "[policy.tune] " + err;
	if (cells.size() != seeds.size() || cells.empty())
		return "the tuner's data needs training cells, one seed each";
	if (c.decision_delays_ns.empty() || c.min_hold_ns == 0 || c.max_hold_ns < c.min_hold_ns || c.segment_ns == 0)
		return "the tuner's data needs decision delays and holds of 0 < min <= max";
	const std::vector<policy::TuneSetting> table = policy::tune_actions(c.tune);
	const size_t k = table.size();
	out = {};
	const std::vector<std::vector<WholeRun>> whole = whole_runs(c, cells, seeds, table);
	const size_t base = searched_base(whole); // a candidate: 0 tc's defaults, 1 + a entry a
	out.base = base == 0 ? std::vector<aqm::Setting>{} : settings_of(table[base - 1]);
	out.base_label = base == 0 ? "tc defaults" : policy::describe(table[base - 1]);
	std::vector<std::vector<RunResult>> behaviour(cells.size(), std::vector<RunResult>(c.behaviour_runs));
	parallel_for(cells.size() * c.behaviour_runs, c.threads, [&](size_t job, uint32_t) {
		const size_t i = job / c.behaviour_runs;
		const uint32_t run = static_cast<uint32_t>(job % c.behaviour_runs);
		behaviour[i][run] = run_with(c, out.base, cells[i], seeds[i],
					     random_schedule(c, cells[i].duration_ns, seeds[i], run, k),
					     c.decision_delays_ns[run % c.decision_delays_ns.size()]);
	});
	out.label_counts.assign(k, 0);
	for (size_t i = 0; i < cells.size(); i++) {
		Hindsight h;
		out.cells_none_within += !hindsight_of(whole[i], base, h);
		label_behaviours(h, c, cells[i], behaviour[i], out);
		out.runs += k + 1;
	}
	return {};
}

} // namespace dualpilot::sim
