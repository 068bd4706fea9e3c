#include "dataplane/policy_worker.hpp"

#include <chrono>
#include <cmath>
#include <fmt/format.h>

#include "dataplane/router.hpp"
#include "policy/cpu_backend.hpp"
#include "policy/model_file.hpp"
#if DUALPILOT_GPU
#include "gpu/backend.hpp"
#endif

namespace dualpilot::dataplane {

std::string make_policy_backend(const PolicyConfig &cfg, const std::string &path, size_t queues,
				std::unique_ptr<policy::Backend> &out, std::string &note)
{
	policy::Model m;
	if (std::string err = policy::read_model(path, m); !err.empty())
		return err;
	if (cfg.backend == PolicyBackend::cpu) {
		out = std::make_unique<policy::CpuBackend>(m);
		return {};
	}
	std::string why;
#if DUALPILOT_GPU
	gpu::EngineOptions opt;
	opt.device = static_cast<int>(cfg.gpu_device);
	opt.precision = cfg.gpu_precision;
	opt.queues = static_cast<uint32_t>(queues);
	opt.max_batch = std::min(cfg.batch_max, opt.queues);
	opt.graphs = cfg.gpu_graphs;
	out = gpu::GpuBackend::create(m, opt, why);
#else
	(void)queues;
	why = "this build has no CUDA engine (gpu/ needs nvcc and cuBLAS at build time)";
#endif
	if (out)
		return {};
	if (cfg.gpu_fallback != GpuFallback::cpu)
		return "backend gpu unavailable (" + why + ")";
	note = "backend gpu unavailable (" + why + "): the cpu backend runs the policy";
	out = std::make_unique<policy::CpuBackend>(m);
	return {};
}

void PolicyWorker::init(const PolicyConfig &cfg, Router &router)
{
	std::unique_ptr<policy::Backend> backend;
	if (cfg.mode != PolicyMode::off && cfg.backend != PolicyBackend::none) {
		std::string note;
		const size_t queues = router.ports().size() * aqm::kQueueCount;
		if (std::string err = make_policy_backend(cfg, cfg.model, queues, backend, note); !err.empty())
			error_ = "policy off, the AQMs decide alone: " + err;
		else
			error_ = note;
	} // else sampling and pools only
	init(cfg, router, std::move(backend)); // without a backend: mode off, sampling and pools only
}

void PolicyWorker::init(const PolicyConfig &cfg, Router &router, std::unique_ptr<policy::Backend> backend)
{
	cfg_ = cfg;
	router_ = &router;
	mode_ = backend ? cfg.mode : PolicyMode::off;
	std::vector<int> feature_of;
	if (backend) {
		// The model names its features; each must be one the router samples.
		if (std::string err = policy::state_feature_index(backend->config(), feature_of); !err.empty()) {
			error_ = "policy off, the AQMs decide alone: " + err;
			backend.reset();
			mode_ = PolicyMode::off;
		}
	}
	reward_.delay_offset_us = backend ? backend->config().reward_offset_us : 1.0;
	install_model(std::move(backend), std::move(feature_of));
	pool_.reward_definition = reward_.definition();
	if (cfg.pool_rotates())
		start_rotation(router);
}

// What a model needs per queue, fresh for each model (at start-up and on a
// reload): context windows for its features and window, room for a batch,
// no outputs of its own yet, and a clean harm guard (back-offs judged the
// model before; the pilot_backoffs count stays in the stats).
void PolicyWorker::install_model(std::unique_ptr<policy::Backend> backend, std::vector<int> feature_of)
{
	const size_t queues = router_->ports().size() * aqm::kQueueCount;
	const size_t batch = backend ? std::min<size_t>(cfg_.batch_max, queues) : 0;
	contexts_ = backend ? std::make_unique<policy::ContextSet>(*backend, queues, batch, feature_of) : nullptr;
	feature_of_ = std::move(feature_of);
	windows_.assign(batch, policy::Window{});
	probs_.assign(batch, policy::Probs{});
	dirty_.assign(queues, 0);
	last_.assign(queues, {});
	has_last_.assign(queues, 0);
	harm_.assign(queues, {});
	set_backend(std::move(backend));
}

// A pool directory that cannot be used is reported like a model that cannot
// be loaded: the router runs on, and the samples it would have kept are
// counted as dropped.
void PolicyWorker::start_rotation(const Router &router)
{
	PoolRotation rot;
	rot.dir = cfg_.pool_out;
	rot.router = router.config().name;
	rot.max_bytes = cfg_.pool_rotate_bytes;
	rot.max_age_ns = cfg_.pool_rotate_ns;
	rot.max_entries = cfg_.pool_max_entries;
	rotator_ = std::make_unique<PoolRotator>();
	if (std::string err = rotator_->start(rot, router.ports().size(), reward_.definition()); !err.empty()) {
		error_ += (error_.empty() ? "" : "; ") + ("experience pools not recorded: " + err);
		rotator_.reset();
	}
}

void PolicyWorker::set_backend(std::unique_ptr<policy::Backend> backend)
{
	backend_ = std::move(backend);
	passes_.assign(backend_ ? backend_->pass_slots() : 0, Pass{});
	for (Pass &p : passes_)
		p.queues.reserve(windows_.size());
	first_pass_ = passes_in_flight_ = 0;
	stats_.backend = backend_ ? backend_->name() : "none";
}

void PolicyWorker::on_sample(const PacketState &s)
{
	const size_t c = size_t{s.port} * aqm::kQueueCount + s.queue;
	const float reward = reward_.of_state(s.features, s.taken_action);
	PolicyStats &st = stats_;
	st.samples++;
	if (cfg_.pool_rotates()) {
		std::array<float, experience::kFeatureCount> state;
		std::copy(std::begin(s.features), std::end(s.features), state.begin());
		if (!rotator_)
			st.pool_dropped++;
		else
			rotator_->add(s.port, state, s.taken_action, reward, now_ns_);
	} else if (!cfg_.pool_out.empty()) {
		if (pool_.size() < cfg_.pool_max_entries) {
			std::array<float, experience::kFeatureCount> state;
			std::copy(std::begin(s.features), std::end(s.features), state.begin());
			pool_.add(state, s.taken_action, reward, false);
		} else {
			st.pool_dropped++;
		}
	}
	if (!backend_ || c >= contexts_->size())
		return;
	if (has_last_[c]) {
		const auto &p = last_[c].p;
		const int predicted = p[1] > p[0] && p[1] >= p[2] ? 1 : p[2] > p[0] && p[2] > p[1] ? 2 : 0;
		st.confusion[s.aqm_action][predicted]++;
		st.scored++;
		st.agreed += predicted == s.aqm_action;
		st.would_drop += p[1];
		st.would_mark += p[2];
	}
	contexts_->push(c, s.features, s.taken_action, reward);
	dirty_[c] = 1;
	if (mode_ == PolicyMode::enforce && router_->override_slots() &&
	    policy::harm_guard_observe(harm_[c], harm_cfg_,
				       {now_ns_, static_cast<uint64_t>(s.features[experience::kQueueDelayFeature] * 1e3),
					s.features[experience::kQueueBytesFeature], s.aqm_action, s.taken_action, s.queue == 1})) {
		OverrideRecord withdrawn; // expires_ns 0: void at once, the AQM decides alone
		withdrawn.seq = ++publish_seq_;
		router_->override_slots()[c].publish(withdrawn);
		st.pilot_backoffs++;
	}
}

// Submits the queues with new samples, a batch per free pass slot. A
// backend that computes in submit() (cpu) is collected at once, so that
// every queue is decided before the pass returns; the queues left over for
// a busy GPU stay dirty for the next pass.
void PolicyWorker::infer(uint64_t now_ns)
{
	collect_finished(now_ns, false);
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
		collect_finished(now_ns, false);
	}
}

