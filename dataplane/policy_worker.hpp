// The policy worker: the service lcore that runs the learned policy beside
// the workers, through the pilot loop the simulator runs too
// (policy/pilot_loop.hpp), over the router's two channels
// (dataplane/pilot_channels.hpp). Each pass it drains every worker's sample ring, appends each
// sample to its queue's context window (return-to-go, state, action), runs
// the backend once on every queue that has new samples (up to batch_max per
// forward pass), and then
//   shadow:   keeps the prediction, scoring it against the AQM's decisions
//             on the next samples of that queue (agreement, confusion matrix,
//             would-be drops and marks); the AQM acts alone;
//   enforce:  publishes it as the queue's override (probabilities capped at
//             max_prob, expiring override_ttl later), which the workers apply
//             inside the guard rails.
// A backend that computes elsewhere (gpu) has two passes in flight: the
// worker drains its rings while the GPU runs, and publishes a pass's
// overrides when it has finished. A backend that fails (a lost GPU, a launch
// failure) is reported once and replaced by its fallback (gpu: the cpu
// backend of the same model, gpu_fallback = "cpu") or by none, the AQMs
// deciding alone; the router forwards throughout.
// A forward pass whose outputs are not finite (NaN weights, overflow) is
// counted and not published, so the queue's override runs out and the AQM
// takes over. With pool_out set, every sample is also kept, with its reward,
// and written as an experience pool at the end; with pool_rotate or
// pool_rotate_time, as one pool per egress port, each handed when full to a
// writer thread that writes it into the pool_out directory
// (dataplane/pool_writer.hpp), the rest at the end.
//
// In tune mode ([policy] action = "tune"; docs/pilot.md, "The tuner") it runs
// the tuner's loop instead (policy/tune_loop.hpp, the one the simulator
// runs): each pass drains the workers' tune-step rings into the loop, which
// every tune_interval judges each tuned port (its harm guard) and picks its
// DualPI2 setting; enforce publishes it to the port's setting record
// (RouterTuneSettings), shadow counts the decisions and publishes nothing.
// policy_tuner.cpp holds this mode's half.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "aqm/histogram.hpp"
#include "dataplane/config.hpp"
#include "dataplane/live_changes.hpp"
#include "dataplane/pool_writer.hpp"
#include "dataplane/sample.hpp"
#include "policy/backend.hpp"
#include "policy/pilot_loop.hpp"
#include "policy/tune_loop.hpp"
#include "experience/pool.hpp"

namespace dualpilot::dataplane {

class Router;
class RouterSamples;
class RouterOverrides;
class RouterTuneSettings;

// The model at path, checked as at start-up (policy::read_model: magic,
// version, sizes, checksum, hyper-parameters, the tensor set and shapes), and
// a backend built on it for `queues` queues: cfg.backend, or for a gpu that
// cannot start, the cpu backend where gpu_fallback = "cpu" (note says so).
// Error text or empty.
[[nodiscard]] std::string make_policy_backend(const PolicyConfig &cfg, const std::string &path, size_t queues,
					      std::unique_ptr<policy::Backend> &out, std::string &note);

// A change to a running policy worker (/dualpilot/policy/reload and /set,
// SIGHUP): a model file to load, a mode to switch to, or both (the model
// first).
struct PolicyChange {
	std::optional<std::string> model;
	std::optional<PolicyMode> mode;
};

// How long the policy worker's loop naps after a pass that found no sample.
inline constexpr unsigned kPolicyIdleNapUs = 50;

// The pilot loop's counters (policy/pilot_loop.hpp: samples, passes,
// decisions, publishes, back-offs, shadow scoring, backend) and the router's.
struct PolicyStats : policy::PilotStats {
	uint64_t sample_drops = 0;       // lost to full rings (summed from the workers)
	uint64_t pool_entries = 0;
	uint64_t pool_dropped = 0;       // beyond pool_max_entries (rotating: the writer fell behind)
	uint64_t pool_files = 0;         // rotating: files written
	uint64_t pool_failed_entries = 0;// rotating: entries of files that could not be written
};

// The tuner's figures for one tuned port (tune mode): the setting in force as
// the step records report it and since when, the time each setting was in
// force (those held at all; "base" for the base), and what became of the
// records: published by the loop, then at the worker applied, stale
// (never applied), refused (naming no setting), expired (the base returned)
// or withdrawn (the harm guard); the steps the worker handed over or lost.
struct TuneHeld {
	uint32_t action = 0; // an index into the table, or experience::kBaseSetting
	std::string setting; // policy::describe, or "base"
	uint64_t ns = 0;
};

struct TunePortReport {
	std::string port;
	std::string in_force;
	uint64_t in_force_for_ns = 0; // since it came into force, to the newest step
	std::vector<TuneHeld> held;
	uint64_t published = 0, applied = 0, stale = 0, refused = 0, expired = 0, withdrawn = 0;
	uint64_t steps = 0, step_drops = 0;
};

struct TuneReport {
	policy::TuneStats stats; // steps, intervals, decisions, published, pilot_backoffs, decision_ns, backend
	std::vector<TunePortReport> ports;
};

class PolicyWorker {
public:
	// The router must be initialised with the same policy config. A model
	// that cannot be loaded is not an error here: error() says why, mode()
	// is then off, and the AQMs decide alone.
	// The router's [objective]: the pools' rewards are its per-decision
	// share (where the model's reward is the objective's), so that a
	// router's pools and its own score use the same weights. Before init.
	void set_objective(const experience::Objective &objective) { objective_ = objective; }
	void init(const PolicyConfig &cfg, Router &router);
	// Uses this backend instead of loading cfg.model (tests, the gpu path).
	void init(const PolicyConfig &cfg, Router &router, std::unique_ptr<policy::Backend> backend);

