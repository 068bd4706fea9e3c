// The router's side of live changes (live_changes.hpp holds the records and
// their validation and knows nothing of the router): a validated change is
// posted to the change block of each worker it concerns (an AQM change: the
// owner of each of the port's egress queues), and the worker applies it to
// the AQMs it owns between two bursts.
#include "dataplane/router.hpp"

#include <fmt/format.h>

#include "aqm/units.hpp"

#include <algorithm>
#include <mutex>
#include <thread>

namespace dualpilot::dataplane {

namespace {

// Serialises the control side's callers (telemetry, signals, tests).
std::mutex control_mutex;

std::string not_applied_yet(const Worker &w)
{
	return fmt::format("the worker on lcore {} has not applied the previous change yet (is the router "
			   "forwarding?); try again",
			   w.lcore);
}

// Posts the block written by fill() to worker w and waits up to `wait` for
// it. Refused while an earlier change is still unapplied (a worker that is
// not running): the block may not be written under the worker.
template <typename Fill>
[[nodiscard]] bool post(Worker &w, std::chrono::milliseconds wait, ChangeResult &result, Fill fill)
{
	WorkerChanges &c = w.changes;
	const uint64_t v = c.posted.load(std::memory_order_relaxed);
	if (c.applied.load(std::memory_order_acquire) != v) {
		result.error = not_applied_yet(w);
		return false;
	}
	c.port = WorkerChanges::kNoPort;
	c.seed = WorkerChanges::kSeedKept;
	c.inference_interval = WorkerChanges::kUnchanged;
	fill(c);
	c.posted.store(v + 1, std::memory_order_release);
	result.ok = true;
	const auto deadline = std::chrono::steady_clock::now() + wait;
	while (c.applied.load(std::memory_order_acquire) != v + 1 && std::chrono::steady_clock::now() < deadline)
		std::this_thread::sleep_for(std::chrono::microseconds(200));
	result.applied = c.applied.load(std::memory_order_acquire) == v + 1;
	return true;
}

// Posts fill()'s block to each of `workers` (indices, each once): all or
// none (each must have applied its last change). Applied where every one of
// them applied it within `wait`.
template <typename Fill>
[[nodiscard]] bool post_to_workers(Router &router, const std::vector<uint16_t> &workers, std::chrono::milliseconds wait,
				   ChangeResult &result, Fill fill)
{
	for (uint16_t o : workers) {
		const Worker &w = router.workers()[o];
		if (w.changes.applied.load(std::memory_order_acquire) != w.changes.posted.load(std::memory_order_relaxed)) {
			result.error = not_applied_yet(w);
			return false;
		}
	}
	bool applied = true;
	for (uint16_t o : workers) {
		ChangeResult one;
		if (!post(router.workers()[o], wait, one, fill)) {
			result.error = one.error;
			return false;
		}
		applied = applied && one.applied;
	}
	result.ok = true;
	result.applied = applied;
	return true;
}

// The owner of each of the port's egress queues, each worker once.
std::vector<uint16_t> owners_of(const Router &router, const Port &p)
{
	std::vector<uint16_t> owners;
	for (uint16_t t = 0; t < p.queues; t++) {
		const uint16_t o = router.queues()[p.first_queue + t].owner;
		if (std::find(owners.begin(), owners.end(), o) == owners.end())
			owners.push_back(o);
	}
	return owners;
}

// The seed a list of settings names (the last "seed"), or kSeedKept.
int64_t given_seed(std::span<const aqm::Setting> settings)
{
	int64_t seed = WorkerChanges::kSeedKept;
	for (const aqm::Setting &s : settings) {
		uint64_t v = 0;
		if (s.key == "seed" && aqm::parse_u64(s.value, v).empty())
			seed = static_cast<int64_t>(v & INT64_MAX);
	}
	return seed;
}

} // namespace

void apply_changes(Router &router, Worker &w)
{
	WorkerChanges &c = w.changes;
	const uint64_t v = c.posted.load(std::memory_order_acquire);
	// Every egress queue of the port that this worker owns; the control
	// side checked that the types agree.
	for (uint16_t e : w.egress) {
		EgressQueue &eq = router.queues()[e];
		if (c.port == WorkerChanges::kNoPort || eq.port != static_cast<uint16_t>(c.port))
			continue;
		std::visit(
			[&](auto &q) {
				using P = std::decay_t<decltype(q.params())>;
				if (const P *next = std::get_if<P>(&c.params)) {
					P mine = *next;
					if constexpr (requires { mine.seed; })
						mine.seed = c.seed == WorkerChanges::kSeedKept
								    ? q.params().seed
								    : static_cast<uint64_t>(c.seed) + eq.tx_queue;
					q.change(mine);
				}
			},
			*eq.aqm);
	}
	if (c.inference_interval != WorkerChanges::kUnchanged)
		w.sampler.set_inference_interval(c.inference_interval);
	c.applied.store(v, std::memory_order_release);
}

ChangeResult change_aqm(Router &router, std::string_view port_name, std::span<const aqm::Setting> settings,
			std::chrono::milliseconds wait)
{
	std::lock_guard lock(control_mutex);
	ChangeResult result;
	const int i = router.port_index(port_name);
	if (i < 0) {
		result.error = fmt::format("no port named '{}' (/dualpilot/ports lists them)", port_name);
		return result;
	}
	Port &p = router.ports()[static_cast<size_t>(i)];
	const EgressQueue &first = router.queue(static_cast<size_t>(i));
	if (!first.aqm) {
		result.error = fmt::format("port '{}' runs aqm \"none\": no parameters to change", p.cfg.name);
		return result;
	}
	// A tuned port's DualPI2 runs the tuner's settings over the base it was
	// built with, and its workers' tables are derived from that base: a
	// change would be undone by the next setting or leave a stale base.
	if (const PortTune *t = router.port_tune(static_cast<size_t>(i)); t && t->tuned) {
		result.error = fmt::format("port '{}' is tuned by the pilot ([policy] action = \"tune\"): its DualPI2 "
					   "settings are the tuner's; change [ports.dualpi2] or [policy.tune] and restart",
					   p.cfg.name);
		return result;
	}
	// The seed is the router's for the port's first queue, as at start-up;
	// every queue of the port runs the same parameters.
	AqmChange change;
	result.error = check_aqm_change(p.cfg, *first.aqm, p.limit_pkts, static_cast<int>(aqm_seed(i, 0)), settings,
					change);
	if (!result.error.empty())
		return result;
	result.log = std::move(change.log);
	if (!post_to_workers(router, owners_of(router, p), wait, result, [&](WorkerChanges &c) {
		    c.port = static_cast<int32_t>(i);
		    c.params = change.params;
		    c.seed = given_seed(settings);
	    }))
		return result;
	p.cfg.aqm_params.insert(p.cfg.aqm_params.end(), settings.begin(), settings.end());
	p.limit_pkts = change.limit_pkts;
	return result;
}

ChangeResult change_inference_interval(Router &router, uint32_t interval, std::chrono::milliseconds wait)
{
	std::lock_guard lock(control_mutex);
	ChangeResult result;
	result.error = check_inference_interval(interval);
	if (!result.error.empty())
		return result;
	if (!router.sampling()) {
		result.error = router.tuning() ? "inference_interval: this router tunes ([policy] action = \"tune\"): it "
						 "counts steps every tune_interval and samples no packets"
					       : "inference_interval: this router samples nothing ([policy] mode off, no "
						 "pool_out): restart it with the policy on";
		return result;
	}
	const uint32_t old = router.workers()[0].sampler.inference_interval();
	std::vector<uint16_t> all(router.workers().size());
	for (size_t i = 0; i < all.size(); i++)
		all[i] = static_cast<uint16_t>(i);
	if (post_to_workers(router, all, wait, result, [&](WorkerChanges &c) { c.inference_interval = interval; }))
		result.log = fmt::format("policy/set inference_interval {} -> {}", old, interval);
	return result;
}

bool changes_pending(const Router &router)
{
	for (const Worker &w : router.workers())
		if (w.changes.posted.load(std::memory_order_acquire) != w.changes.applied.load(std::memory_order_acquire))
			return true;
	return false;
}

} // namespace dualpilot::dataplane
