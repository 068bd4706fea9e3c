// The policy worker: the service lcore that runs the learned policy beside
// the workers. Each pass it drains every worker's sample ring, appends each
// sample to its queue's context window (return-to-go, state, action), runs
// the backend once on every queue that has new samples (up to batch_max per
// forward pass), and then
//   shadow:   keeps the prediction, scoring it against the AQM's decisions
//             on the next samples of that queue (agreement, confusion matrix,
//             would-be drops and marks); the AQM acts alone;
//   enforce:  publishes it as the queue's override (probabilities capped at
//             max_prob, expiring override_ttl later), which the workers apply
//             inside the guard rails.
// A forward pass whose outputs are not finite (NaN weights, overflow) is
// counted and not published, so the queue's override runs out and the AQM
// takes over. With pool_out set, every sample is also kept, with its reward,
// and written as an experience pool at the end.
#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "aqm/histogram.hpp"
#include "dataplane/config.hpp"
#include "dataplane/sample.hpp"
#include "policy/backend.hpp"
#include "policy/context.hpp"
#include "sim/pool.hpp"

namespace dualpilot::dataplane {

class Router;

// How long the policy worker's loop naps after a pass that found no sample.
inline constexpr unsigned kPolicyIdleNapUs = 50;

struct PolicyStats {
	uint64_t samples = 0;            // drained from the rings
	uint64_t sample_drops = 0;       // lost to full rings (summed from the workers)
	uint64_t forward_passes = 0;
	uint64_t decisions = 0;          // queue decisions computed
	uint64_t invalid_outputs = 0;    // decisions with a non-finite output: not used
	uint64_t published = 0;          // overrides published (enforce)
	// Shadow scoring: [AQM's action][policy's most likely action].
	std::array<std::array<uint64_t, 3>, 3> confusion{};
	uint64_t scored = 0;
	uint64_t agreed = 0;
	double would_drop = 0;           // sum over scored samples of the policy's p_drop
	double would_mark = 0;
	aqm::DelayHistogram pass_ns;     // wall time of one forward pass
	aqm::DelayHistogram per_decision_ns; // pass time / queues in it
	uint64_t pool_entries = 0;
	uint64_t pool_dropped = 0;       // beyond pool_max_entries
};

class PolicyWorker {
public:
	// The router must be initialised with the same policy config. A model
	// that cannot be loaded is not an error here: error() says why, mode()
	// is then off, and the AQMs decide alone.
	void init(const PolicyConfig &cfg, Router &router);
	// Uses this backend instead of loading cfg.model (tests, the gpu path).
	void init(const PolicyConfig &cfg, Router &router, std::unique_ptr<policy::Backend> backend);

	PolicyMode mode() const { return mode_; }
	const std::string &error() const { return error_; }
	const char *backend_name() const { return backend_ ? backend_->name() : "none"; }
	// One pass: drain, infer, publish. Returns samples drained.
	uint32_t poll(uint64_t now_ns);
	// A copy of the counters, for telemetry and the summary (any thread).
	PolicyStats stats() const;
	std::string summary() const;
	// Writes the experience pool, when pool_out is set. Error text or empty.
	std::string finish();

private:
	void on_sample(const PacketState &s);
	void infer(uint64_t now_ns);

	PolicyConfig cfg_;
	PolicyMode mode_ = PolicyMode::off;
	std::string error_;
	Router *router_ = nullptr;
	std::unique_ptr<policy::Backend> backend_;
	std::vector<int> feature_of_;   // model feature f -> index into PacketState::features
	std::unique_ptr<policy::ContextSet> contexts_; // by port * 2 + queue
	std::vector<uint8_t> dirty_;
	std::vector<policy::Probs> last_;
	std::vector<uint8_t> has_last_;
	std::vector<uint32_t> batch_;
	std::vector<policy::Window> windows_;
	std::vector<policy::Probs> probs_;
	uint64_t publish_seq_ = 0;
	sim::RewardSpec reward_;
	sim::Pool pool_;

	mutable std::mutex stats_mutex_;
	PolicyStats stats_;
};

} // namespace dualpilot::dataplane
