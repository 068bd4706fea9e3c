// The policy worker in tune mode (policy_worker.hpp; docs/pilot.md, "The
// tuner"): the tuner's loop over the router's ports, fed by the workers'
// tune-step rings, publishing through the ports' setting records.
#include <fmt/format.h>

#include "dataplane/pilot_channels.hpp"
#include "dataplane/policy_worker.hpp"
#include "dataplane/router.hpp"
#include "policy/pilot_profile.hpp"

namespace dualpilot::dataplane {

policy::TuneLoopConfig PolicyWorker::tune_loop_config() const
{
	policy::TuneLoopConfig c;
	c.tune = cfg_.tune;
	c.enforce = true; // shadow: the loop is handed no sink, so it publishes nothing
	// A feature: a CPU pass beside the router, as the pilot profile has it.
	c.decision_delay_ns = policy::pilot_profile::kDecisionDelaysNs[0];
	c.fall_back = cfg_.gpu_fallback == GpuFallback::cpu;
	return c;
}

// The loop's ports are the router's, by index: a tuned port's base is its
// DualPI2 as built, the last entry of its worker's table (read-only after
// start-up: the live DualPI2 is the worker's, and may have a tuned setting
// in force), its RTT hint that DualPI2's max_rtt. An untuned port sends no
// steps; it gets DualPI2's defaults, never used.
std::vector<policy::TunePort> PolicyWorker::tune_ports() const
{
	std::vector<policy::TunePort> out;
	for (size_t i = 0; i < router_->ports().size(); i++) {
		aqm::DualPi2Params base;
		const PortTune *t = router_->port_tune(i);
		if (t && t->tuned)
			base = t->table.back();
		else
			(void)aqm::dualpi2_finalize(base);
		out.push_back({base, static_cast<uint64_t>(policy::view_of(base).max_rtt_ns)});
	}
	return out;
}

// A model the loop refuses (features that are not the tuner's, another
// table's actions) is reported like one that cannot be loaded: the ports
// keep their configured settings, and the steps are still counted.
void PolicyWorker::init_tuner(Router &router, std::unique_ptr<policy::Backend> backend)
{
	tuning_ = true;
	router_ = &router;
	if (router.tuning())
		tune_sink_ = std::make_unique<RouterTuneSettings>(router.tune_slots(), ports_);
	mode_ = backend && tune_sink_ ? cfg_.mode : PolicyMode::off;
	if (std::string err = tune_loop_.init(tune_loop_config(), tune_ports(), std::move(backend)); !err.empty()) {
		error_ = "tuner off, DualPI2's settings as configured: " + err;
		mode_ = PolicyMode::off;
		if (std::string again = tune_loop_.init(tune_loop_config(), tune_ports(), nullptr); !again.empty())
			error_ += "; " + again;
	}
}

// stats_mutex_ held. Off: the steps are drained and let go.
uint32_t PolicyWorker::poll_tuner()
{
	const PolicyMode mode = mode_.load(std::memory_order_relaxed);
	policy::TuneSink *sink = mode == PolicyMode::enforce ? tune_sink_.get() : nullptr;
	return router_->drain_tune_steps([&](const TuneStepMsg &m) {
		if (mode != PolicyMode::off)
			tune_loop_.observe(m.port, m.step, sink);
	});
}

// The checks TuneLoop::init makes, before the running model is let go; then
// the loop starts afresh with it (contexts, features, harm guards and
// counters). Records already published stay until they expire.
std::string PolicyWorker::reload_tuner(const std::string &path)
{
	std::unique_ptr<policy::Backend> next;
	std::string note;
	if (std::string err = make_policy_backend(cfg_, path, ports_, next, note); !err.empty())
		return err;
	std::vector<int> feature_of;
	if (std::string err = policy::tune_feature_index(next->config(), feature_of); !err.empty())
		return path + ": " + err;
	if (next->config().action_count != tune_loop_.actions().size() || next->cache_floats() != 0)
		return fmt::format("{}: a tuner model has one action per setting of [policy.tune] ({}) and caches no "
				   "steps; this one has {} actions",
				   path, tune_loop_.actions().size(), next->config().action_count);
	if (!note.empty())
		fmt::print(stderr, "policy: {}\n", note);
	const bool had_model = tune_loop_.deciding();
	if (std::string err = tune_loop_.init(tune_loop_config(), tune_ports(), std::move(next)); !err.empty())
		return path + ": " + err;
	cfg_.model = path;
	if (!had_model && mode_.load(std::memory_order_relaxed) == PolicyMode::off && cfg_.mode != PolicyMode::off)
		if (std::string err = switch_mode(cfg_.mode); !err.empty())
			fmt::print(stderr, "policy: model loaded, mode stays off: {}\n", err);
	return {};
}

namespace {

std::string setting_name(const std::vector<policy::TuneSetting> &actions, uint32_t a)
{
	return a < actions.size() ? policy::describe(actions[a]) : std::string("base");
}

void add_worker_counts(TunePortReport &r, const TuneCounts &c)
{
	r.applied = c.applied.load(std::memory_order_relaxed);
	r.stale = c.stale.load(std::memory_order_relaxed);
	r.refused = c.refused.load(std::memory_order_relaxed);
	r.expired = c.expired.load(std::memory_order_relaxed);
	r.withdrawn = c.withdrawn.load(std::memory_order_relaxed);
	r.steps = c.steps.load(std::memory_order_relaxed);
	r.step_drops = c.step_drops.load(std::memory_order_relaxed);
}

} // namespace

TuneReport PolicyWorker::tune_report() const
{
	TuneReport r;
	if (!tuning_)
		return r;
	std::lock_guard lock(stats_mutex_);
	r.stats = tune_loop_.stats();
	const std::vector<policy::TuneSetting> &actions = tune_loop_.actions();
	for (size_t p = 0; p < ports_; p++) {
		const PortTune *t = router_->port_tune(p);
		if (!t || !t->tuned)
			continue;
		const policy::TunePortState &ps = tune_loop_.port(static_cast<uint32_t>(p));
		TunePortReport pr;
		pr.port = router_->ports()[p].cfg.name;
		pr.in_force = setting_name(actions, ps.in_force);
		pr.in_force_for_ns = ps.last_step_ns - std::min(ps.last_step_ns, ps.in_force_since_ns);
		for (uint32_t a = 0; a < ps.held_ns.size(); a++)
			if (ps.held_ns[a] > 0)
				pr.held.push_back({a < actions.size() ? a : experience::kBaseSetting, setting_name(actions, a),
						   ps.held_ns[a]});
		pr.published = tune_sink_ ? tune_sink_->published(p) : 0;
		add_worker_counts(pr, t->counts);
		r.ports.push_back(std::move(pr));
	}
	return r;
}

std::string PolicyWorker::tune_summary() const
{
	const TuneReport r = tune_report();
	const policy::TuneStats &s = r.stats;
	std::string out = fmt::format("policy tune {} (backend {}): {} steps, {} intervals ({} idle, not decided), {} "
				      "decisions, {} not finite, {} settings published ({} changes), {} pilot_backoffs\n",
				      to_string(mode()), s.backend, s.steps, s.intervals, s.idle_intervals, s.decisions,
				      s.invalid_outputs, s.published, s.changes, s.pilot_backoffs);
	if (s.decisions)
		out += fmt::format("policy decision time: {:.2f} us per port (p50), {:.2f} us (p99)\n",
				   s.decision_ns.percentile_ns(0.5) / 1e3, s.decision_ns.percentile_ns(0.99) / 1e3);
	if (s.backend_failures)
		out += fmt::format("policy backend failures: {}; {}\n", s.backend_failures, s.backend_failure);
	for (const TunePortReport &p : r.ports) {
		out += fmt::format("{} tuner: in force {} for {:.3f} s; published {}, applied {}, stale {}, refused {}, "
				   "expired {}, withdrawn {}; steps {} ({} lost to a full ring)\n",
				   p.port, p.in_force, p.in_force_for_ns / 1e9, p.published, p.applied, p.stale, p.refused,
				   p.expired, p.withdrawn, p.steps, p.step_drops);
		std::string held;
		for (const TuneHeld &h : p.held)
			held += fmt::format("{}{}: {:.3f} s", held.empty() ? "" : "; ", h.setting, h.ns / 1e9);
		out += fmt::format("{} tuner held: {}\n", p.port, held.empty() ? "-" : held);
	}
	return out;
}

} // namespace dualpilot::dataplane
