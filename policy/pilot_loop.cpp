#include "policy/pilot_loop.hpp"

#include <cmath>
#include <fmt/format.h>

namespace dualpilot::policy {

void PilotLoop::init(const PilotLoopConfig &cfg, size_t queues, std::unique_ptr<Backend> backend,
		     std::vector<int> feature_of, const experience::RewardSpec &reward)
{
	queues_ = queues;
	backend_ = std::move(backend);
	feature_of_ = std::move(feature_of);
	restart(cfg, reward);
}

// What a model needs per queue, fresh for each model (at start-up and on a
// reload): context windows for its features and window, room for a batch,
// no outputs of its own yet, and a clean harm guard (back-offs judged the
// model before; the pilot_backoffs count stays).
void PilotLoop::install(std::unique_ptr<Backend> backend, std::vector<int> feature_of)
{
	const size_t batch = backend ? std::min(cfg_.batch_max, queues_) : 0;
	feature_of_ = std::move(feature_of);
	contexts_ = backend ? std::make_unique<ContextSet>(*backend, queues_, batch, feature_of_) : nullptr;
	windows_.assign(batch, Window{});
	probs_.assign(batch, Probs{});
	dirty_.assign(queues_, 0);
	last_.assign(queues_, {});
	has_last_.assign(queues_, 0);
	harm_.assign(queues_, {});
	set_backend(std::move(backend));
}

void PilotLoop::restart(const PilotLoopConfig &cfg, const experience::RewardSpec &reward)
{
	cfg_ = cfg;
	reward_ = reward;
	failed_off_ = false;
	stats_ = PilotStats{};
	install(std::move(backend_), std::move(feature_of_));
}

void PilotLoop::set_backend(std::unique_ptr<Backend> backend)
{
	backend_ = std::move(backend);
	passes_.assign(backend_ ? backend_->pass_slots() : 0, Pass{});
	for (Pass &p : passes_)
		p.queues.reserve(windows_.size());
	first_pass_ = passes_in_flight_ = 0;
	stats_.backend = backend_ ? backend_->name() : "none";
}

void PilotLoop::observe(const PilotSample &s, float reward, uint64_t now_ns, OverrideSink *sink)
{
	const uint32_t c = s.queue;
	stats_.samples++;
	if (!backend_ || c >= queues_)
		return;
	if (has_last_[c] && backend_->config().action_count == kVerdictActions) {
		const auto &p = last_[c].p;
		const int predicted = p[1] > p[0] && p[1] >= p[2] ? 1 : p[2] > p[0] && p[2] > p[1] ? 2 : 0;
		stats_.confusion[s.aqm_action][predicted]++;
		stats_.scored++;
		stats_.agreed += predicted == s.aqm_action;
		stats_.would_drop += p[1];
		stats_.would_mark += p[2];
	}
	contexts_->push(c, s.state, s.taken_action, reward);
	dirty_[c] = 1;
	if (!cfg_.enforce || !sink)
		return;
	const GuardSample g{now_ns, static_cast<uint64_t>(s.state[experience::kQueueDelayFeature] * 1e3),
			    s.state[experience::kQueueBytesFeature], s.aqm_action, s.taken_action,
			    s.state[experience::kQueueTypeFeature] > 0.5f};
	if (harm_guard_observe(harm_[c], cfg_.harm, g)) {
		sink->withdraw(c, now_ns);
		stats_.pilot_backoffs++;
	}
}

// Submits the queues with new steps, a batch per free pass slot. A backend
// that computes in submit() (cpu) is collected at once, so that every queue
// is decided before the step returns; the queues left over for a busy GPU
// stay dirty for the next step.
void PilotLoop::step(uint64_t now_ns, OverrideSink *sink)
{
	collect_finished(now_ns, false, sink);
	while (backend_ && passes_in_flight_ < passes_.size()) {
		Pass &pass = passes_[(first_pass_ + passes_in_flight_) % passes_.size()];
		pass.queues.clear();
		for (size_t c = 0; c < dirty_.size() && pass.queues.size() < windows_.size(); c++) {
			if (!dirty_[c])
				continue;
			dirty_[c] = 0;
			windows_[pass.queues.size()] = contexts_->window(c, pass.queues.size());
			pass.queues.push_back(static_cast<uint32_t>(c));
		}
		if (pass.queues.empty())
			return;
		pass.start = std::chrono::steady_clock::now();
		if (!backend_->submit(windows_.data(), pass.queues.size())) {
			backend_failed(&pass);
			continue; // the fallback, if any, takes the same queues
		}
		passes_in_flight_++;
		collect_finished(now_ns, false, sink);
	}
}

uint32_t PilotLoop::poll(SampleSource &source, uint64_t now_ns, OverrideSink *sink, bool decide,
			 const std::function<void(const PilotSample &, float)> &also_each)
{
	const uint32_t drained = source.drain([&](const PilotSample &s) {
		const float reward = reward_of(s);
		if (also_each)
			also_each(s, reward);
		observe(s, reward, now_ns, sink);
	});
	if (decide && (drained > 0 || passes_in_flight_ > 0) && backend_)
		step(now_ns, sink);
	return drained;
}

void PilotLoop::flush(uint64_t now_ns, OverrideSink *sink) { collect_finished(now_ns, true, sink); }

void PilotLoop::collect_finished(uint64_t now_ns, bool wait, OverrideSink *sink)
{
	while (backend_ && passes_in_flight_ > 0 && (wait || backend_->done())) {
		Pass &pass = passes_[first_pass_];
		if (!backend_->collect(probs_.data())) {
			backend_failed(nullptr);
			return;
		}
		first_pass_ = (first_pass_ + 1) % passes_.size();
		passes_in_flight_--;
		publish(pass, now_ns, sink);
	}
}

// The backend failed: reported once, with what carries on. The queues of
// the passes it lost are decided again by the fallback.
void PilotLoop::backend_failed(const Pass *unsubmitted)
{
	const std::string why = backend_->error();
	const char *failed = backend_->name();
	for (size_t i = 0; i < passes_in_flight_; i++)
		for (uint32_t c : passes_[(first_pass_ + i) % passes_.size()].queues)
			dirty_[c] = 1;
	if (unsubmitted)
		for (uint32_t c : unsubmitted->queues)
			dirty_[c] = 1;
	std::unique_ptr<Backend> next = cfg_.fall_back ? backend_->fallback() : nullptr;
	stats_.backend_failures++;
	if (next) {
		stats_.backend_failure = fmt::format("backend {} failed ({}): the {} backend carries on", failed, why,
						     next->name());
		contexts_->rebind(*next);
	} else {
		stats_.backend_failure = fmt::format("backend {} failed ({}): policy off, the AQMs decide alone", failed, why);
		failed_off_ = true;
	}
	fmt::print(stderr, "policy: {}\n", stats_.backend_failure);
	set_backend(std::move(next));
}

void PilotLoop::publish(const Pass &pass, uint64_t now_ns, OverrideSink *sink)
{
	const auto pass_ns = static_cast<uint64_t>(
		std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - pass.start).count());
	const size_t n = pass.queues.size();
	stats_.forward_passes++;
	stats_.pass_ns.add(pass_ns);
	stats_.per_decision_ns.add(pass_ns / n);
	for (size_t i = 0; i < n; i++) {
		const uint32_t c = pass.queues[i];
		const auto &p = probs_[i].p;
		stats_.decisions++;
		if (!(std::isfinite(p[0]) && std::isfinite(p[1]) && std::isfinite(p[2]))) {
			stats_.invalid_outputs++;
			has_last_[c] = 0;
			continue;
		}
		last_[c] = probs_[i];
		has_last_[c] = 1;
		if (cfg_.enforce && sink && !harm_guard_backed_off(harm_[c], now_ns)) {
			sink->publish(c, capped_override(p.data(), cfg_.guard), now_ns,
				      cfg_.override_ttl_ns ? now_ns + cfg_.override_ttl_ns : 0);
			if (stats_.published++ == 0)
				stats_.first_publish_ns = now_ns;
		}
	}
}

} // namespace dualpilot::policy
