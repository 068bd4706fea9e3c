#include "policy/model_check.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

#include "policy/forward_cpu.hpp"
#include "policy/forward_reference.hpp"

namespace dualpilot::policy {

namespace {

constexpr size_t kBatch = 64; // windows per cpu-backend pass

// A window to check: pool p, its last step at entry `last`, `steps` long.
struct Pick {
	size_t pool, last;
	uint32_t steps, first_slot;
};

// The most likely of the first n actions.
template <typename T>
size_t argmax(const T &p, size_t n)
{
	return static_cast<size_t>(std::max_element(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(n)) - p.begin());
}

std::string pool_name(const std::vector<std::string> &names, size_t i)
{
	return i < names.size() ? names[i] : "pool " + std::to_string(i);
}

// Every decision of every pool is the last step of one window (of up to w
// steps, within its episode); n of them, evenly spaced, are checked.
std::vector<Pick> pick_windows(const std::vector<experience::Pool> &pools, uint32_t w, size_t n, CheckReport &report)
{
	std::vector<Pick> all;
	for (size_t p = 0; p < pools.size(); p++) {
		size_t begin = 0;
		for (size_t i = 0; i < pools[p].size(); i++) {
			const size_t start = i + 1 >= begin + w ? i + 1 - w : begin;
			all.push_back({p, i, static_cast<uint32_t>(i + 1 - start), static_cast<uint32_t>((start - begin) % w)});
			if (pools[p].dones[i] || i + 1 == pools[p].size()) {
				begin = i + 1;
				report.episodes++;
			}
		}
	}
	report.entries = all.size();
	if (all.size() <= n)
		return all;
	std::vector<Pick> kept;
	for (size_t k = 0; k < n; k++)
		kept.push_back(all[(2 * k + 1) * all.size() / (2 * n)]);
	return kept;
}

// One window's model inputs: returns-to-go, the model's features, actions.
struct WindowData {
	std::vector<float> returns, states;
	std::vector<uint8_t> actions;
};

WindowData fill(const experience::Pool &p, const std::vector<float> &rtg, const std::vector<int> &feature_of, const Pick &k)
{
	const size_t F = feature_of.size(), first = k.last + 1 - k.steps;
	WindowData d;
	for (size_t i = first; i <= k.last; i++) {
		d.returns.push_back(rtg[i]);
		for (size_t f = 0; f < F; f++)
			d.states.push_back(p.states[i * static_cast<size_t>(p.feature_count()) + static_cast<size_t>(feature_of[f])]);
		d.actions.push_back(p.actions[i]);
	}
	return d;
}

} // namespace

std::string check_model(const Model &m, const std::vector<experience::Pool> &pools, const std::vector<std::string> &names,
			const CheckOptions &opt, CheckReport &report)
{
	report = CheckReport{};
	const ModelConfig &c = m.config;
	if (opt.windows == 0)
		return "no windows to check (--windows 0)";
	// The model's features among the pools' table (the decisions' or the
	// tuner's), all pools alike.
	std::vector<int> feature_of;
	for (size_t p = 1; p < pools.size(); p++)
		if (pools[p].table != pools[0].table)
			return pool_name(names, p) + ": another feature table than " + pool_name(names, 0) + "'s";
	const auto table = pools.empty() ? experience::table_names(experience::FeatureTable::decisions)
					 : experience::table_names(pools[0].table);
	if (std::string err = feature_index(c, table, feature_of, "pools'"); !err.empty())
		return err;
	for (size_t p = 0; p < pools.size(); p++)
		for (size_t f = 0; f < feature_of.size(); f++)
			if (!pools[p].has_feature(feature_of[f]))
				return pool_name(names, p) + ": does not record " + c.feature_names[f] + ", one of the model's features";
	for (size_t p = 0; p < pools.size(); p++)
		if (pools[p].action_count != c.action_count)
			return fmt::format("{}: {} actions, the model has {}", pool_name(names, p), pools[p].action_count,
					   c.action_count);
	std::vector<std::vector<float>> rtg;
	for (const experience::Pool &p : pools)
		rtg.push_back(pool_returns_to_go(p, c.gamma));
	const std::vector<Pick> picks = pick_windows(pools, c.window, opt.windows, report);
	if (picks.empty())
		return "the pools hold no entries";
	for (const Tensor &t : m.tensors)
		report.int8 = report.int8 || t.dtype == DType::i8;

	CpuForward cpu(m);
	const ReferenceForward ref(m);
	const uint32_t K = m.config.action_count;
	for (size_t b0 = 0; b0 < picks.size(); b0 += kBatch) {
		const size_t n = std::min(kBatch, picks.size() - b0);
		std::vector<WindowData> data;
		std::vector<Window> windows;
		for (size_t i = 0; i < n; i++)
			data.push_back(fill(pools[picks[b0 + i].pool], rtg[picks[b0 + i].pool], feature_of, picks[b0 + i]));
		for (size_t i = 0; i < n; i++)
			windows.push_back(Window{picks[b0 + i].steps, data[i].returns.data(), data[i].states.data(),
						 data[i].actions.data(), picks[b0 + i].first_slot, nullptr});
		std::vector<Probs> out(n);
		cpu.forward(windows.data(), n, out.data());
		for (size_t i = 0; i < n; i++) {
			const Pick &k = picks[b0 + i];
			const std::vector<double> want = ref.forward(windows[i]);
			bool finite = true;
			for (uint32_t a = 0; a < K; a++) {
				finite = finite && std::isfinite(out[i].p[a]) && std::isfinite(want[a]);
				const double diff = std::fabs(static_cast<double>(out[i].p[a]) - want[a]);
				if (diff > report.max_diff) {
					report.max_diff = diff;
					report.max_diff_at = fmt::format("{} entry {}", pool_name(names, k.pool), k.last);
				}
			}
			report.windows++;
			if (!finite) {
				report.non_finite++;
				continue;
			}
			const size_t pick = argmax(out[i].p, K);
			report.argmax_agree += pick == argmax(want, K);
			report.logged_agree += pick == pools[k.pool].actions[k.last];
		}
	}
	report.passed = report.non_finite == 0 && report.max_diff <= opt.tolerance;
	return {};
}

} // namespace dualpilot::policy
