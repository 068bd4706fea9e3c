#include "dataplane/policy_worker.hpp"

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <chrono>
#include <cmath>
#include <fmt/format.h>

#include "dataplane/router.hpp"
#include "policy/model_file.hpp"

namespace dualpilot::dataplane {

namespace {

constexpr unsigned kDrainBurst = 256;

} // namespace

void PolicyWorker::init(const PolicyConfig &cfg, Router &router)
{
	std::unique_ptr<policy::Backend> backend;
	if (cfg.mode != PolicyMode::off && cfg.backend == "cpu") {
		policy::Model m;
		if (std::string err = policy::read_model(cfg.model, m); !err.empty())
			error_ = "policy off, the AQMs decide alone: " + err;
		else
			backend = std::make_unique<policy::CpuBackend>(m);
	} else if (cfg.mode != PolicyMode::off && cfg.backend == "gpu") {
		error_ = "policy off, the AQMs decide alone: backend \"gpu\" is not in this build";
	}
	init(cfg, router, std::move(backend)); // without a backend: mode off, sampling and pools only
}

void PolicyWorker::init(const PolicyConfig &cfg, Router &router, std::unique_ptr<policy::Backend> backend)
{
	cfg_ = cfg;
	router_ = &router;
	backend_ = std::move(backend);
	mode_ = backend_ ? cfg.mode : PolicyMode::off;
	const size_t queues = router.ports().size() * aqm::kQueueCount;
	if (backend_) {
		// The model names its features; each must be one the router samples.
		if (std::string err = policy::state_feature_index(backend_->config(), feature_of_); !err.empty()) {
			error_ = "policy off, the AQMs decide alone: " + err;
			backend_.reset();
			mode_ = PolicyMode::off;
		}
	}
	if (backend_) {
		const size_t batch = std::min<size_t>(cfg.batch_max, queues);
		contexts_ = std::make_unique<policy::ContextSet>(*backend_, queues, batch, feature_of_);
		windows_.resize(batch);
		probs_.resize(batch);
	}
	reward_.delay_offset_us = backend_ ? backend_->config().reward_offset_us : 1.0;
	pool_.reward_definition = reward_.definition();
	dirty_.assign(queues, 0);
	last_.assign(queues, {});
	has_last_.assign(queues, 0);
}

void PolicyWorker::on_sample(const PacketState &s)
{
	const size_t c = size_t{s.port} * aqm::kQueueCount + s.queue;
	const float reward = reward_.of_state(s.features);
	PolicyStats &st = stats_;
	st.samples++;
	if (!cfg_.pool_out.empty()) {
		if (pool_.size() < cfg_.pool_max_entries) {
			std::array<float, sim::kFeatureCount> state;
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
}

void PolicyWorker::infer(uint64_t now_ns)
{
	batch_.clear();
	for (size_t c = 0; c < contexts_->size(); c++)
		if (dirty_[c])
			batch_.push_back(static_cast<uint32_t>(c));
	for (size_t start = 0; start < batch_.size(); start += windows_.size()) {
		const size_t n = std::min(windows_.size(), batch_.size() - start);
		for (size_t i = 0; i < n; i++) {
			const uint32_t c = batch_[start + i];
			dirty_[c] = 0;
			windows_[i] = contexts_->window(c, i);
		}
		const auto t0 = std::chrono::steady_clock::now();
		backend_->forward(windows_.data(), n, probs_.data());
		const auto pass_ns = static_cast<uint64_t>(
			std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
		stats_.forward_passes++;
		stats_.pass_ns.add(pass_ns);
		stats_.per_decision_ns.add(pass_ns / n);
		for (size_t i = 0; i < n; i++) {
			const uint32_t c = batch_[start + i];
			const auto &p = probs_[i].p;
			stats_.decisions++;
			if (!(std::isfinite(p[0]) && std::isfinite(p[1]) && std::isfinite(p[2]))) {
				stats_.invalid_outputs++;
				has_last_[c] = 0;
				continue;
			}
			last_[c] = probs_[i];
			has_last_[c] = 1;
			if (mode_ == PolicyMode::enforce && router_->override_slots()) {
				OverrideRecord r;
				const policy::OverrideProbs o = policy::capped_override(p.data(), cfg_.guard);
				r.p_drop_q16 = o.p_drop_q16;
				r.p_mark_q16 = o.p_mark_q16;
				r.seq = ++publish_seq_;
				r.expires_ns = now_ns + cfg_.override_ttl_ns;
				router_->override_slots()[c].publish(r);
				stats_.published++;
			}
		}
	}
}

uint32_t PolicyWorker::poll(uint64_t now_ns)
{
	if (!router_)
		return 0;
	PacketState buf[kDrainBurst];
	uint32_t drained = 0;
	std::lock_guard lock(stats_mutex_);
	for (Worker &w : router_->workers()) {
		if (!w.samples)
			continue;
		unsigned n;
		while ((n = rte_ring_sc_dequeue_burst_elem(w.samples, buf, sizeof(PacketState), kDrainBurst, nullptr)) > 0) {
			for (unsigned i = 0; i < n; i++)
				on_sample(buf[i]);
			drained += n;
		}
	}
	if (drained > 0 && backend_ && mode_ != PolicyMode::off)
		infer(now_ns);
	return drained;
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
	return s;
}

std::string PolicyWorker::summary() const
{
	const PolicyStats s = stats();
	const char *mode = mode_ == PolicyMode::enforce ? "enforce" : mode_ == PolicyMode::shadow ? "shadow" : "off";
	std::string out = fmt::format("policy {} (backend {}): {} samples ({} lost to full rings), {} decisions in {} "
				      "passes, {} not finite, {} overrides published\n",
				      mode, backend_name(), s.samples, s.sample_drops, s.decisions, s.forward_passes,
				      s.invalid_outputs, s.published);
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
	if (!cfg_.pool_out.empty())
		out += fmt::format("experience pool: {} entries for {}{}\n", s.pool_entries, cfg_.pool_out,
				   s.pool_dropped ? fmt::format(" ({} beyond pool_max_entries left out)", s.pool_dropped) : "");
	return out;
}

std::string PolicyWorker::finish()
{
	if (cfg_.pool_out.empty())
		return {};
	std::lock_guard lock(stats_mutex_);
	return sim::write_pool(pool_, cfg_.pool_out);
}

} // namespace dualpilot::dataplane
