#include "sim/heldout_bench.hpp"

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>

#include "sim/parallel.hpp"
#include "sim/sim_policy.hpp"
#include "sim/tally.hpp"

namespace dualpilot::sim {

namespace {

// What a run needs beyond the scenario, the settings and the seed.
struct RunSpec {
	uint64_t segment_ns = 0;
	SimPolicy *pilot = nullptr;
	uint64_t decision_delay_ns = 0;
	SimTuner *tuner = nullptr;
};

RunResult run_once(const BenchConfig &c, const Scenario &sc, const std::vector<aqm::Setting> &settings, uint64_t seed,
		   const RunSpec &spec)
{
	// The grid and the pilot's base were checked by validate_grid(): make_aqm
	// cannot fail here.
	auto built = aqm::make_aqm("dualpi2", settings, seed);
	RunOptions opt;
	opt.seed = seed;
	opt.objective = sc.objective;
	opt.segment_ns = spec.segment_ns;
	if (spec.pilot) {
		opt.pilot = spec.pilot->loop();
		opt.decision_delay_ns = spec.decision_delay_ns;
		opt.inference_interval = c.inference_interval;
		opt.override_ttl_ns = c.override_ttl_ns;
	}
	if (spec.tuner) {
		opt.tuner = spec.tuner->loop();
		opt.tune = c.tune;
		opt.decision_delay_ns = spec.decision_delay_ns;
	}
	return run_scenario(sc, std::move(*built.aqm), opt);
}

std::string validate_grid(const BenchConfig &c)
{
	if (c.grid.empty() || !c.grid[0].settings.empty())
		return "the grid must begin with tc's defaults";
	for (const Candidate &k : c.grid)
		if (auto built = aqm::make_aqm("dualpi2", k.settings); !built.error.empty())
			return "grid setting '" + k.label + "': " + built.error;
	if (c.pilot_base == PilotBase::settings)
		if (auto built = aqm::make_aqm("dualpi2", c.pilot_base_settings); !built.error.empty())
			return "the pilot's base: " + built.error;
	if (c.report_seeds.empty() || c.selection_seeds.empty())
		return "the benchmark needs report seeds and selection seeds";
	for (uint64_t s : c.selection_seeds)
		if (std::find(c.report_seeds.begin(), c.report_seeds.end(), s) != c.report_seeds.end())
			return "selection seed " + std::to_string(s) + " is also a report seed: the oracle would be chosen on "
			       "the runs it is reported on";
	return {};
}

// Worker-local pilots: a SimPolicy keeps per-run contexts.
[[nodiscard]] std::string load_pilots(const BenchConfig &c, std::vector<std::unique_ptr<SimPolicy>> &out)
{
	if (c.model_path.empty())
		return {};
	for (uint32_t w = 0; w < std::max(1u, c.threads); w++) {
		out.push_back(std::make_unique<SimPolicy>());
		if (std::string err = out.back()->load(c.model_path); !err.empty())
			return err;
	}
	return {};
}

// Worker-local pilots and tuners, where the config names them.
[[nodiscard]] std::string load_learned(const BenchConfig &c, std::vector<std::unique_ptr<SimPolicy>> &pilots,
				       std::vector<std::unique_ptr<SimTuner>> &tuners)
{
	if (std::string err = load_pilots(c, pilots); !err.empty())
		return err;
	if (c.tuner_path.empty())
		return {};
	for (uint32_t w = 0; w < std::max(1u, c.threads); w++) {
		tuners.push_back(std::make_unique<SimTuner>());
		if (std::string err = tuners.back()->load(c.tuner_path, c.tune); !err.empty())
			return err;
	}
	return {};
}

// The DualPI2 the pilot overrides and the tuner sets: BenchConfig::pilot_base.
const std::vector<aqm::Setting> &learned_base(const BenchConfig &c, size_t tuned)
{
	return c.pilot_base == PilotBase::settings ? c.pilot_base_settings
	       : c.pilot_base == PilotBase::tuned  ? c.grid[tuned].settings
						   : c.grid[0].settings;
}

// The piecewise oracle on one report seed: every candidate's run, and per
// segment the tally of the best-scoring one among those that keep the L4S
// promise over the whole run; the chosen segments make one tally.
struct Piecewise {
	std::vector<Tally> best;
	std::vector<double> best_score;
	std::vector<size_t> choice;

