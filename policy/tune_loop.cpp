#include "policy/tune_loop.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fmt/format.h>

namespace dualpilot::policy {

bool is_tuner_model(const ModelConfig &c)
{
	std::vector<int> index;
	return !c.feature_names.empty() && tune_feature_index(c, index).empty();
}

std::string tune_feature_index(const ModelConfig &c, std::vector<int> &index)
{
	return feature_index(c, experience::kTuneFeatureNames, index, "tuner's");
}

std::string TuneLoop::init(const TuneLoopConfig &cfg, std::vector<TunePort> ports, std::unique_ptr<Backend> backend)
{
	contexts_.reset(); // they point at the backend replaced here
	backend_ = std::move(backend);
	stats_.backend = backend_ ? backend_->name() : "none";
	std::string err = restart(cfg, std::move(ports));
	if (!err.empty()) { // a model the loop cannot run decides nothing
		backend_.reset();
		stats_.backend = "none";
	}
	return err;
}

std::string TuneLoop::restart(const TuneLoopConfig &cfg, std::vector<TunePort> ports)
{
	if (std::string err = check_tune_config(cfg.tune); !err.empty())
		return "[policy.tune] " + err;
	if (backend_ && backend_->config().action_count != tune_actions(cfg.tune).size())
		return fmt::format("the model has {} actions and [policy.tune]'s bins make {} settings: it was trained "
				   "for another table",
				   backend_->config().action_count, tune_actions(cfg.tune).size());
	cfg_ = cfg;
	actions_ = tune_actions(cfg_.tune);
	if (std::string err = set_ports(std::move(ports)); !err.empty())
		return err;
	const char *backend = stats_.backend;
	stats_ = TuneStats{};
	stats_.backend = backend;
	if (backend_) {
		std::vector<int> feature_of;
		if (std::string err = tune_feature_index(backend_->config(), feature_of); !err.empty())
			return err;
		contexts_ = std::make_unique<ContextSet>(*backend_, ports_.size(), 1, std::move(feature_of));
	}
	return {};
}

std::string TuneLoop::set_ports(std::vector<TunePort> ports)
{
	ports_ = std::move(ports);
	const size_t n = ports_.size();
	params_.assign(n, {});
	base_action_.assign(n, 0);
	for (size_t p = 0; p < n; p++) {
		for (const TuneSetting &s : actions_) {
			aqm::DualPi2Params out;
			if (std::string err = tuned_params(ports_[p].base, s, out); !err.empty())
				return fmt::format("port {}: setting {}: {}", p, describe(s), err);
			params_[p].push_back(out);
		}
		base_action_[p] = nearest_action(actions_, ports_[p].base);
	}
	features_.assign(n, {});
	state_.assign(n, {});
	TunePortState fresh;
	fresh.held_ns.assign(actions_.size() + 1, 0);
	fresh.next_backoff_ns = cfg_.tune.harm_backoff_ns;
	ports_state_.assign(n, fresh);
	steps_in_interval_.assign(n, 0);
	return {};
}

bool TuneLoop::observe(uint32_t port, const experience::TuneStep &s, TuneSink *sink)
{
	if (port >= ports_.size())
		return false;
	stats_.steps++;
	note_in_force(port, s);
	features_[port].add(s);
	if (++steps_in_interval_[port] < cfg_.tune.steps_per_interval)
		return false;
	steps_in_interval_[port] = 0;
	stats_.intervals++;
	const uint32_t in_force = ports_state_[port].in_force;
	const aqm::DualPi2Params &p = in_force < actions_.size() ? params_[port][in_force] : ports_[port].base;
	state_[port] = features_[port].features(view_of(p), cfg_.decision_delay_ns, ports_[port].rtt_hint_ns);
	// The guard judges a model's settings: with no model (a schedule, a
	// record of the features) whatever is in force is the caller's choice.
	if (backend_) {
		judge(port, s.end_ns, sink);
		if (state_[port][experience::kTuneUtil100ms] < cfg_.tune.idle_load)
			stats_.idle_intervals++; // idle: outside the model's training, nothing decided
		else
			decide(port, s.end_ns, sink);
	}
	return true;
}

void TuneLoop::note_in_force(uint32_t port, const experience::TuneStep &s)
{
	TunePortState &ps = ports_state_[port];
	const uint32_t now_in_force = s.setting < actions_.size() ? s.setting : experience::kBaseSetting;
	const size_t slot = now_in_force < actions_.size() ? now_in_force : actions_.size();
	ps.held_ns[slot] += s.len_ns;
	ps.last_step_ns = s.end_ns;
	if (now_in_force != ps.in_force) {
		ps.in_force = now_in_force;
		ps.in_force_since_ns = s.end_ns;
	}
}

// Harmful: a tuned setting in force, the link loaded, and a class's median
// sojourn well past what the base settings aim at.
bool TuneLoop::harmful(uint32_t port) const
{
	const TunePortState &ps = ports_state_[port];
	if (ps.in_force >= actions_.size())
		return false;
	const experience::TuneState &f = state_[port];
	const aqm::DualPi2Params &in_force = params_[port][ps.in_force];
	const aqm::DualPi2Params &base = ports_[port].base;
	const experience::TuneSettingView v = view_of(in_force), b = view_of(base);
	const double c_p50_ns = f[experience::kTuneCP50PerTarget] * v.target_ns,
		     l_p50_ns = f[experience::kTuneLP50PerStep] * v.step_thresh_ns;
	return f[experience::kTuneUtil100ms] >= cfg_.tune.harm_load &&
	       (c_p50_ns > cfg_.tune.harm_classic_factor * b.target_ns ||
		l_p50_ns > cfg_.tune.harm_l4s_factor * b.step_thresh_ns);
}

void TuneLoop::judge(uint32_t port, uint64_t now_ns, TuneSink *sink)
{
	TunePortState &ps = ports_state_[port];
	const TuneConfig &t = cfg_.tune;
	if (now_ns >= ps.backed_off_until_ns + ps.next_backoff_ns && ps.backed_off_until_ns != 0)
		ps.next_backoff_ns = t.harm_backoff_ns; // a clean period after the last back-off
	ps.harmful_in_row = harmful(port) ? ps.harmful_in_row + 1 : 0;
	if (ps.harmful_in_row < t.harm_trip_intervals)
		return;
	ps.harmful_in_row = 0;
	ps.backed_off_until_ns = now_ns + ps.next_backoff_ns;
	ps.next_backoff_ns = std::min(2 * ps.next_backoff_ns, t.harm_max_backoff_ns);
	ps.last_published = experience::kBaseSetting;
	stats_.pilot_backoffs++;
	if (sink)
		sink->withdraw_setting(port, now_ns);
}

bool TuneLoop::forward(uint32_t port, Probs &out)
{
	for (;;) {
		const Window w = contexts_->window(port, 0);
		if (backend_->submit(&w, 1) && backend_->collect(&out))
			return true;
		stats_.backend_failures++;
		std::unique_ptr<Backend> next = cfg_.fall_back ? backend_->fallback() : nullptr;
		stats_.backend_failure = fmt::format("{}: {}; {}", backend_->name(), backend_->error(),
						     next ? fmt::format("carrying on with {}", next->name())
							  : std::string("the base settings carry on alone"));
		if (!next) {
			contexts_.reset();
			backend_.reset();
			stats_.backend = "none";
			return false;
		}
		backend_ = std::move(next);
		contexts_->rebind(*backend_);
		stats_.backend = backend_->name();
	}
}

void TuneLoop::decide(uint32_t port, uint64_t now_ns, TuneSink *sink)
{
	const auto start = std::chrono::steady_clock::now();
	TunePortState &ps = ports_state_[port];
	// The step's action token: the setting the loop last chose for the port
	// (the model's own previous decision, as in its training sequences).
	const uint32_t token = ps.last_published < actions_.size() ? ps.last_published : base_action_[port];
	contexts_->push(port, state_[port].data(), static_cast<uint8_t>(token), 0.0f);
	Probs probs;
	if (!forward(port, probs))
		return;
	uint32_t best = 0;
	bool finite = true;
	for (uint32_t a = 0; a < actions_.size(); a++) {
		finite = finite && std::isfinite(probs.p[a]);
		if (probs.p[a] > probs.p[best])
			best = a;
	}
	stats_.decisions++;
	if (!finite) {
		stats_.invalid_outputs++;
		return;
	}
	if (probs.p[best] - probs.p[token] <= cfg_.tune.switch_margin)
		best = token; // hysteresis: a near tie keeps what is in force
	contexts_->set_last_action(port, static_cast<uint8_t>(best));
	if (cfg_.enforce && sink && !backed_off(port, now_ns)) {
		sink->publish_setting(port, best, now_ns, now_ns + cfg_.tune.ttl_ns);
		stats_.changes += best != ps.last_published;
		ps.last_published = best;
		if (stats_.published++ == 0)
			stats_.first_publish_ns = now_ns;
	}
	stats_.decision_ns.add(static_cast<uint64_t>(
		std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count()));
}

} // namespace dualpilot::policy
