// The router's side of the pilot loop's two channels (policy/pilot_loop.hpp):
// its workers' sample rings as the loop's SampleSource, its per-queue
// override slots as the loop's OverrideSink. The policy worker hands these
// to the loop; the loop never sees the Router. In tune mode the tuner's loop
// (policy/tune_loop.hpp) publishes through RouterTuneSettings instead, and
// the policy worker drains the tune-step rings itself
// (Router::drain_tune_steps).
#pragma once

#include <vector>

#include "dataplane/router.hpp"
#include "policy/pilot_loop.hpp"
#include "policy/tune_loop.hpp"

namespace dualpilot::dataplane {

class RouterSamples final : public policy::SampleSource {
public:
	explicit RouterSamples(Router &router) : router_(&router) {}
	// A bounded share of each worker's ring (Sampler::kDrainPerCall); the
	// loop's queue index is port * 2 + class.
	uint32_t drain(const std::function<void(const policy::PilotSample &)> &on_sample) override
	{
		return router_->drain_samples([&](const PacketState &s) {
			on_sample({static_cast<uint32_t>(size_t{s.port} * aqm::kQueueCount + s.queue), s.features,
				   s.aqm_action, s.taken_action});
		});
	}
	// Samples the workers lost to full rings, summed over the ports.
	uint64_t lost() const
	{
		uint64_t n = 0;
		for (size_t p = 0; p < router_->ports().size(); p++)
			n += router_->port_stats(p).sample_drops;
		return n;
	}

private:
	Router *router_;
};

// Each record is stamped with the publish's sequence number, so a worker
// can tell a fresh override from the one it read before.
class RouterOverrides final : public policy::OverrideSink {
public:
	explicit RouterOverrides(OverrideSlot *slots) : slots_(slots) {}
	void publish(uint32_t q, const policy::OverrideProbs &probs, uint64_t, uint64_t expires_ns) override
	{
		OverrideRecord r;
		r.probs = probs;
		r.seq = ++seq_;
		r.expires_ns = expires_ns;
		slots_[q].publish(r);
	}
	void withdraw(uint32_t q, uint64_t) override
	{
		OverrideRecord withdrawn; // expires_ns 0: void at once, the AQM decides alone
		withdrawn.seq = ++seq_;
		slots_[q].publish(withdrawn);
	}

private:
	OverrideSlot *slots_;
	uint64_t seq_ = 0;
};

// The tuner loop's sink: each port's setting record (tune_setting.hpp), which
// the owning worker takes between bursts. A withdrawal is a record naming
// the base. Counts what it wrote, per port (the policy worker's own thread).
class RouterTuneSettings final : public policy::TuneSink {
public:
	RouterTuneSettings(TuneSlot *slots, size_t ports) : slots_(slots), published_(ports), withdrawn_(ports) {}
	void publish_setting(uint32_t port, uint32_t action, uint64_t state_ns, uint64_t expires_ns) override
	{
		slots_[port].publish({action, state_ns, expires_ns});
		published_[port]++;
	}
	void withdraw_setting(uint32_t port, uint64_t now_ns) override
	{
		slots_[port].publish({experience::kBaseSetting, now_ns, 0});
		withdrawn_[port]++;
	}
	uint64_t published(size_t port) const { return published_[port]; }
	uint64_t withdrawn(size_t port) const { return withdrawn_[port]; }

private:
	TuneSlot *slots_;
	std::vector<uint64_t> published_, withdrawn_;
};

} // namespace dualpilot::dataplane
