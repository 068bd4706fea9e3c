// The policy worker's live changes: a model reloaded, a mode switched, while
// the router forwards. Requested from any thread (telemetry, the SIGHUP
// handler's flag, tests), carried out by poll() on the policy lcore before a
// pass, so the backend and the context windows only ever change on the
// thread that uses them.
#include <fmt/format.h>

#include "dataplane/policy_worker.hpp"
#include "dataplane/router.hpp"

namespace dualpilot::dataplane {

ChangeResult PolicyWorker::request_change(const PolicyChange &change, std::chrono::milliseconds wait)
{
	std::unique_lock lock(change_mutex_);
	ChangeResult r;
	if (!samples_) {
		r.error = "the policy worker is not running";
		return r;
	}
	if (change_) {
		r.error = "an earlier policy change is still waiting for the policy worker; try again";
		return r;
	}
	change_ = change;
	const uint64_t mine = ++changes_posted_;
	change_posted_.store(true, std::memory_order_release);
	change_done_.wait_for(lock, wait, [&] { return changes_done_ >= mine; });
	if (changes_done_ >= mine)
		return change_outcome_;
	r.ok = true; // posted; the policy worker carries it out on its next pass
	r.log = "posted: the policy worker carries it out on its next pass";
	return r;
}

ChangeResult PolicyWorker::change_outcome(uint64_t *carried_out) const
{
	std::lock_guard lock(change_mutex_);
	if (carried_out)
		*carried_out = changes_done_;
	return change_outcome_;
}

std::string PolicyWorker::model_path() const
{
	std::lock_guard lock(stats_mutex_);
	return cfg_.model;
}

// On the policy lcore, inside poll() (stats_mutex_ held): between two passes.
void PolicyWorker::carry_out_change(uint64_t now_ns)
{
	std::optional<PolicyChange> change;
	{
		std::lock_guard lock(change_mutex_);
		change.swap(change_);
		change_posted_.store(false, std::memory_order_relaxed);
	}
	if (!change)
		return;
	ChangeResult r;
	r.ok = r.applied = true;
	if (change->model) {
		const std::string old = cfg_.model.empty() ? "(none)" : cfg_.model;
		if (std::string err = reload_model(*change->model, now_ns); !err.empty()) {
			r.ok = false;
			r.error = fmt::format("model not loaded, {} runs on: {}", deciding() ? old : "the AQMs alone", err);
		} else {
			r.log = fmt::format("policy/reload model {} -> {} (backend {})", old, *change->model,
					    tuning_ ? tune_loop_.stats().backend : loop_.stats().backend);
		}
	}
	if (r.ok && change->mode) {
		const PolicyMode old = mode_.load(std::memory_order_relaxed);
		if (std::string err = switch_mode(*change->mode); !err.empty()) {
			r.ok = false;
			r.error = fmt::format("mode stays {}: {}", to_string(old), err);
		} else {
			r.log += fmt::format("{}policy/set mode {} -> {}", r.log.empty() ? "" : "; ", to_string(old),
					     to_string(*change->mode));
		}
	}
	// Every change carried out or refused goes to the operator's log, with
	// what it changed from and to.
	fmt::print(stderr, "policy: {}\n", r.ok ? r.log : "refused: " + r.error);
	{
		std::lock_guard lock(change_mutex_);
		change_outcome_ = r;
		changes_done_++;
	}
	change_done_.notify_all();
}

// The new model gets the start-up checks (make_policy_backend, then its
// features against the sampler's); only then are the old model's passes in
// flight published and the model installed as at start-up (PilotLoop::install:
// fresh windows, as the new model may see other features or a longer
// window, and a fresh harm guard); the reward definition stays that of the
// pools being recorded.
std::string PolicyWorker::reload_model(const std::string &path, uint64_t now_ns)
{
	if (cfg_.backend == PolicyBackend::none)
		return "backend \"none\" runs no model (set [policy] backend = \"cpu\" or \"gpu\")";
	if (tuning_)
		return reload_tuner(path);
	const size_t queues = ports_ * aqm::kQueueCount;
	std::unique_ptr<policy::Backend> next;
	std::string note;
	if (std::string err = make_policy_backend(cfg_, path, queues, next, note); !err.empty())
		return err;
	std::vector<int> feature_of;
	if (std::string err = policy::state_feature_index(next->config(), feature_of); !err.empty())
		return path + ": " + err;
	if (!note.empty())
		fmt::print(stderr, "policy: {}\n", note);
	loop_.flush(now_ns, sink());
	const bool had_model = loop_.deciding();
	loop_.install(std::move(next), std::move(feature_of)); // fresh contexts, outputs and harm guards
	cfg_.model = path;
	// A policy that was off for want of a usable model takes up the mode
	// it was configured with.
	if (!had_model && mode_.load(std::memory_order_relaxed) == PolicyMode::off && cfg_.mode != PolicyMode::off) {
		if (std::string err = switch_mode(cfg_.mode); !err.empty())
			fmt::print(stderr, "policy: model loaded, mode stays off: {}\n", err);
	}
	return {};
}

// off: the policy stops deciding (samples still feed the pools); what it
// published expires within override_ttl. shadow and enforce need a model and
// the router's sample rings; enforce also the override slots, which the
// router has when it started in shadow or enforce mode.
std::string PolicyWorker::switch_mode(PolicyMode mode)
{
	if (mode != PolicyMode::off && tuning_) {
		if (!tune_loop_.deciding())
			return "no tuner model is loaded (/dualpilot/policy/reload,<path> first)";
		if (!tune_sink_)
			return "the router has no setting records (it started with [policy] mode off): restart it with mode "
			       "= \"shadow\" or \"enforce\"";
	} else if (mode != PolicyMode::off) {
		if (!loop_.deciding())
			return "no model is loaded (/dualpilot/policy/reload,<path> first)";
		if (!sampling_)
			return "the router samples nothing (it started with [policy] mode off and no pool_out): restart it "
			       "with mode = \"shadow\"";
		if (mode == PolicyMode::enforce && !overrides_)
			return "the router has no override slots (it started with [policy] mode off): restart it with mode "
			       "= \"shadow\" or \"enforce\"";
	}
	mode_.store(mode, std::memory_order_relaxed);
	cfg_.mode = mode;
	loop_.set_enforce(mode == PolicyMode::enforce);
	return {};
}

} // namespace dualpilot::dataplane
