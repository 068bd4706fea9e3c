// The sending half of dualpilot-trafficgen: every flow of a TrafficSpec,
// paced by the TSC, written from its templates into mbufs and sent a burst
// at a time on one tx queue. Open loop: nothing it receives changes what it
// sends. A burst the port does not take whole is kept and offered again
// before anything new, so a slower port slows the generator rather than
// losing frames unseen; frames still held when the run ends are counted as
// unsent, never as sent.
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "perf/trafficgen/clock.hpp"
#include "perf/trafficgen/frames.hpp"
#include "perf/trafficgen/spec.hpp"

namespace dualpilot::trafficgen {

// What one flow put on the wire, by the codepoint it was sent with.
struct FlowTxCounters {
	std::array<uint64_t, kEcnCodepoints> pkts{};
	std::array<uint64_t, kEcnCodepoints> bytes{};
};

struct GeneratorCounters {
	uint64_t pkts = 0;           // sent (exact after stop(); before, a held burst counts)
	uint64_t bytes = 0;
	uint64_t bursts = 0;
	uint64_t port_full = 0;      // tx bursts the port took only in part (the rest offered again)
	uint64_t alloc_failed = 0;   // bursts skipped: the mbuf pool was empty
	uint64_t unsent = 0;         // frames built but never taken by the port (end of run)
};

class Generator {
public:
	~Generator();
	// Builds every flow's templates; sends on (port, queue) from pool.
	[[nodiscard]] std::string init(const TrafficSpec &spec, uint16_t port, uint16_t queue, rte_mempool *pool,
				       const Clock &clock);
	// Anchors every flow's start, stop and on/off phase at now_tsc.
	void start(uint64_t now_tsc);
	// One pass: offers the held burst, or builds and sends what is due.
	// Returns frames the port took.
	uint16_t poll(uint64_t now_tsc);
	// Past the run's end, or every flow done (its count sent or its stop passed).
	bool finished(uint64_t now_tsc) const;
	// Frees what the port never took (counted as unsent).
	void stop();

	const GeneratorCounters &counters() const { return counters_; }
	const std::vector<FlowTxCounters> &flow_counters() const { return flow_counters_; }

private:
	struct FlowTx {
		std::vector<FrameTemplate> templates;
		std::vector<uint16_t> cycle; // variants in the order they are sent
		uint32_t cycle_pos = 0;
		RateKind rate_kind = RateKind::max;
		double gap_tsc_per_pkt = 0;  // pps
		double gap_tsc_per_byte = 0; // bit/s
		double next_tsc = 0;         // paced flows: when the next frame is due
		uint64_t start_tsc = 0, stop_tsc = 0;
		uint64_t on_tsc = 0, period_tsc = 0; // on/off; period 0 = always on
		uint64_t left = 0;           // packets still to send; UINT64_MAX = no limit
		uint32_t seq = 0;
	};
	bool due(FlowTx &f, uint64_t now_tsc) const;
	// Frames of flow fi due now, at most room, written into out; returns how many.
	uint32_t build(uint32_t fi, uint64_t now_tsc, uint64_t tx_ns, rte_mbuf **out, uint32_t room);

	std::vector<FlowTx> flows_;
	std::vector<FlowTxCounters> flow_counters_;
	GeneratorCounters counters_;
	const Clock *clock_ = nullptr;
	rte_mempool *pool_ = nullptr;
	uint16_t port_ = 0, queue_ = 0;
	uint32_t burst_ = 32;
	uint64_t duration_tsc_ = 0;
	uint64_t start_tsc_ = 0;
	uint32_t next_flow_ = 0;       // where the next burst starts its round over the flows
	// Frames are counted as sent when built; those the port did not take
	// wait in held_ and are offered again, and any still there at the end
	// are taken off their flow's counts again (the stamp says which).
	std::vector<rte_mbuf *> held_;
	uint32_t held_first_ = 0, held_count_ = 0;
	// Mbufs allocated a burst at a time and not yet written.
	std::vector<rte_mbuf *> spare_;
	uint32_t spare_count_ = 0;
};

} // namespace dualpilot::trafficgen
