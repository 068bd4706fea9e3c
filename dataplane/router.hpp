// The router: the ports of the config, one AQM and one shaper per egress
// port, and the poll-mode loop that moves packets between them.
//
// One worker lcore owns every port in this version: it polls each port's rx
// queue, parses and classifies the burst, enqueues it into the egress port's
// AQM, then drains each egress AQM as fast as its shaper allows, CE-marks
// what the AQM marked, and transmits. Owning an AQM from one lcore is what
// lets the AQM run without locks or atomics.
#pragma once

#include <rte_mbuf.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "aqm/aqm.hpp"
#include "aqm/histogram.hpp"
#include "dataplane/config.hpp"
#include "dataplane/parse.hpp"
#include "dataplane/shaper.hpp"

namespace dualpilot::dataplane {

// Per-port counters, written by the worker without atomics and read by the
// control thread off the fast path (a torn read of a 64-bit counter cannot
// happen on x86-64; other ISAs read them after the worker stops).
struct PortStats {
	uint64_t rx_pkts = 0;
	uint64_t rx_bytes = 0;
	uint64_t tx_pkts = 0;           // transmitted on this port
	uint64_t tx_bytes = 0;
	uint64_t tx_failed = 0;         // the NIC refused them: freed
	uint64_t marked = 0;            // CE set on this port's egress
	uint64_t aqm_drops = 0;         // egress AQM drops (enqueue or dequeue)
	uint64_t overflow_drops = 0;    // egress queue full
	uint64_t mark_failed = 0;       // marked by the AQM but not ECN-capable: dropped
	std::array<uint64_t, kFrameKinds> rx_kind{}; // by FrameKind; malformed ones are dropped at rx
	uint64_t malformed() const
	{
		uint64_t n = 0;
		for (int k = static_cast<int>(FrameKind::truncated); k < kFrameKinds; k++)
			n += rx_kind[k];
		return n;
	}
};

struct Port {
	PortConfig cfg;
	uint16_t port_id = 0;
	uint16_t egress = 0;        // l2-pair: index of the peer port
	bool has_aqm = true;        // aqm "none": straight through the shaper
	std::vector<aqm::AnyAqm> aqm; // one element
	Shaper shaper;
	std::vector<rte_mbuf *> tx_pending; // dequeued, not yet accepted by the NIC
	PortStats stats;
	// Sojourn of forwarded packets per egress queue (Classic, L4S).
	std::array<aqm::DelayHistogram, aqm::kQueueCount> sojourn;
};

class Router {
public:
	// Sets up the ports of cfg (EAL must be initialised). Error text, or empty.
	std::string init(const RouterConfig &cfg);
	// One pass of the worker loop at the given time. Returns packets moved.
	uint32_t poll(uint64_t now_ns);
	// Polls until stop is set, then drains what is queued (within drain_ns)
	// and counts the rest.
	void run(const std::atomic<bool> &stop, uint64_t drain_ns = 100000000);
	// Stops the ports and frees every mbuf still held.
	void shutdown();

	uint64_t now_ns() const;
	const std::vector<Port> &ports() const { return ports_; }
	std::vector<Port> &ports() { return ports_; }
	uint64_t queued_pkts() const;
	std::string stats_line() const;
	std::string summary() const;
	// Start-up advice that is not an error (e.g. a pool smaller than the queues).
	const std::vector<std::string> &warnings() const { return warnings_; }

private:
	uint16_t rx_port(Port &in, uint64_t now_ns);
	uint16_t tx_port(Port &out, uint64_t now_ns);

	RouterConfig cfg_;
	std::vector<Port> ports_;
	rte_mempool *pool_ = nullptr;
	double ns_per_tsc_ = 0;
	bool started_ = false;
	std::vector<std::string> warnings_;
};

} // namespace dualpilot::dataplane
