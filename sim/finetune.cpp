#include "sim/finetune.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>
#include <thread>

#include "aqm/random.hpp"
#include "sim/heldout.hpp"
#include "sim/sim_policy.hpp"
#include "sim/simulation.hpp"
#include "sim/sweep.hpp"
#include "sim/tune_data.hpp"

namespace dualpilot::sim {

namespace {

// One run's figures: the score, and what the tuner's limits are judged on.
struct RunFigures {
	double score = 0, l99_ms = 0, util = 0, balance = -1;
};

// One run: the base DualPI2 alone, or with the model as every closed loop
// of this project runs it at a decision delay: a verdict pilot with the
// router's guard rails and harm guard and the pilot profile's interval and
// override hold, or a tuner with its table and harm guard.
RunFigures run_figures(const Scenario &sc, const std::vector<aqm::Setting> &base, uint64_t seed, SimModel *model,
		       uint64_t decision_delay_ns = 0)
{
	auto built = aqm::make_aqm("dualpi2", base, seed);
	RunOptions opt;
	opt.seed = seed;
	opt.objective = sc.objective;
	if (model)
		model->attach(opt, decision_delay_ns);
	const RunResult r = run_scenario(sc, std::move(*built.aqm), opt);
	const experience::ObjectiveInputs in = experience::as_printed(r.objective_inputs());
	return {score(in, sc.objective).score, in.queue[1].p99_ms, in.utilisation, in.rate_balance};
}

double clipped_log_ratio(double s, double base)
{
	return std::clamp(std::log(std::max(s, 1e-4) / std::max(base, 1e-4)), kMinLogRatio, kMaxLogRatio);
}

// Whether a run breaks the tuner's limits against the base's run on the
// same seed (the rate balance only where the base run keeps it).
bool breaks_limits(const RunFigures &x, const RunFigures &base)
{
	const bool balance = base.balance <= 0 || (base.balance >= 0.5 && base.balance <= 2);
	return !within_tuner_limits(x.l99_ms, x.util, x.balance, base.l99_ms, base.util, balance);
}

// A run's term in the fitness: its clipped log ratio to the base's run on
// the same seed, less the penalty where it breaks the limits.
double run_term(const RunFigures &x, const RunFigures &base, double limit_penalty)
{
	return clipped_log_ratio(x.score, base.score) - (breaks_limits(x, base) ? limit_penalty : 0);
}

// The weights the search moves: every f32 tensor but the input
// normalisation (statistics of the pools, not something to learn here).
std::vector<float *> search_weights(policy::Model &m)
{
	std::vector<float *> w;
	for (policy::Tensor &t : m.tensors)
		if (t.dtype == policy::DType::f32 && !t.name.starts_with("norm."))
			for (float &v : t.values)
				w.push_back(&v);
	return w;
}

policy::Model with_weights(const policy::Model &start, const std::vector<float> &theta)
{
	policy::Model m = start;
	std::vector<float *> w = search_weights(m);
	for (size_t i = 0; i < w.size(); i++)
		*w[i] = theta[i];
	return m;
}

// Centred ranks in [-0.5, 0.5] (Salimans et al. section 2.2).
std::vector<double> centred_ranks(const std::vector<double> &x)
{
	std::vector<size_t> order(x.size());
	std::iota(order.begin(), order.end(), 0);
	std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
	std::vector<double> r(x.size());
	for (size_t i = 0; i < order.size(); i++)
		r[order[i]] = x.size() > 1 ? static_cast<double>(i) / static_cast<double>(x.size() - 1) - 0.5 : 0;
	return r;
}

// The ascent direction of one generation (Salimans et al. equation 2 with
// antithetic pairs): sum_i (rank+_i - rank-_i) e_i / (n sigma).
std::vector<double> es_gradient(const std::vector<double> &ranks, const std::vector<std::vector<float>> &dirs,
				double sigma)
{
	std::vector<double> grad(dirs.empty() ? 0 : dirs[0].size());
	for (size_t i = 0; i < dirs.size(); i++)
		for (size_t k = 0; k < grad.size(); k++)
			grad[k] += (ranks[2 * i] - ranks[2 * i + 1]) * dirs[i][k];
	for (double &g : grad)
		g /= static_cast<double>(dirs.size()) * sigma;
	return grad;
}

// Adam (Kingma and Ba 2015), ascending.
struct Adam {
	std::vector<double> m, v;
	void step(std::vector<float> &theta, const std::vector<double> &grad, uint32_t t, double lr)
	{
		constexpr double b1 = 0.9, b2 = 0.999;
		m.resize(theta.size());
		v.resize(theta.size());
		for (size_t k = 0; k < theta.size(); k++) {
			m[k] = b1 * m[k] + (1 - b1) * grad[k];
			v[k] = b2 * v[k] + (1 - b2) * grad[k] * grad[k];
			const double mh = m[k] / (1 - std::pow(b1, t)), vh = v[k] / (1 - std::pow(b2, t));
			theta[k] += static_cast<float>(lr * mh / (std::sqrt(vh) + 1e-8));
		}
	}
};

// One candidate's evaluation: its weights, and the mean clipped log ratio.
struct Job {
	std::vector<float> theta;
	double fitness = 0;
	std::string error;
};

class Search {
public:
	Search(const policy::Model &start, const std::vector<Scenario> &train, const std::vector<Scenario> &val,
	       const FinetuneConfig &c)
		: start_(start), train_(train), val_(val), c_(c)
	{
	}

