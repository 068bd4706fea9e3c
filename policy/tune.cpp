#include "policy/tune.hpp"

#include <cmath>
#include <limits>

#include "aqm/units.hpp"

namespace dualpilot::policy {

std::vector<TuneSetting> tune_actions(const TuneConfig &c)
{
	std::vector<TuneSetting> out;
	for (uint64_t target : c.targets_ns)
		for (uint64_t max_rtt : c.max_rtts_ns)
			for (uint64_t step : c.step_threshs_ns)
				for (uint32_t k : c.couplings)
					out.push_back({target, max_rtt, step, k});
	return out;
}

bool within_rails(const TuneConfig &c, const TuneSetting &s)
{
	return s.target_ns >= c.target_min_ns && s.target_ns <= c.target_max_ns && s.max_rtt_ns >= c.max_rtt_min_ns &&
	       s.max_rtt_ns <= c.max_rtt_max_ns && s.step_thresh_ns >= c.step_thresh_min_ns &&
	       s.step_thresh_ns <= c.step_thresh_max_ns && s.coupling >= c.coupling_min && s.coupling <= c.coupling_max;
}

namespace {

template <typename T>
std::string bins_error(const char *key, const std::vector<T> &bins, T lo, T hi, bool time)
{
	auto show = [&](T v) { return time ? aqm::format_time(v) : std::to_string(v); };
	if (bins.empty())
		return std::string(key) + ": at least one value";
	for (T v : bins)
		if (v < lo || v > hi)
			return std::string(key) + ": " + show(v) + " is outside the rails [" + show(lo) + ", " + show(hi) + "]";
	return {};
}

} // namespace

std::string check_tune_config(const TuneConfig &c)
{
	if (c.interval_ns < 10000000 || c.interval_ns > 10000000000ull)
		return "tune_interval: between 10ms and 10s";
	if (c.steps_per_interval < 1 || c.steps_per_interval > 100 || c.interval_ns / c.steps_per_interval < 1000000)
		return "steps_per_interval: 1 to 100, each step at least 1ms";
	if (!(c.switch_margin >= 0 && c.switch_margin < 1))
		return "switch_margin: at least 0 and below 1";
	if (c.ttl_ns < c.interval_ns)
		return "tune_ttl: at least tune_interval, or every setting lapses before the next one";
	if (c.target_min_ns == 0 || c.target_min_ns > c.target_max_ns || c.max_rtt_min_ns == 0 ||
	    c.max_rtt_min_ns > c.max_rtt_max_ns || c.step_thresh_min_ns > c.step_thresh_max_ns ||
	    c.coupling_min == 0 || c.coupling_min > c.coupling_max)
		return "rails: each minimum above 0 and at most its maximum";
	if (c.max_rtt_max_ns > 10000000000ull || c.target_max_ns > 10000000000ull)
		return "rails: target and max_rtt at most 10s";
	std::string err = bins_error("targets", c.targets_ns, c.target_min_ns, c.target_max_ns, true);
	if (err.empty())
		err = bins_error("max_rtts", c.max_rtts_ns, c.max_rtt_min_ns, c.max_rtt_max_ns, true);
	if (err.empty())
		err = bins_error("step_threshs", c.step_threshs_ns, c.step_thresh_min_ns, c.step_thresh_max_ns, true);
	if (err.empty())
		err = bins_error("couplings", c.couplings, c.coupling_min, c.coupling_max, false);
	if (!err.empty())
		return err;
	if (tune_actions(c).size() > 128)
		return "the bins make " + std::to_string(tune_actions(c).size()) + " settings; at most 128";
	for (const TuneSetting &s : tune_actions(c)) {
		aqm::DualPi2Params p;
		if (std::string e = tuned_params(p, s, p); !e.empty())
			return describe(s) + ": " + e;
	}
	if (!(c.harm_classic_factor > 1 && c.harm_l4s_factor > 1 && c.harm_load >= 0 && c.harm_load <= 1) ||
	    !(c.idle_load >= 0 && c.idle_load <= 1) ||
	    c.harm_trip_intervals == 0 || c.harm_backoff_ns == 0 || c.harm_max_backoff_ns < c.harm_backoff_ns)
		return "harm guard: factors above 1, harm_load and idle_load in [0, 1], trip_intervals at least 1, backoff at "
		       "most max_backoff";
	return {};
}

std::string tuned_params(const aqm::DualPi2Params &base, const TuneSetting &s, aqm::DualPi2Params &out)
{
	aqm::DualPi2Params p = base;
	p.pi_gains_given = false;
	p.typical_rtt_ns = s.target_ns;
	p.max_rtt_ns = s.max_rtt_ns;
	p.step_thresh_ns = s.step_thresh_ns;
	p.step_in_packets = false;
	p.coupling_factor = s.coupling;
	if (std::string err = aqm::dualpi2_finalize(p); !err.empty())
		return err;
	out = p;
	return {};
}

experience::TuneSettingView view_of(const aqm::DualPi2Params &p)
{
	experience::TuneSettingView v;
	v.target_ns = static_cast<double>(p.target_ns);
	// tc: beta (Hz) = 0.3 / max_rtt (s), and beta_256 = beta * 256.
	v.max_rtt_ns = p.max_rtt_ns ? static_cast<double>(p.max_rtt_ns) : 0.3 * 256 / p.beta_256 * 1e9;
	v.step_thresh_ns = p.step_in_packets ? 1e6 : static_cast<double>(p.step_thresh_ns);
	v.coupling = p.coupling_factor;
	return v;
}

uint32_t nearest_action(const std::vector<TuneSetting> &actions, const aqm::DualPi2Params &p)
{
	const experience::TuneSettingView v = view_of(p);
	auto dist = [](double a, double b) { return std::abs(std::log(std::max(a, 1.0) / std::max(b, 1.0))); };
	uint32_t best = 0;
	double best_d = std::numeric_limits<double>::infinity();
	for (uint32_t i = 0; i < actions.size(); i++) {
		const TuneSetting &s = actions[i];
		const double d = dist(s.target_ns, v.target_ns) + dist(s.max_rtt_ns, v.max_rtt_ns) +
				 dist(s.step_thresh_ns, v.step_thresh_ns) + 0.01 * std::abs(s.coupling - v.coupling);
		if (d < best_d) {
			best_d = d;
			best = i;
		}
	}
	return best;
}

std::string describe(const TuneSetting &s)
{
	return "target " + aqm::format_time(s.target_ns) + " max_rtt " + aqm::format_time(s.max_rtt_ns) + " step " +
	       aqm::format_time(s.step_thresh_ns) + " k " + std::to_string(s.coupling);
}

} // namespace dualpilot::policy