void PolicyWorker::collect_finished(uint64_t now_ns, bool wait)
{
	while (backend_ && passes_in_flight_ > 0 && (wait || backend_->done())) {
		Pass &pass = passes_[first_pass_];
		if (!backend_->collect(probs_.data())) {
			backend_failed(nullptr);
			return;
		}
		first_pass_ = (first_pass_ + 1) % passes_.size();
		passes_in_flight_--;
		publish(pass, now_ns);
	}
}

// The backend failed: reported once, with what carries on. The queues of
// the passes it lost are decided again by the fallback.
void PolicyWorker::backend_failed(const Pass *unsubmitted)
{
	const std::string why = backend_->error();
	const char *failed = backend_->name();
	for (size_t i = 0; i < passes_in_flight_; i++)
		for (uint32_t c : passes_[(first_pass_ + i) % passes_.size()].queues)
			dirty_[c] = 1;
	if (unsubmitted)
		for (uint32_t c : unsubmitted->queues)
			dirty_[c] = 1;
	std::unique_ptr<policy::Backend> next = cfg_.gpu_fallback == GpuFallback::cpu ? backend_->fallback() : nullptr;
	stats_.backend_failures++;
	if (next) {
		stats_.backend_failure = fmt::format("backend {} failed ({}): the {} backend carries on", failed, why,
						     next->name());
		contexts_->rebind(*next);
	} else {
		stats_.backend_failure = fmt::format("backend {} failed ({}): policy off, the AQMs decide alone", failed, why);
		mode_ = PolicyMode::off;
	}
	fmt::print(stderr, "policy: {}\n", stats_.backend_failure);
	set_backend(std::move(next));
}