	std::string run(FinetuneResult &out);

private:
	// The generation's training scenarios: a seeded partial shuffle.
	std::vector<size_t> draw_batch(aqm::Rng &rng) const;
	// theta + sigma e and theta - sigma e for each direction, in that order.
	std::vector<Job> antithetic_jobs(const std::vector<float> &theta, const std::vector<std::vector<float>> &dirs) const;
	double fitness(const std::vector<float> &theta, const std::vector<size_t> &batch, uint64_t seed,
		       uint64_t delay_ns, const std::vector<RunFigures> &base_runs, std::string &error) const;
	double validation(const std::vector<float> &theta, std::string &error) const;
	void run_jobs(std::vector<Job> &jobs, const std::vector<size_t> &batch, uint64_t seed, uint64_t delay_ns,
		      const std::vector<RunFigures> &base_runs) const;
	template <typename... Args> void log(fmt::format_string<Args...> f, Args &&...args) const
	{
		if (!c_.log)
			return;
		fmt::print(c_.log, f, std::forward<Args>(args)...);
		std::fflush(c_.log);
	}

	const policy::Model &start_;
	const std::vector<Scenario> &train_, &val_;
	const FinetuneConfig &c_;
	std::vector<std::vector<RunFigures>> val_base_; // the base alone: [validation scenario][seed]
};

double Search::fitness(const std::vector<float> &theta, const std::vector<size_t> &batch, uint64_t seed,
		       uint64_t delay_ns, const std::vector<RunFigures> &base_runs, std::string &error) const
{
	SimModel policy;
	if (std::string err = policy.load(with_weights(start_, theta)); !err.empty()) {
		error = err;
		return 0;
	}
	double sum = 0;
	for (size_t k = 0; k < batch.size(); k++)
		sum += run_term(run_figures(train_[batch[k]], c_.base, seed, &policy, delay_ns), base_runs[k],
				c_.limit_penalty);
	return sum / static_cast<double>(batch.size());
}

double Search::validation(const std::vector<float> &theta, std::string &error) const
{
	SimModel policy;
	if (std::string err = policy.load(with_weights(start_, theta)); !err.empty()) {
		error = err;
		return 0;
	}
	double sum = 0;
	for (uint64_t delay_ns : c_.decision_delays_ns)
		for (size_t k = 0; k < val_.size(); k++) {
			// The seeds' mean score over the base's, less the penalty for
			// the share of seeds that break the limits.
			double s = 0, base = 0, broken = 0;
			for (size_t i = 0; i < std::size(kValidationSeeds); i++) {
				const RunFigures x = run_figures(val_[k], c_.base, kValidationSeeds[i], &policy, delay_ns);
				s += x.score;
				base += val_base_[k][i].score;
				broken += breaks_limits(x, val_base_[k][i]);
			}
			sum += clipped_log_ratio(s, base) -
			       c_.limit_penalty * broken / static_cast<double>(std::size(kValidationSeeds));
		}
	return std::exp(sum / static_cast<double>(val_.size() * c_.decision_delays_ns.size()));
}

void Search::run_jobs(std::vector<Job> &jobs, const std::vector<size_t> &batch, uint64_t seed, uint64_t delay_ns,
		      const std::vector<RunFigures> &base_runs) const
{
	// Each job is a pure function of its weights and the generation's batch
	// and seed, so the thread count changes nothing but the time taken.
	std::atomic<size_t> next{0};
	auto work = [&] {
		for (size_t j; (j = next.fetch_add(1)) < jobs.size();)
			jobs[j].fitness = fitness(jobs[j].theta, batch, seed, delay_ns, base_runs, jobs[j].error);
	};
	std::vector<std::thread> pool;
	for (uint32_t t = 1; t < c_.threads; t++)
		pool.emplace_back(work);
	work();
	for (std::thread &t : pool)
		t.join();
}

std::vector<size_t> Search::draw_batch(aqm::Rng &rng) const
{
	std::vector<size_t> batch(train_.size());
	std::iota(batch.begin(), batch.end(), 0);
	for (size_t i = 0; i + 1 < batch.size(); i++)
		std::swap(batch[i], batch[i + rng.next_u64() % (batch.size() - i)]);
	batch.resize(std::min<size_t>(c_.per_generation, batch.size()));
	return batch;
}

std::vector<Job> Search::antithetic_jobs(const std::vector<float> &theta,
					 const std::vector<std::vector<float>> &dirs) const
{
	std::vector<Job> jobs(2 * dirs.size());
	for (size_t i = 0; i < dirs.size(); i++)
		for (size_t side = 0; side < 2; side++) {
			const float step = static_cast<float>(side == 0 ? c_.sigma : -c_.sigma);
			Job &j = jobs[2 * i + side];
			j.theta = theta;
			for (size_t k = 0; k < theta.size(); k++)
				j.theta[k] += step * dirs[i][k];
		}
	return jobs;
}

std::string Search::run(FinetuneResult &out)
{
	policy::Model m = start_;
	std::vector<float> theta;
	for (float *v : search_weights(m))
		theta.push_back(*v);
	const size_t n = theta.size(), half = std::max<uint32_t>(1, c_.population / 2);
	Adam adam;
	aqm::Rng rng(c_.seed * 0x9e3779b97f4a7c15ull + 11);
	auto gaussian = [&] {
		const double u1 = std::max(rng.next_double(), 1e-300), u2 = rng.next_double();
		return std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
	};

	for (const Scenario &sc : val_) {
		val_base_.emplace_back();
		for (uint64_t seed : kValidationSeeds)
			val_base_.back().push_back(run_figures(sc, c_.base, seed, nullptr));
	}
	std::string error;
	out.start_validation = out.best_validation = validation(theta, error);
	if (!error.empty())
		return error;
	std::vector<float> best = theta;
	out.best_generation = 0;
	log("validation: the starting model scores {:.4f} of the base alone (geometric mean)\n", out.start_validation);

	for (uint32_t g = 1; g <= c_.generations; g++) {
		// The generation's minibatch, seed and delay, the same for every direction.
		const std::vector<size_t> batch = draw_batch(rng);
		const uint64_t seed = 1000 + g;
		const uint64_t delay_ns = c_.decision_delays_ns[g % c_.decision_delays_ns.size()];
		std::vector<RunFigures> base_runs;
		for (size_t s : batch)
			base_runs.push_back(run_figures(train_[s], c_.base, seed, nullptr));

		std::vector<std::vector<float>> dirs(half, std::vector<float>(n));
		for (std::vector<float> &d : dirs)
			for (float &e : d)
				e = static_cast<float>(gaussian());
		std::vector<Job> jobs = antithetic_jobs(theta, dirs);
		run_jobs(jobs, batch, seed, delay_ns, base_runs);
		std::vector<double> f;
		for (const Job &j : jobs) {
			if (!j.error.empty())
				return j.error;
			f.push_back(j.fitness);
		}
		adam.step(theta, es_gradient(centred_ranks(f), dirs, c_.sigma), g, c_.lr);
		log("generation {} ({} us decisions): mean log(score / base) {:+.4f}, best direction {:+.4f}\n", g,
		    delay_ns / 1000,
		    std::accumulate(f.begin(), f.end(), 0.0) / static_cast<double>(f.size()),
		    *std::max_element(f.begin(), f.end()));
		if (g % c_.eval_every != 0 && g != c_.generations)
			continue;
		const double v = validation(theta, error);
		if (!error.empty())
			return error;
		log("generation {}: validation {:.4f} of the base{}\n", g, v, v > out.best_validation ? ", the best so far" : "");
		if (v > out.best_validation) {
			out.best_validation = v;
			out.best_generation = g;
			best = theta;
		}
	}
	out.model = with_weights(start_, best);
	return {};
}

} // namespace

std::string finetune(const policy::Model &start, const std::vector<Scenario> &train,
		     const std::vector<Scenario> &validation, const FinetuneConfig &c, FinetuneResult &out)
{
	if (train.empty() || validation.empty())
		return "fine-tuning needs training and validation scenarios";
	if (c.population < 2 || c.per_generation < 1 || c.generations < 1 || c.eval_every < 1 || c.threads < 1 ||
	    !(c.sigma > 0) || !(c.lr > 0) || c.decision_delays_ns.empty())
		return "fine-tuning needs population >= 2, per_generation, generations, eval_every and threads >= 1, "
		       "sigma and lr > 0, and a decision delay";
	if (auto built = aqm::make_aqm("dualpi2", c.base); !built.error.empty())
		return "the base DualPI2: " + built.error;
	for (const std::vector<Scenario> *set : {&train, &validation})
		for (const Scenario &sc : *set)
			if (experience::is_heldout_name(sc.name))
				return sc.name + ": a held-out scenario is never trained on or used for selection";
	return Search(start, train, validation, c).run(out);
}

std::string sweep_scenarios(const std::string &sweep_path, const std::string &heldout_dir, uint32_t count,
			    uint64_t seed, std::vector<Scenario> &out)
{
	Sweep sw;
	if (std::string err = load_sweep(sweep_path, sw); !err.empty())
		return err;
	if (std::string err = check_sweep_against_heldout(sw, heldout_dir); !err.empty())
		return err;
	sw.cells = 0;
	std::vector<SweepCell> cells;
	if (std::string err = sweep_cells(sw, cells); !err.empty())
		return err;
	// Every score equal: each scenario's first cell.
	for (size_t i : best_cell_per_scenario(cells, std::vector<double>(cells.size(), 0)))
		out.push_back(cells[i].scenario);
	if (count > 0 && count < out.size()) {
		aqm::Rng rng(seed * 0xd1b54a32d192ed03ull + 5);
		for (size_t i = 0; i < count; i++)
			std::swap(out[i], out[i + rng.next_u64() % (out.size() - i)]);
		out.resize(count);
	}
	return out.empty() ? sweep_path + ": no scenarios" : std::string{};
}

std::string directory_scenarios(const std::string &dir, const std::string &heldout_dir, std::vector<Scenario> &out)
{
	if (std::string err = load_scenario_dir(dir, out); !err.empty())
		return err;
	if (std::string err = check_against_heldout(out, heldout_dir); !err.empty())
		return dir + ": " + err;
	return out.empty() ? dir + ": no scenario files" : std::string{};
}

} // namespace dualpilot::sim
