// The router's side of the pilot loop's two channels (policy/pilot_loop.hpp):
// its workers' sample rings as the loop's SampleSource, its per-queue
// override slots as the loop's OverrideSink. The policy worker hands these
// to the loop; the loop never sees the Router.
#pragma once

#include "dataplane/router.hpp"
#include "policy/pilot_loop.hpp"

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

} // namespace dualpilot::dataplane
