// The statistics every held-out report uses (issue 26): a claim about a
// policy is a claim about paired log score ratios, policy over baseline, per
// scenario and report seed (the same seed gives both the same traffic).
//
//   per scenario     the mean of log(ratio) over its seeds, with a 95 % CI
//                    from Student's t (5 seeds: t = 2.776 on 4 df);
//   across scenarios the geometric mean of the ratios (exp of the mean of
//                    the scenario means) with a 95 % percentile-bootstrap CI
//                    that resamples scenarios and, inside each, seeds (both
//                    sources of noise: which scenarios, which seeds;
//                    Davison and Hinkley 1997, section 3.8), the median, the
//                    worst scenario and the share of scenarios won.
//
// Chaotic scenarios (the baseline's score varies over the seeds by more than
// 25 % of its mean) are flagged for separate summaries.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace dualpilot::sim {

struct MeanCi {
	double mean = 0, low = 0, high = 0; // low = high = mean for fewer than 2 values
	uint32_t n = 0;
};

// Mean and 95 % confidence interval by Student's t.
MeanCi mean_ci95(std::span<const double> x);

// exp(mean(log r)) of positive ratios; 0 for none.
double geometric_mean(std::span<const double> ratios);

// Standard deviation (n - 1) over the mean; 0 for fewer than 2 values or a zero mean.
double coefficient_of_variation(std::span<const double> x);

inline constexpr double kChaoticCv = 0.25;

struct RatioSummary {
	uint32_t scenarios = 0;
	double geomean = 0;              // exp(mean of the scenario means of log ratio)
	double ci_low = 0, ci_high = 0;  // 95 % bootstrap interval of the geometric mean
	double median = 0;               // of the scenarios' geometric-mean ratios
	double worst = 0;                // the lowest of them
	uint32_t worst_index = 0;        // its scenario
	double win_share = 0;            // scenarios whose mean log ratio is above 0
	std::vector<MeanCi> per_scenario; // mean and CI of log ratio per scenario
};

// log_ratios[s][k]: scenario s, report seed k (each scenario at least one
// seed). Deterministic for a seed; `resamples` bootstrap draws.
RatioSummary summarize_log_ratios(const std::vector<std::vector<double>> &log_ratios, uint64_t seed = 26,
				  uint32_t resamples = 4000);

} // namespace dualpilot::sim