	void offer(size_t candidate, const RunResult &r, const experience::Objective &o)
	{
		if (best.empty()) {
			best.resize(r.segments.size());
			best_score.assign(r.segments.size(), -1);
			choice.assign(r.segments.size(), 0);
		}
		for (size_t i = 0; i < r.segments.size() && i < best.size(); i++) {
			const double s = score(tally_inputs(r.segments[i]), o).score;
			if (s > best_score[i]) {
				best_score[i] = s;
				best[i] = r.segments[i];
				choice[i] = candidate;
			}
		}
	}
	experience::ObjectiveInputs inputs() const
	{
		Tally all;
		for (const Tally &t : best)
			add_tally(all, t);
		return tally_inputs(all);
	}
};

} // namespace

RunFigures figures_of(const experience::ObjectiveInputs &exact, const experience::Objective &o)
{
	const experience::ObjectiveInputs in = experience::as_printed(exact);
	RunFigures f;
	f.score = score(in, o).score;
	f.score_nofloor = score(in, experience::without_floor(o)).score;
	f.l50 = in.queue[1].p50_ms;
	f.l99 = in.queue[1].p99_ms;
	f.c50 = in.queue[0].p50_ms;
	f.c99 = in.queue[0].p99_ms;
	f.util = in.utilisation;
	f.jain = in.jain;
	f.balance = in.rate_balance;
	return f;
}

std::string search_tuned(const BenchConfig &c, const std::vector<Scenario> &training,
			 const std::vector<uint64_t> &training_seeds, SearchResult &out)
{
	if (std::string err = validate_grid(c); !err.empty())
		return err;
	if (training.empty() || training.size() != training_seeds.size())
		return "the search needs training scenarios, one seed each";
	const size_t g = c.grid.size();
	std::vector<std::vector<RunFigures>> f(training.size(), std::vector<RunFigures>(g));
	parallel_for(training.size() * g, c.threads, [&](size_t job, uint32_t) {
		const size_t t = job / g, k = job % g;
		f[t][k] = figures_of(run_once(c, training[t], c.grid[k].settings, training_seeds[t], {}).objective_inputs(),
				     training[t].objective);
	});
	out = {};
	for (size_t k = 0; k < g; k++) {
		double sum = 0, kept = 0;
		for (size_t t = 0; t < training.size(); t++) {
			sum += f[t][k].score;
			kept += keeps_l4s_promise(f[t][k].l99, f[t][0].l99);
		}
		out.mean_score.push_back(sum / static_cast<double>(training.size()));
		out.admissible.push_back(kept >= kL4sPromiseShare * static_cast<double>(training.size()));
		if (out.admissible[k] && out.mean_score[k] > out.mean_score[out.best])
			out.best = k; // index 0, tc's defaults, always keeps its own figures
	}
	return {};
}

namespace {

// The static oracle of one scenario: the setting with the best mean score on
// the selection seeds ([candidate][seed]) among those that keep the L4S
// promise on them; `none` where no setting does.
size_t static_oracle(const std::vector<std::vector<RunFigures>> &select, size_t none)
{
	size_t oracle = none;
	double best = -1;
	for (size_t k = 0; k < select.size(); k++) {
		double sum = 0, kept = 0;
		const size_t ns = select[k].size();
		for (size_t j = 0; j < ns; j++) {
			sum += select[k][j].score;
			kept += keeps_l4s_promise(select[k][j].l99, select[0][j].l99);
		}
		if (kept >= kL4sPromiseShare * static_cast<double>(ns) && sum > best) {
			best = sum;
			oracle = k;
		}
	}
	return oracle;
}

} // namespace

std::string run_family(const BenchConfig &c, const std::vector<Scenario> &family, size_t tuned,
		       std::vector<ScenarioResult> &out, void (*progress)(size_t, size_t))
{
	if (std::string err = validate_grid(c); !err.empty())
		return err;
	if (tuned >= c.grid.size())
		return "the tuned default is not a grid setting";
	std::vector<std::unique_ptr<SimPolicy>> pilots;
	std::vector<std::unique_ptr<SimTuner>> tuners;
	if (std::string err = load_learned(c, pilots, tuners); !err.empty())
		return err;
	const size_t n = family.size(), g = c.grid.size(), nr = c.report_seeds.size(), ns = c.selection_seeds.size();
	// Learned runs: the pilot's delays, then the tuner's.
	const size_t np = pilots.empty() ? 0 : c.decision_delays_ns.size();
	const size_t nd = np + (tuners.empty() ? 0 : c.decision_delays_ns.size());
	// [scenario][candidate][seed]
	std::vector<std::vector<std::vector<RunFigures>>> report(n, std::vector<std::vector<RunFigures>>(g, std::vector<RunFigures>(nr)));
	std::vector<std::vector<std::vector<RunFigures>>> select(n, std::vector<std::vector<RunFigures>>(g, std::vector<RunFigures>(ns)));
	std::vector<std::vector<RunFigures>> piecewise(n, std::vector<RunFigures>(nr));
	std::vector<std::vector<std::vector<size_t>>> choices(n, std::vector<std::vector<size_t>>(nr));
	std::vector<std::vector<std::vector<RunFigures>>> pilot(n, std::vector<std::vector<RunFigures>>(nd, std::vector<RunFigures>(nr)));

	// Jobs: per scenario, each report seed (every candidate, the piecewise
	// oracle), each selection seed (every candidate), each pilot run.
	const size_t per_scenario = nr + ns + nd * nr;
	const size_t total_runs = n * ((nr + ns) * g + nd * nr);
	std::atomic<size_t> runs_done{0};
	std::mutex progress_mutex;
	auto tick = [&](size_t runs) {
		const size_t done = runs_done += runs;
		if (progress) {
			std::lock_guard<std::mutex> lock(progress_mutex);
			progress(done, total_runs);
		}
	};
	parallel_for(n * per_scenario, c.threads, [&](size_t job, uint32_t worker) {
		const size_t s = job / per_scenario, j = job % per_scenario;
		const Scenario &sc = family[s];
		if (j < nr) {
			Piecewise pw;
			for (size_t k = 0; k < g; k++) {
				const RunResult r = run_once(c, sc, c.grid[k].settings, c.report_seeds[j], {c.segment_ns});
				report[s][k][j] = figures_of(r.objective_inputs(), sc.objective);
				if (keeps_l4s_promise(report[s][k][j].l99, report[s][0][j].l99))
					pw.offer(k, r, sc.objective);
			}
			piecewise[s][j] = figures_of(pw.inputs(), sc.objective);
			choices[s][j] = pw.choice;
			tick(g);
		} else if (j < nr + ns) {
			for (size_t k = 0; k < g; k++)
				select[s][k][j - nr] = figures_of(
					run_once(c, sc, c.grid[k].settings, c.selection_seeds[j - nr], {}).objective_inputs(),
					sc.objective);
			tick(g);
		} else {
			const size_t d = (j - nr - ns) / nr, k = (j - nr - ns) % nr;
			const bool tuner = d >= np;
			const RunSpec spec{0, tuner ? nullptr : pilots[worker].get(), c.decision_delays_ns[tuner ? d - np : d],
					   tuner ? tuners[worker].get() : nullptr};
			pilot[s][d][k] = figures_of(run_once(c, sc, learned_base(c, tuned), c.report_seeds[k], spec).objective_inputs(),
						    sc.objective);
			tick(1);
		}
	});

	out.clear();
	for (size_t s = 0; s < n; s++) {
		ScenarioResult r;
		r.name = family[s].name;
		r.oracle = static_oracle(select[s], r.oracle);
		r.runs = {report[s][0], report[s][tuned], report[s][r.oracle], piecewise[s]};
		for (size_t d = 0; d < nd; d++)
			r.runs.push_back(pilot[s][d]);
		r.piecewise_choice = choices[s];
		out.push_back(std::move(r));
	}
	return {};
}

} // namespace dualpilot::sim
