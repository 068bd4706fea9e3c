// Sampling, from a worker's dequeue to the policy worker, in one place: every
// inference_interval packets of a (port, queue) the worker copies the
// decision and the queue's state into a PacketState, the states of one tx
// burst go to the worker's ring together, and the policy lcore drains them.
//
// The ring is an rte_ring of 48-byte elements, single producer (the worker
// that owns the Sampler) and single consumer (the policy lcore); rte_ring
// orders the element stores before the tail update the consumer reads. A
// full ring loses the sample, never the packet.
#pragma once

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "aqm/aqm.hpp"
#include "aqm/observe.hpp"
#include "experience/features.hpp"

namespace dualpilot::dataplane {

// A sampled packet decision: one ring element (copied in, no allocation).
struct PacketState {
	uint64_t timestamp_ns;
	uint16_t port;          // egress port index
	uint8_t queue;          // aqm::QueueId
	uint8_t aqm_action;     // what the AQM decided (aqm::ActionCode)
	uint8_t taken_action;   // what was done (the override's choice in enforce mode)
	uint8_t reserved[3];
	float features[experience::kFeatureCount]; // experience::state_features order
};
static_assert(sizeof(PacketState) == 48, "a ring element is 48 bytes");

class Sampler {
public:
	// Samples of one tx burst, enqueued together at its end: one ring update
	// (one cache line passed to the policy lcore) per burst.
	static constexpr uint32_t kBurst = 64;
	// The policy lcore takes a ring kDrainBurst samples at a time, and at most
	// kDrainPerCall in one drain(): a ring that the worker refills as fast as
	// it drains must not keep the policy lcore from its passes, its changes
	// (reload, mode) and its other rings. What is left waits for the next
	// drain; a full ring drops and counts new samples (sample_drops).
	static constexpr uint32_t kDrainBurst = 256;
	static constexpr uint32_t kDrainPerCall = 16 * kDrainBurst;

	// Start-up: the ring (ring_size elements, a power of two) named `name`,
	// a sample every inference_interval packets of each of `ports` ports'
	// queues. Error text, or empty.
	[[nodiscard]] std::string create(const std::string &name, uint32_t ring_size, size_t ports,
					 uint32_t inference_interval, int socket);
	// Teardown (the router's shutdown): the ring, and what it still holds, goes.
	void free();
	bool on() const { return ring_ != nullptr; }

	uint32_t inference_interval() const { return inference_interval_; }
	// A new interval, between two bursts (the worker's own lcore): a queue's
	// next sample comes within it.
	void set_inference_interval(uint32_t n);

	// Worker, per dequeued packet: whether this one is sampled.
	bool due(uint16_t port, aqm::QueueId queue)
	{
		uint32_t &left = countdown_[port][static_cast<int>(queue)];
		if (--left != 0)
			return false;
		left = inference_interval_;
		return true;
	}
	// Worker: the decision on d (the AQM's, and taken, what was done) and the
	// queue's state after it, into the burst's buffer.
	void add(const aqm::AnyAqm &aqm, uint16_t port, const aqm::Dequeued &d, aqm::Verdict taken, uint64_t now_ns)
	{
		if (count_ == kBurst)
			enqueue_buffered();
		PacketState &ps = buf_[count_++];
		ps.timestamp_ns = now_ns;
		ps.port = port;
		ps.queue = static_cast<uint8_t>(d.queue);
		ps.aqm_action = aqm::action_code(d.verdict);
		ps.taken_action = aqm::action_code(taken);
		const auto f = experience::state_features(aqm, d.queue, d.sojourn_ns, d.pkt.len_bytes);
		std::copy(f.begin(), f.end(), ps.features);
	}
	// Worker, at the end of a burst: the buffered samples go to the ring.
	// What the ring took (put) and lost since the last flush, for the
	// burst's port's counters.
	struct Flushed {
		uint32_t put = 0, lost = 0;
	};
	Flushed flush()
	{
		enqueue_buffered();
		const Flushed f = flushed_;
		flushed_ = {};
		return f;
	}

	// Policy lcore: hands each sample in the ring to on_sample, up to
	// kDrainPerCall. Returns how many.
	template <typename F>
	uint32_t drain(F &&on_sample)
	{
		if (!ring_)
			return 0;
		PacketState got[kDrainBurst];
		uint32_t n, drained = 0;
		while (drained < kDrainPerCall &&
		       (n = rte_ring_sc_dequeue_burst_elem(ring_, got, sizeof(PacketState), kDrainBurst, nullptr)) > 0) {
			for (uint32_t i = 0; i < n; i++)
				on_sample(got[i]);
			drained += n;
		}
		return drained;
	}

private:
	void enqueue_buffered()
	{
		if (count_ == 0)
			return;
		const unsigned put = rte_ring_sp_enqueue_burst_elem(ring_, buf_.data(), sizeof(PacketState), count_, nullptr);
		flushed_.put += put;
		flushed_.lost += count_ - put;
		count_ = 0;
	}

	rte_ring *ring_ = nullptr;
	// Packets left before the next sample, by port index and aqm::QueueId.
	std::vector<std::array<uint32_t, aqm::kQueueCount>> countdown_;
	uint32_t inference_interval_ = 0; // [policy], or /dualpilot/policy/set
	uint32_t count_ = 0;              // buffered in buf_
	Flushed flushed_;
	std::array<PacketState, kBurst> buf_;
};

} // namespace dualpilot::dataplane