void PolicyWorker::publish(const Pass &pass, uint64_t now_ns)
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
		if (mode_ == PolicyMode::enforce && router_->override_slots() && !policy::harm_guard_backed_off(harm_[c], now_ns)) {
			OverrideRecord r;
			r.probs = policy::capped_override(p.data(), cfg_.guard);
			r.seq = ++publish_seq_;
			r.expires_ns = now_ns + cfg_.override_ttl_ns;
			router_->override_slots()[c].publish(r);
			stats_.published++;
		}
	}
}

uint32_t PolicyWorker::poll(uint64_t now_ns)
{
	if (!router_)
		return 0;
	std::lock_guard lock(stats_mutex_);
	now_ns_ = now_ns;
	if (change_posted_.load(std::memory_order_acquire)) // a reload or mode switch, between two passes
		carry_out_change(now_ns);
	if (rotator_)
		rotator_->tick(now_ns);
	// A bounded share of each worker's ring (Sampler::kDrainPerCall).
	const uint32_t drained = router_->drain_samples([this](const PacketState &s) { on_sample(s); });
	if ((drained > 0 || passes_in_flight_ > 0) && backend_ && mode_ != PolicyMode::off)
		infer(now_ns);
	return drained;
}

void PolicyWorker::flush(uint64_t now_ns)
{
	std::lock_guard lock(stats_mutex_);
	collect_finished(now_ns, true);
}

PolicyStats PolicyWorker::stats() const
{
	PolicyStats s;
	{
		std::lock_guard lock(stats_mutex_);
		s = stats_;
	}
	if (router_)
		for (size_t p = 0; p < router_->ports().size(); p++)
			s.sample_drops += router_->port_stats(p).sample_drops;
	s.pool_entries = pool_.size();
	if (rotator_) {
		const PoolRotatorStats r = rotator_->stats();
		s.pool_entries = r.entries;
		s.pool_dropped += r.dropped;
		s.pool_files = r.files;
		s.pool_failed_entries = r.failed_entries;
	}
	return s;
}

std::string PolicyWorker::summary() const
{
	const PolicyStats s = stats();
	std::string out = fmt::format("policy {} (backend {}): {} samples ({} lost to full rings), {} decisions in {} "
				      "passes, {} not finite, {} overrides published, {} pilot_backoffs\n",
				      to_string(mode()), s.backend, s.samples, s.sample_drops, s.decisions, s.forward_passes,
				      s.invalid_outputs, s.published, s.pilot_backoffs);
	if (s.forward_passes)
		out += fmt::format("policy decision time: {:.1f} us per pass (p50), {:.2f} us per queue (p50), {:.1f} us "
				   "per pass (p99)\n",
				   s.pass_ns.percentile_ns(0.5) / 1e3, s.per_decision_ns.percentile_ns(0.5) / 1e3,
				   s.pass_ns.percentile_ns(0.99) / 1e3);
	if (s.scored)
		out += fmt::format("policy vs AQM on {} sampled decisions: agreement {:.2f} %; confusion [AQM forward, "
				   "drop, mark] x [policy forward, drop, mark] = {} {} {} / {} {} {} / {} {} {}; would "
				   "drop {:.2f} %, would mark {:.2f} %\n",
				   s.scored, 100.0 * s.agreed / s.scored, s.confusion[0][0], s.confusion[0][1],
				   s.confusion[0][2], s.confusion[1][0], s.confusion[1][1], s.confusion[1][2], s.confusion[2][0],
				   s.confusion[2][1], s.confusion[2][2], 100.0 * s.would_drop / s.scored,
				   100.0 * s.would_mark / s.scored);
	if (s.backend_failures)
		out += fmt::format("policy backend failures: {}; {}\n", s.backend_failures, s.backend_failure);
	if (cfg_.pool_rotates())
		out += fmt::format("experience pools: {} entries, {} files written to {} so far (the open pools are "
				   "written at exit){}{}\n",
				   s.pool_entries, s.pool_files, cfg_.pool_out,
				   s.pool_dropped ? fmt::format(", {} dropped (the writer fell behind)", s.pool_dropped) : "",
				   s.pool_failed_entries ? fmt::format(", {} in files that could not be written",
								       s.pool_failed_entries)
							 : "");
	else if (!cfg_.pool_out.empty())
		out += fmt::format("experience pool: {} entries for {}{}\n", s.pool_entries, cfg_.pool_out,
				   s.pool_dropped ? fmt::format(" ({} beyond pool_max_entries left out)", s.pool_dropped) : "");
	return out;
}

std::string PolicyWorker::finish()
{
	if (cfg_.pool_out.empty())
		return {};
	std::lock_guard lock(stats_mutex_);
	if (cfg_.pool_rotates())
		return rotator_ ? rotator_->finish() : std::string();
	return experience::write_pool(pool_, cfg_.pool_out);
}

} // namespace dualpilot::dataplane
