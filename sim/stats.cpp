#include "sim/stats.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "aqm/random.hpp"

namespace dualpilot::sim {

namespace {

// Two-sided 95 % quantiles of Student's t, df 1-30; the normal's beyond.
double t95(uint32_t df)
{
	static constexpr double table[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
					   2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
					   2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
	return df >= 1 && df <= 30 ? table[df - 1] : 1.960;
}

double mean_of(std::span<const double> x)
{
	return x.empty() ? 0 : std::accumulate(x.begin(), x.end(), 0.0) / static_cast<double>(x.size());
}

double sd_of(std::span<const double> x)
{
	if (x.size() < 2)
		return 0;
	const double m = mean_of(x);
	double ss = 0;
	for (double v : x)
		ss += (v - m) * (v - m);
	return std::sqrt(ss / static_cast<double>(x.size() - 1));
}

// The q-quantile of sorted values, linear between order statistics.
double quantile(const std::vector<double> &sorted, double q)
{
	if (sorted.empty())
		return 0;
	const double at = q * static_cast<double>(sorted.size() - 1);
	const auto i = static_cast<size_t>(at);
	const double frac = at - static_cast<double>(i);
	return i + 1 < sorted.size() ? sorted[i] * (1 - frac) + sorted[i + 1] * frac : sorted[i];
}

} // namespace

MeanCi mean_ci95(std::span<const double> x)
{
	MeanCi c;
	c.n = static_cast<uint32_t>(x.size());
	c.mean = c.low = c.high = mean_of(x);
	if (x.size() >= 2) {
		const double half = t95(c.n - 1) * sd_of(x) / std::sqrt(static_cast<double>(x.size()));
		c.low = c.mean - half;
		c.high = c.mean + half;
	}
	return c;
}

double geometric_mean(std::span<const double> ratios)
{
	if (ratios.empty())
		return 0;
	double s = 0;
	for (double r : ratios)
		s += std::log(r);
	return std::exp(s / static_cast<double>(ratios.size()));
}

double coefficient_of_variation(std::span<const double> x)
{
	const double m = mean_of(x);
	return x.size() < 2 || m == 0 ? 0 : sd_of(x) / std::abs(m);
}

RatioSummary summarize_log_ratios(const std::vector<std::vector<double>> &log_ratios, uint64_t seed,
				  uint32_t resamples)
{
	RatioSummary r;
	const size_t n = log_ratios.size();
	r.scenarios = static_cast<uint32_t>(n);
	if (n == 0)
		return r;
	std::vector<double> means, ratios;
	for (size_t s = 0; s < n; s++) {
		r.per_scenario.push_back(mean_ci95(log_ratios[s]));
		means.push_back(r.per_scenario.back().mean);
		ratios.push_back(std::exp(means.back()));
		if (means.back() > 0)
			r.win_share += 1;
	}
	r.win_share /= static_cast<double>(n);
	r.geomean = std::exp(mean_of(means));
	const auto worst = std::min_element(ratios.begin(), ratios.end());
	r.worst = *worst;
	r.worst_index = static_cast<uint32_t>(worst - ratios.begin());
	std::vector<double> sorted = ratios;
	std::sort(sorted.begin(), sorted.end());
	r.median = quantile(sorted, 0.5);

	// Two-stage bootstrap: scenarios with replacement, then each drawn
	// scenario's seeds with replacement; the statistic is the geometric mean.
	aqm::Rng rng(seed * 0x9e3779b97f4a7c15ull + 26);
	std::vector<double> draws;
	draws.reserve(resamples);
	for (uint32_t b = 0; b < resamples; b++) {
		double total = 0;
		for (size_t i = 0; i < n; i++) {
			const std::vector<double> &seeds = log_ratios[rng.next_u64() % n];
			double s = 0;
			for (size_t k = 0; k < seeds.size(); k++)
				s += seeds[rng.next_u64() % seeds.size()];
			total += seeds.empty() ? 0 : s / static_cast<double>(seeds.size());
		}
		draws.push_back(std::exp(total / static_cast<double>(n)));
	}
	std::sort(draws.begin(), draws.end());
	r.ci_low = quantile(draws, 0.025);
	r.ci_high = quantile(draws, 0.975);
	return r;
}

} // namespace dualpilot::sim
