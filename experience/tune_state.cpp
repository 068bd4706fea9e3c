#include "experience/tune_state.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace dualpilot::experience {

uint32_t sojourn_bin(uint64_t sojourn_ns)
{
	const uint64_t us = sojourn_ns / 1000;
	if (us < 1)
		return 0;
	// Octave o = floor(log2 us), then whether the sojourn is past the half
	// octave, sqrt(2) 2^o us. Integer only: it runs per forwarded packet.
	const int o = std::bit_width(us) - 1;
	if (2 * o >= kSojournBins - 1)
		return kSojournBins - 1;
	const bool upper = sojourn_ns * 1000 >= (uint64_t{1414214} << o);
	return static_cast<uint32_t>(2 * o + (upper ? 1 : 0));
}

double sojourn_bin_ns(int bin) { return 1000.0 * std::exp2((bin + 0.5) / 2.0); }

TuneStep TuneCounter::close(uint64_t now_ns, uint64_t rate_bps, uint32_t prob_q32, uint16_t setting)
{
	if (empty_) {
		step_.empty_ns += now_ns - std::max(empty_since_ns_, step_start_ns_);
		last_empty_ns_ = now_ns;
	}
	TuneStep out = step_;
	out.end_ns = now_ns;
	out.len_ns = now_ns - step_start_ns_;
	out.rate_bps = rate_bps;
	out.last_empty_ns = last_empty_ns_;
	out.prob_q32 = prob_q32;
	out.setting = setting;
	step_ = {};
	step_start_ns_ = now_ns;
	return out;
}

namespace {

// A moving average with time constant tau over a step of len: the weight of
// the new value is 1 - exp(-len / tau), so the averages mean the same time
// whatever the step.
void ewma(double &avg, double value, uint64_t len_ns, double tau_ns, bool first)
{
	const double w = first ? 1.0 : 1.0 - std::exp(-static_cast<double>(len_ns) / tau_ns);
	avg += w * (value - avg);
}

double median_ns(const std::array<uint32_t, kSojournBins> &bins)
{
	uint64_t total = 0;
	for (uint32_t n : bins)
		total += n;
	if (total == 0)
		return 0;
	uint64_t seen = 0;
	for (int b = 0; b < kSojournBins; b++) {
		seen += bins[b];
		if (2 * seen >= total)
			return sojourn_bin_ns(b);
	}
	return sojourn_bin_ns(kSojournBins - 1);
}

double ratio(double num, double den) { return den > 0 ? num / den : 0; }

void add_step(TuneStep &sum, const TuneStep &s)
{
	sum.len_ns += s.len_ns;
	sum.sent_bytes += s.sent_bytes;
	sum.arrived_bytes += s.arrived_bytes;
	sum.empty_ns += s.empty_ns;
	for (int c = 0; c < 2; c++) {
		sum.forwarded[c] += s.forwarded[c];
		sum.marked[c] += s.marked[c];
		sum.dropped[c] += s.dropped[c];
		sum.sojourn_max_ns[c] = std::max(sum.sojourn_max_ns[c], s.sojourn_max_ns[c]);
		for (int b = 0; b < kSojournBins; b++)
			sum.sojourn[c][b] += s.sojourn[c][b];
	}
}

} // namespace

void TuneFeatureState::add(const TuneStep &s)
{
	const bool first = steps_ == 0;
	const double capacity_bytes = static_cast<double>(s.rate_bps) * static_cast<double>(s.len_ns) / 8e9;
	const double util = std::min(1.5, ratio(static_cast<double>(s.sent_bytes), capacity_bytes));
	ewma(util10_, util, s.len_ns, 10e6, first);
	ewma(util100_, util, s.len_ns, 100e6, first);
	ewma(util1s_, util, s.len_ns, 1e9, first);
	if (s.forwarded[0] > 0)
		ewma(c_p50_1s_, median_ns(s.sojourn[0]), s.len_ns, 1e9, first);
	if (s.forwarded[1] + s.dropped[1] > 0)
		ewma(l_mark_1s_, ratio(s.marked[1], s.forwarded[1] + s.dropped[1]), s.len_ns, 1e9, first);
	add_step(interval_, s);
	last_ = s;
	steps_++;
}

TuneState TuneFeatureState::features(const TuneSettingView &in_force, uint64_t decision_delay_ns, uint64_t rtt_hint_ns)
{
	const TuneStep &i = interval_;
	const double capacity_bytes = static_cast<double>(last_.rate_bps) * static_cast<double>(i.len_ns) / 8e9;
	const double packets[2] = {static_cast<double>(i.forwarded[0] + i.dropped[0]),
				   static_cast<double>(i.forwarded[1] + i.dropped[1])};
	const double prob = static_cast<double>(last_.prob_q32) / 4294967295.0;
	const double since_empty_ms =
		static_cast<double>(last_.end_ns - std::min(last_.end_ns, last_.last_empty_ns)) / 1e6;
	const double target = in_force.target_ns, step = in_force.step_thresh_ns;
	auto lg = [](double v) { return std::log10(std::max(v, 1e-3)); };
	TuneState f{};
	f[0] = static_cast<float>(util10_);
	f[1] = static_cast<float>(util100_);
	f[2] = static_cast<float>(util1s_);
	f[3] = static_cast<float>(std::min(10.0, ratio(static_cast<double>(i.arrived_bytes), capacity_bytes)));
	f[4] = static_cast<float>(ratio(static_cast<double>(i.empty_ns), static_cast<double>(i.len_ns)));
	f[5] = static_cast<float>(std::log10(1 + since_empty_ms));
	f[6] = static_cast<float>(ratio(median_ns(i.sojourn[0]), target));
	f[7] = static_cast<float>(ratio(static_cast<double>(i.sojourn_max_ns[0]), target));
	f[8] = static_cast<float>(ratio(median_ns(i.sojourn[1]), step));
	f[9] = static_cast<float>(ratio(static_cast<double>(i.sojourn_max_ns[1]), step));
	f[10] = static_cast<float>(prob);
	f[11] = static_cast<float>(prob - prev_prob_);
	f[12] = static_cast<float>(ratio(i.marked[0], packets[0]));
	f[13] = static_cast<float>(ratio(i.dropped[0], packets[0]));
	f[14] = static_cast<float>(ratio(i.marked[1], packets[1]));
	f[15] = static_cast<float>(ratio(i.dropped[1], packets[1]));
	f[16] = static_cast<float>(ratio(packets[1], packets[0] + packets[1]));
	f[17] = static_cast<float>(lg(static_cast<double>(last_.rate_bps) / 1e6));
	f[18] = static_cast<float>(lg(target / 1e6));
	f[19] = static_cast<float>(lg(in_force.max_rtt_ns / 1e6));
	f[20] = static_cast<float>(lg(step / 1e6));
	f[21] = static_cast<float>(in_force.coupling);
	f[22] = static_cast<float>(std::log10(1 + static_cast<double>(decision_delay_ns) / 1e6));
	f[23] = static_cast<float>(lg(static_cast<double>(rtt_hint_ns) / 1e6));
	f[24] = static_cast<float>(ratio(c_p50_1s_, target));
	f[25] = static_cast<float>(l_mark_1s_);
	// Ratios against a tiny setting or an idle interval can run far; the
	// models were trained on these bounds.
	for (float &v : f)
		v = std::isfinite(v) ? std::clamp(v, -1e3f, 1e3f) : 0.0f;
	prev_prob_ = prob;
	interval_ = {};
	return f;
}

} // namespace dualpilot::experience
