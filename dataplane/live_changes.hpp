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
//
// This file holds the plain records and the validation, and knows nothing of
// the router: the dependency points one way, router -> live_changes. The
// router's side (router.hpp: apply_changes, change_aqm,
// change_inference_interval, changes_pending; router_changes.cpp) posts a
// validated change to its workers and applies it to their AQMs.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <variant>

#include "aqm/aqm.hpp"
#include "dataplane/config.hpp"

namespace dualpilot::dataplane {

using AqmParams = std::variant<aqm::FifoParams, aqm::PieParams, aqm::CodelParams, aqm::DualPi2Params>;

struct alignas(64) WorkerChanges {
	static constexpr int32_t kNoPort = -1;
	static constexpr uint32_t kUnchanged = UINT32_MAX;

	std::atomic<uint64_t> posted{0};  // control side: stored (release) once the block below is written
	std::atomic<uint64_t> applied{0}; // the worker: stored (release) once it has applied the block
	// The block: written by the control side only while posted == applied.
	int32_t port = kNoPort;           // the egress port whose AQM takes `params`, or kNoPort
	AqmParams params;
	// The seed `params` carries for the port's first egress queue when the
	// change names one (queue t takes seed + t, so that a port's queues never
	// roll in lockstep); kSeedKept: each queue keeps its own generator.
	static constexpr int64_t kSeedKept = -1;
	int64_t seed = kSeedKept;
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

// What a change request came to. ok: validated and posted; applied: the
// worker has applied it (false after a wait that ran out: it applies on the
// worker's next pass). log: the old and new values, for the operator's log.
struct ChangeResult {
	bool ok = false;
	bool applied = false;
	std::string error;
	std::string log;
};

// A change of AQM parameters that passed validation: the parameters the
// port's worker is to run with, the limit they give the queue, and the old
// and new values for the operator's log.
struct AqmChange {
	AqmParams params;
	uint32_t limit_pkts = 0;
	std::string log;
};

// Validates new AQM parameters for a port, tc names ("target", "5ms"), on
// top of those it runs with (its config, then limit_pkts, the limit the
// router sized). The same code as the config file's [ports.<aqm>] table
// checks them (aqm::make_aqm, seeded with `seed` as at start-up), with the
// same messages; a limit above the capacity `running` was allocated with is
// refused (it needs a restart). Error text naming the port, or empty.
[[nodiscard]] std::string check_aqm_change(const PortConfig &port, const aqm::AnyAqm &running, uint32_t limit_pkts,
					   int seed, std::span<const aqm::Setting> settings, AqmChange &change);

// Validates a new [policy] inference_interval (1 .. 1000000, as in the
// config). Error text, or empty.
[[nodiscard]] std::string check_inference_interval(uint32_t interval);

} // namespace dualpilot::dataplane