	PolicyWorker();
	~PolicyWorker();

	PolicyMode mode() const { return mode_.load(std::memory_order_relaxed); }
	// Why the policy is not as configured at start-up (empty when it is).
	const std::string &error() const { return error_; }
	const char *backend_name() const { return stats().backend; }
	// One pass: drain, collect finished passes and publish, submit the
	// queues with new samples. Returns samples drained.
	uint32_t poll(uint64_t now_ns);
	// Passes in flight: the caller keeps polling instead of napping.
	bool busy() const { return loop_.busy(); }
	// Waits for the passes in flight and publishes them (at exit).
	void flush(uint64_t now_ns);
	// A copy of the counters, for telemetry and the summary (any thread).
	PolicyStats stats() const;
	// Tune mode: whether it runs the tuner, and its figures (any thread).
	bool tuning() const { return tuning_; }
	TuneReport tune_report() const;
	std::string summary() const;
	// Writes the experience pool, when pool_out is set (rotating: the
	// remainder, and waits for the writer). Error text or empty.
	[[nodiscard]] std::string finish();

	// Live changes (policy_changes.cpp), from any thread: the change is
	// carried out by poll() on the policy lcore before its next pass, and
	// this waits up to `wait` for the outcome (result.applied false: not
	// carried out yet; change_outcome() tells later). A model is checked
	// as at start-up and swapped in between two passes; a bad one is refused
	// with the reason and the old model runs on. Overrides already published
	// stay valid until they expire.
	[[nodiscard]] ChangeResult request_change(const PolicyChange &change, std::chrono::milliseconds wait);
	// The outcome of the last change poll() carried out (ok false with the
	// reason when refused), and how many it has carried out.
	[[nodiscard]] ChangeResult change_outcome(uint64_t *carried_out = nullptr) const;
	// The model file running now (cfg.model, or the last one reloaded).
	std::string model_path() const;

private:
	void on_sample(const policy::PilotSample &s, float reward);
	void start_rotation();
	void carry_out_change(uint64_t now_ns);
	[[nodiscard]] std::string reload_model(const std::string &path, uint64_t now_ns);
	[[nodiscard]] std::string switch_mode(PolicyMode mode);
	// Where the loop publishes: the router's slots in enforce mode, nowhere
	// otherwise.
	policy::OverrideSink *sink() const;
	// Tune mode (policy_tuner.cpp).
	void init_tuner(Router &router, std::unique_ptr<policy::Backend> backend);
	policy::TuneLoopConfig tune_loop_config() const;
	std::vector<policy::TunePort> tune_ports() const;
	uint32_t poll_tuner();
	[[nodiscard]] std::string reload_tuner(const std::string &path);
	std::string tune_summary() const;
	bool deciding() const { return tuning_ ? tune_loop_.deciding() : loop_.deciding(); }

	PolicyConfig cfg_;
	std::atomic<PolicyMode> mode_{PolicyMode::off};
	std::string error_;
	// The router as the loop sees it: two channels, and what rotation and
	// mode checks need to know of it.
	std::unique_ptr<RouterSamples> samples_;
	std::unique_ptr<RouterOverrides> overrides_; // null: the router has no override slots
	size_t ports_ = 0;
	bool sampling_ = false;
	std::string router_name_;
	policy::PilotLoop loop_;
	// Tune mode: the tuner's loop over the router's ports (the loop's port
	// index is the router's), and its sink, null where the router has no
	// setting records.
	bool tuning_ = false;
	Router *router_ = nullptr;
	policy::TuneLoop tune_loop_;
	std::unique_ptr<RouterTuneSettings> tune_sink_;
	experience::Objective objective_;
	experience::Pool pool_;
	uint64_t pool_dropped_ = 0;
	std::unique_ptr<PoolRotator> rotator_; // pool_rotate / pool_rotate_time
	uint64_t now_ns_ = 0;                  // the current poll's time

	mutable std::mutex stats_mutex_; // guards the loop, the pool and the config against stats() and changes

	// A posted change: change_mutex_ guards the request, the outcome and the
	// counts; change_posted_ lets poll() skip the mutex when none is waiting.
	mutable std::mutex change_mutex_;
	std::condition_variable change_done_;
	std::atomic<bool> change_posted_{false};
	std::optional<PolicyChange> change_;
	uint64_t changes_posted_ = 0, changes_done_ = 0;
	ChangeResult change_outcome_;
};

} // namespace dualpilot::dataplane
