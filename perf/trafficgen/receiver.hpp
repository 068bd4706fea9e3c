// The receiving half of dualpilot-trafficgen: reads the stamp of every frame
// on one rx queue and keeps, per class (the codepoint a frame was sent with)
// and per flow, what arrived, how it was marked, how late and in what order.
// Frames without a stamp are counted apart, never mixed into the classes.
#pragma once

#include <rte_mbuf.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "aqm/histogram.hpp"
#include "perf/trafficgen/clock.hpp"
#include "perf/trafficgen/spec.hpp"

namespace dualpilot::trafficgen {

struct ClassRxStats {
	uint64_t pkts = 0;
	uint64_t bytes = 0;
	uint64_t ce = 0;            // arrived CE (sent as anything else: marked on the way)
	uint64_t bleached = 0;      // sent ECN-capable, arrived Not-ECT
	uint64_t changed = 0;       // arrived with another codepoint that is neither (ECT(0) <-> ECT(1))
	aqm::DelayHistogram latency; // one-way, ns
};

struct FlowRxStats {
	std::array<uint64_t, kEcnCodepoints> pkts{}; // by sent codepoint
	uint64_t bytes = 0;
	uint64_t ce = 0;
	uint64_t highest_seq = 0;   // highest sequence number seen, + 1 (0: none yet)
	uint64_t late = 0;          // arrived after a higher sequence number: reordered (or duplicated)
	uint64_t latency_sum_ns = 0, latency_max_ns = 0;
	uint64_t received() const
	{
		uint64_t n = 0;
		for (uint64_t p : pkts)
			n += p;
		return n;
	}
};

struct ReceiverCounters {
	uint64_t pkts = 0;          // every frame read
	uint64_t foreign = 0;       // not ours: no stamp (ARP, other traffic), freed and counted
	uint64_t malformed = 0;     // headers the parser refuses
	uint64_t negative_latency = 0; // sent "after" it arrived: clocks not synchronised (counted at 0)
};

class Receiver {
public:
	// Reads (port, queue) in bursts of burst.
	void init(uint16_t port, uint16_t queue, uint32_t burst, const Clock &clock);
	// One rx burst, its frames timed as they come out of it; returns frames read.
	uint16_t poll();
	// Counts one frame of len bytes, read at now_ns, of which the first
	// `readable` are at frame (a chained mbuf's first segment).
	void account(const uint8_t *frame, uint32_t len, uint64_t now_ns, uint32_t readable = UINT32_MAX);

	const std::array<ClassRxStats, kEcnCodepoints> &classes() const { return classes_; }
	const std::vector<FlowRxStats> &flows() const { return flows_; }
	const ReceiverCounters &counters() const { return counters_; }

private:
	std::array<ClassRxStats, kEcnCodepoints> classes_{};
	std::vector<FlowRxStats> flows_;   // by flow id, grown as ids appear
	ReceiverCounters counters_;
	const Clock *clock_ = nullptr;
	uint16_t port_ = 0, queue_ = 0;
	std::vector<rte_mbuf *> burst_;
};

} // namespace dualpilot::trafficgen
