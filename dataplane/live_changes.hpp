// Changes to a running router without losing a packet: new AQM parameters on
// a port (`/dualpilot/aqm/set`, the way `tc qdisc change` works) and a new
// sampling interval for the policy (`/dualpilot/policy/set`).
//
// Nothing on the fast path takes a lock. Each worker has one change block
// (WorkerChanges): the control side (a telemetry callback, a test) validates
// the change, writes the block, and bumps `posted` (release); the worker, once
// per pass and between bursts, compares `posted` with the `applied` it wrote
// last (one acquire load), and when they differ applies the block to the
// AQMs it owns and stores `applied` (release). The control side writes a
// block only while posted == applied, so the worker never reads one being
// written; it serialises its own callers with a mutex, off the fast path.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "aqm/aqm.hpp"

namespace dualpilot::dataplane {

class Router;
struct Worker;

using AqmParams = std::variant<aqm::FifoParams, aqm::PieParams, aqm::CodelParams, aqm::DualPi2Params>;

struct alignas(64) WorkerChanges {
	static constexpr int32_t kNoPort = -1;
	static constexpr uint32_t kUnchanged = UINT32_MAX;

	std::atomic<uint64_t> posted{0};  // control side: stored (release) once the block below is written
	std::atomic<uint64_t> applied{0}; // the worker: stored (release) once it has applied the block
	// The block: written by the control side only while posted == applied.
	int32_t port = kNoPort;           // the egress port whose AQM takes `params`, or kNoPort
	AqmParams params;
	uint32_t inference_interval = kUnchanged; // sample every N packets of a queue from now on

	// The worker's one check per pass: acquire pairs with the control side's
	// release of `posted`, so the block is visible once the versions differ.
	bool pending() const
	{
		return posted.load(std::memory_order_acquire) != applied.load(std::memory_order_relaxed);
	}

	WorkerChanges() = default;
	// Workers are copied only while the router is set up, before anything
	// can be posted: a copy starts empty.
	WorkerChanges(const WorkerChanges &) {}
	WorkerChanges &operator=(const WorkerChanges &) { return *this; }
};

// The worker side: applies w's posted block (call when w.changes.pending()).
void apply_changes(Router &router, Worker &w);

// What a change request came to. ok: validated and posted; applied: the
// worker has applied it (false after a wait that ran out: it applies on the
// worker's next pass). log: the old and new values, for the operator's log.
struct ChangeResult {
	bool ok = false;
	bool applied = false;
	std::string error;
	std::string log;
};

// New AQM parameters for the named port, tc names ("target", "5ms"), on top
// of those it runs with. Validated by the same code as the config file's
// [ports.<aqm>] table (aqm::make_aqm), with the same messages; a limit above
// the queue's allocated capacity is refused (it needs a restart). Waits up to
// `wait` for the owning worker to apply it.
[[nodiscard]] ChangeResult change_aqm(Router &router, std::string_view port, std::span<const aqm::Setting> settings,
				      std::chrono::milliseconds wait);

// A new [policy] inference_interval for every worker (1 .. 1000000, as in
// the config). Refused where the router samples nothing.
[[nodiscard]] ChangeResult change_inference_interval(Router &router, uint32_t interval, std::chrono::milliseconds wait);

// Whether any worker has a change it has not applied yet.
bool changes_pending(const Router &router);

} // namespace dualpilot::dataplane
