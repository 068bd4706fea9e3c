#include "dataplane/policy_worker.hpp"

#include <chrono>
#include <cmath>
#include <fmt/format.h>

#include "dataplane/pilot_channels.hpp"
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
		const size_t queues = router.ports().size() * (cfg.action == policy::PilotAction::tune ? 1 : aqm::kQueueCount);
		if (std::string err = make_policy_backend(cfg, cfg.model, queues, backend, note); !err.empty())
			error_ = "policy off, the AQMs decide alone: " + err;
		else
			error_ = note;
	} // else sampling and pools only
	init(cfg, router, std::move(backend)); // without a backend: mode off, sampling and pools only
}

PolicyWorker::PolicyWorker() = default;
PolicyWorker::~PolicyWorker() = default;

void PolicyWorker::init(const PolicyConfig &cfg, Router &router, std::unique_ptr<policy::Backend> backend)
{
	cfg_ = cfg;
	samples_ = std::make_unique<RouterSamples>(router);
	overrides_ = router.override_slots() ? std::make_unique<RouterOverrides>(router.override_slots()) : nullptr;
	ports_ = router.ports().size();
	sampling_ = router.sampling();
	router_name_ = router.config().name;
	if (cfg.action == policy::PilotAction::tune) {
		init_tuner(router, std::move(backend));
		return;
	}
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
	experience::RewardSpec reward;
	reward.base = objective_;
	reward.delay_offset_us = backend ? backend->config().reward_offset_us : 1.0;
	policy::PilotLoopConfig loop;
	loop.enforce = mode_ == PolicyMode::enforce;
	loop.guard = cfg.guard;
	loop.override_ttl_ns = cfg.override_ttl_ns;
	loop.batch_max = cfg.batch_max;
	loop.fall_back = cfg.gpu_fallback == GpuFallback::cpu;
	loop_.init(loop, ports_ * aqm::kQueueCount, std::move(backend), std::move(feature_of), reward);
	pool_.reward_definition = reward.definition();
	if (cfg.pool_rotates())
		start_rotation();
}

// A pool directory that cannot be used is reported like a model that cannot
// be loaded: the router runs on, and the samples it would have kept are
// counted as dropped.
void PolicyWorker::start_rotation()
{
	PoolRotation rot;
	rot.dir = cfg_.pool_out;
	rot.router = router_name_;
	rot.max_bytes = cfg_.pool_rotate_bytes;
	rot.max_age_ns = cfg_.pool_rotate_ns;
	rot.max_entries = cfg_.pool_max_entries;
	rotator_ = std::make_unique<PoolRotator>();
	if (std::string err = rotator_->start(rot, ports_, loop_.reward().definition()); !err.empty()) {
		error_ += (error_.empty() ? "" : "; ") + ("experience pools not recorded: " + err);
		rotator_.reset();
	}
}

policy::OverrideSink *PolicyWorker::sink() const
{
	return mode_.load(std::memory_order_relaxed) == PolicyMode::enforce ? overrides_.get() : nullptr;
}

// Every sample is kept for the pools (with its reward) before the loop sees it.
void PolicyWorker::on_sample(const policy::PilotSample &s, float reward)
{
	if (cfg_.pool_rotates()) {
		experience::State state;
		std::copy(s.state, s.state + experience::kFeatureCount, state.begin());
		if (!rotator_)
			pool_dropped_++;
		else
			rotator_->add(s.queue / aqm::kQueueCount, state, s.taken_action, reward, now_ns_);
	} else if (!cfg_.pool_out.empty()) {
		if (pool_.size() < cfg_.pool_max_entries) {
			experience::State state;
			std::copy(s.state, s.state + experience::kFeatureCount, state.begin());
			pool_.add(state, s.taken_action, reward, false);
		} else {
			pool_dropped_++;
		}
	}
}

uint32_t PolicyWorker::poll(uint64_t now_ns)
{
	if (!samples_)
		return 0;
	std::lock_guard lock(stats_mutex_);
	now_ns_ = now_ns;
	if (change_posted_.load(std::memory_order_acquire)) // a reload or mode switch, between two passes
		carry_out_change(now_ns);
	if (tuning_)
		return poll_tuner();
	if (rotator_)
		rotator_->tick(now_ns);
	const bool decide = mode_.load(std::memory_order_relaxed) != PolicyMode::off;
	const uint32_t drained = loop_.poll(*samples_, now_ns, sink(), decide,
					    [this](const policy::PilotSample &s, float reward) { on_sample(s, reward); });
	if (!loop_.alive()) // the backend failed with no fallback: the AQMs decide alone
		mode_ = PolicyMode::off;
	return drained;
}

void PolicyWorker::flush(uint64_t now_ns)
{
	std::lock_guard lock(stats_mutex_);
	loop_.flush(now_ns, sink());
}

PolicyStats PolicyWorker::stats() const
{
	PolicyStats s;
	{
		std::lock_guard lock(stats_mutex_);
		static_cast<policy::PilotStats &>(s) = loop_.stats();
		s.pool_dropped = pool_dropped_;
		s.pool_entries = pool_.size();
		if (tuning_)
			s.backend = tune_loop_.stats().backend;
	}
	if (samples_)
		s.sample_drops = samples_->lost();
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
	if (tuning_)
		return tune_summary();
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
