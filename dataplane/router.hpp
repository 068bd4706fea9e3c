// The router: the ports of the config, their egress queues (one by default,
// egress_queues of them on a port that asks), each with its AQM, shaper and
// tx queue, and the poll-mode workers that move packets between them.
//
// Work is split by ownership, so that no AQM needs a lock: each egress queue
// (its AQM, shaper and tx queue) belongs to exactly one worker lcore, and
// each (port, rx queue) is polled by exactly one worker. A worker that
// receives a packet for an egress queue another worker owns passes the mbuf
// over that queue's hand-off ring (an rte_ring, multi-producer, the owner the
// single consumer); the owner enqueues it into the AQM on its next pass. With
// one worker (the default) there is no hand-off at all. A port of several
// egress queues (docs/router.md, "Egress queues") spreads its flows over them
// by a hash (flow_hash.hpp) and, where it is shaped, shares one bucket among
// them (shaper.hpp, SharedClock).
#pragma once

#include <rte_mbuf.h>
#include <rte_ring.h>

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "aqm/aqm.hpp"
#include "aqm/histogram.hpp"
#include "dataplane/config.hpp"
#include "dataplane/delay_line.hpp"
#include "aqm/random.hpp"
#include "dataplane/forward_l3.hpp"
#include "dataplane/live_changes.hpp" // one way: router -> live_changes, never back
#include "dataplane/override.hpp"
#include "dataplane/sample.hpp"
#include "dataplane/parse.hpp"
#include "dataplane/route_table.hpp"
#include "dataplane/shaper.hpp"
#include "dataplane/tune_port.hpp"

namespace dualpilot::dataplane {

// One worker's counters for one egress queue. Each worker writes only its own, without
// atomics, once per burst from locals; the control thread sums them off the
// fast path (a torn read of an aligned 64-bit counter cannot happen on x86-64
// or AArch64). Rx-side counts belong to the port a frame arrived on (kept at
// its first egress queue), egress-side counts to the queue it was to leave
// by; Router::port_stats sums a port's queues. Aligned so that no two
// workers' counters share a line.
//
// One counter per fact: what the egress AQM decided (its drops, overflows and
// CE marks) only the AQM counts (aqm::QueueCounters); the workers count what
// the router adds to it, the policy's changes to those verdicts and the marks
// it could not set. Router::port_stats() fills marked, aqm_drops,
// overflow_drops and overridden from the two.
struct alignas(64) PortStats {
	// rx side
	uint64_t rx_pkts = 0;
	uint64_t rx_bytes = 0;
	std::array<uint64_t, kFrameKinds> rx_kind{}; // by FrameKind; malformed ones are dropped at rx
	uint64_t no_route = 0;          // l3: no route for the destination, or not IP at all
	uint64_t ttl_expired = 0;       // l3: TTL / hop limit would reach 0
	// egress side
	uint64_t tx_pkts = 0;           // transmitted on this port
	uint64_t tx_bytes = 0;          // their frame bytes, as the queue's descriptors hold them
	uint64_t tx_failed = 0;         // the NIC refused them: freed
	uint64_t mark_failed = 0;       // a CE verdict on a frame the marker could not mark: dropped
	uint64_t handoff_drops = 0;     // the owner worker's hand-off ring was full (counted by the sender)
	uint64_t delay_drops = 0;       // the egress delay line was full
	uint64_t bypassed_pkts = 0;     // forwarded by the empty-queue bypass (Router::pass_through), in tx_pkts too
	// the policy path (egress side)
	uint64_t samples = 0;           // decisions handed to the policy worker
	uint64_t sample_drops = 0;      // samples lost to a full ring (the packet is not affected)
	// Verdicts the policy's override changed: [the AQM's][the one taken], by
	// aqm::Verdict (forward, forward_ce, drop); the diagonal stays 0.
	std::array<std::array<uint64_t, 3>, 3> verdict_changes{};
	// Filled by Router::port_stats(), never by a worker: the AQM's decisions
	// with the policy's changes applied.
	uint64_t marked = 0;            // CE set on this port's egress
	uint64_t aqm_drops = 0;         // egress AQM drops (enqueue or dequeue), the policy's included
	uint64_t overflow_drops = 0;    // egress queue full
	uint64_t overridden = 0;        // verdicts the policy's override changed

	uint64_t malformed() const
	{
		uint64_t n = 0;
		for (int k = static_cast<int>(FrameKind::truncated); k < kFrameKinds; k++)
			n += rx_kind[k];
		return n;
	}
	// Packets that entered and will not leave: every drop of either side.
	uint64_t dropped() const
	{
		return malformed() + no_route + ttl_expired + tx_failed + aqm_drops + overflow_drops + mark_failed +
		       handoff_drops + delay_drops;
	}
	PortStats &operator+=(const PortStats &o);
};

// What rx learnt about a frame, as it crosses to the worker that owns its
// egress port: one 16-byte element of the hand-off ring, so the owner builds
// the AQM's descriptor without reading a line the rx worker wrote in the mbuf.
struct HandoffDesc {
	rte_mbuf *m;
	uint32_t len_bytes;
	aqm::Ecn ecn;
	FrameKind kind;
	uint16_t l3_offset;
};
static_assert(sizeof(HandoffDesc) == 16, "a hand-off ring element is 16 bytes");

// The queue descriptor's tag: what the CE marker needs of the frame (the AQM
// carries it untouched), so marking reads no mbuf metadata.
inline uint16_t frame_tag(FrameKind kind, uint16_t l3_offset) { return static_cast<uint16_t>(l3_offset | uint16_t(kind) << 12); }
inline FrameInfo tag_frame(const aqm::Packet &p)
{
	return FrameInfo{static_cast<FrameKind>(p.tag >> 12), p.ecn, static_cast<uint16_t>(p.tag & 0xfff), 0, 0};
}

// The frames an egress port has released and the NIC has not taken yet: a
// fixed ring (l3fwd's tx buffer, with the lengths beside the pointers so
// that tx never reads an mbuf the driver may already have freed).
struct TxBuffer {
	static constexpr uint32_t kSlots = 2048; // a power of two
	std::array<rte_mbuf *, kSlots> pkts;
	std::array<uint32_t, kSlots> len_bytes;
	uint32_t head = 0, tail = 0; // free-running

	uint32_t count() const { return tail - head; }
	uint32_t room() const { return kSlots - count(); }
	void push(rte_mbuf *m, uint32_t len)
	{
		pkts[tail & (kSlots - 1)] = m;
		len_bytes[tail++ & (kSlots - 1)] = len;
	}
};

// A port: what every worker reads per packet (rx's l3 rewrite, the choice of
// egress queue), written only at start-up, then its config and sizing.
struct alignas(64) PortInfo {
	uint16_t port_id = 0;
	uint16_t egress = 0;        // l2-pair: index of the peer port
	uint16_t first_queue = 0;   // its egress queues: Router::queues()[first_queue, first_queue + queues)
	uint16_t queues = 1;        // [[ports]] egress_queues
	MacAddress mac{};           // source address of l3 frames leaving here
	uint64_t queue_mod_m = 0;   // with several queues: pick_queue's multiplier for `queues` (flow_hash.hpp)
};

struct Port : PortInfo {
	PortConfig cfg;
	uint32_t limit_pkts = 0;      // each queue's limit as the router sized it (limit = "auto") or as given
	uint64_t sizing_rate_bps = 0; // the rate the limit was sized for: the shaper's, else the link's
};

// An egress queue, in two cache-aligned parts. EgressInfo: what every worker
// reads to reach it (the hand-off), written only at start-up. EgressState:
// the owner worker's per-packet state, which no other lcore touches (but for
// the shared clock a shaped port's queues share, shaper.hpp).
struct alignas(64) EgressInfo {
	uint16_t port = 0;          // index of its port
	uint16_t port_id = 0;       // its port's ethdev
	uint16_t tx_queue = 0;      // the port's tx queue it sends on
	uint16_t owner = 0;         // the worker that owns it
	rte_ring *handoff = nullptr;  // HandoffDesc elements from other workers to the owner; null with one worker
};

struct alignas(64) EgressState {
	Shaper shaper;
	std::optional<aqm::AnyAqm> aqm; // none with aqm "none": straight through the shaper
	DelayLine delay;              // between the shaper and the tx buffer when cfg.delay_ns > 0
	// Sojourn of forwarded packets per AQM queue (Classic, L4S); the
	// empty-queue bypass adds its sojourns of 0 in bulk.
	std::array<aqm::DelayHistogram, aqm::kQueueCount> sojourn;
	// What the packets dropped at dequeue had waited (the AQM's drops, the
	// policy's, marks that could not be set), and how many dequeue drops the
	// AQM decided (the policy may have kept some): the objective scores a
	// drop at its wait plus a penalty (Router::scored_delay), so that
	// dropping the oldest packets never flatters a class's delay figure.
	std::array<aqm::DelayHistogram, aqm::kQueueCount> dropped_waits;
	std::array<uint64_t, aqm::kQueueCount> aqm_dequeue_drops{};
	TxBuffer tx;                  // released, not yet accepted by the NIC
};

struct EgressQueue : EgressInfo, EgressState {};

// The seed of egress queue q's AQM on port `port`: the port's index + 1 for
// its first queue (what a port of one queue has always had), distinct for
// the others.
inline uint64_t aqm_seed(size_t port, uint16_t q) { return port + 1 + kMaxPorts * q; }

struct RxQueue {
	uint16_t port;  // index into the router's ports
	uint16_t queue;
};

struct alignas(64) Worker {
	unsigned lcore = 0;               // the lcore it runs on (or the caller's, with one worker)
	std::vector<RxQueue> rx;          // the rx queues it polls
	std::vector<uint16_t> egress;     // the egress queues it owns
	std::vector<PortStats> stats;     // its share of each egress queue's counters, by queue index
	uint64_t polls = 0;
	uint64_t busy_polls = 0;          // polls that moved at least one packet
	// The policy path: the decisions it samples for the policy worker (off
	// unless [policy] samples), and the generator that draws the override's
	// action.
	Sampler sampler;
	aqm::Rng rng{1};
	WorkerChanges changes;            // posted by the control side, applied between bursts (live_changes.hpp)
	// Tune mode: the steps of the ports it owns, to the policy worker
	// (TuneStepMsg elements, tune_port.hpp); null otherwise.
	rte_ring *tune_steps = nullptr;
};

class Router {
public:
	~Router();
	// Sets up the ports of cfg (EAL must be initialised). worker_lcores are
	// the lcores the workers will run on; empty means one worker, driven by
	// whoever calls poll() or run(). Error text, or empty.
	[[nodiscard]] std::string init(const RouterConfig &cfg, const std::vector<unsigned> &worker_lcores = {});
	// One pass of every worker's loop, in turn, on the calling thread.
	// Returns packets moved.
	uint32_t poll(uint64_t now_ns);
	uint32_t poll_worker(Worker &w, uint64_t now_ns);
	// Runs the workers (on their lcores, or this thread) until stop is set,
	// printing the stats line every stats_interval; then drains what is
	// queued (within drain_ns) and leaves the rest to shutdown().
	// service, when given, runs the policy worker: on service_lcore, or where
	// that is not a separate lcore, in the control thread's loop.
	using ServiceFn = std::function<void(uint64_t now_ns)>;
	void run(const std::atomic<bool> &stop, uint64_t drain_ns = 100000000, const ServiceFn &service = {},
		 unsigned service_lcore = UINT32_MAX);
	// Stops the ports and frees every mbuf still held.
	void shutdown();

	uint64_t now_ns() const;
	const RouterConfig &config() const { return cfg_; }
	const std::vector<Port> &ports() const { return ports_; }
	// The index of the port named `name` ([[ports]] name), or -1.
	int port_index(std::string_view name) const
	{
		for (size_t i = 0; i < ports_.size(); i++)
			if (ports_[i].cfg.name == name)
				return static_cast<int>(i);
		return -1;
	}
	std::vector<Port> &ports() { return ports_; }
	// Every port's egress queues, port by port (Port::first_queue).
	const std::vector<EgressQueue> &queues() const { return queues_; }
	std::vector<EgressQueue> &queues() { return queues_; }
	const EgressQueue &queue(size_t port, size_t q = 0) const { return queues_[ports_[port].first_queue + q]; }
	EgressQueue &queue(size_t port, size_t q = 0) { return queues_[ports_[port].first_queue + q]; }
	const std::vector<Worker> &workers() const { return workers_; }
	std::vector<Worker> &workers() { return workers_; }
	// The override slots, one per (port, AQM queue): slot port * 2 + queue,
	// read by the owner of each of the port's egress queues. Null
	// unless the policy started in shadow or enforce mode (only enforce
	// publishes; shadow may be switched to enforce at run time).
	OverrideSlot *override_slots() { return overrides_.get(); }
	size_t override_slot_count() const { return overrides_ ? ports_.size() * aqm::kQueueCount : 0; }
	Worker &worker(size_t i) { return workers_[i]; }
	// Whether the workers sample decisions for the policy worker.
	bool sampling() const { return !workers_.empty() && workers_[0].sampler.on(); }
	// The policy lcore's side of the workers' sample rings: each sample to
	// on_sample, up to Sampler::kDrainPerCall of each ring. Returns how many.
	template <typename F>
	uint32_t drain_samples(F &&on_sample)
	{
		uint32_t drained = 0;
		for (Worker &w : workers_)
			drained += w.sampler.drain(on_sample);
		return drained;
	}
	// Tune mode ([policy] action = "tune", mode shadow or enforce): the
	// tuner's per-port state (PortTune::tuned marks the ports it tunes) and
	// setting records, one per port. Null otherwise.
	bool tuning() const { return tune_ != nullptr; }
	const PortTune *port_tune(size_t port) const { return tune_ ? &tune_[port] : nullptr; }
	TuneSlot *tune_slots() { return tune_slots_.get(); }
	// The policy lcore's side of the workers' tune-step rings: each step to
	// on_step, up to kTuneDrainPerCall of each ring. Returns how many.
	static constexpr uint32_t kTuneDrainBurst = 16;
	static constexpr uint32_t kTuneDrainPerCall = 16 * kTuneDrainBurst;
	template <typename F>
	uint32_t drain_tune_steps(F &&on_step)
	{
		uint32_t drained = 0;
		for (Worker &w : workers_) {
			TuneStepMsg got[kTuneDrainBurst];
			uint32_t n, mine = 0;
			while (w.tune_steps && mine < kTuneDrainPerCall &&
			       (n = rte_ring_sc_dequeue_burst_elem(w.tune_steps, got, sizeof(TuneStepMsg), kTuneDrainBurst,
								   nullptr)) > 0) {
				for (uint32_t i = 0; i < n; i++)
					on_step(got[i]);
				mine += n;
			}
			drained += mine;
		}
		return drained;
	}
	rte_mempool *mempool() const { return pool_; }
	// A port's counters summed over the workers and its egress queues; one
	// egress queue's (by index into queues(); its egress side only).
	PortStats port_stats(size_t port) const;
	PortStats queue_stats(size_t queue) const;
	// A port's sojourns of one AQM queue (0 Classic, 1 L4S) over its egress queues.
	aqm::DelayHistogram sojourn(size_t port, int aqm_queue) const;
	// A queue's delays as the objective scores them: each forwarded packet's
	// sojourn, and each drop (at dequeue: its wait; at enqueue, overflow or
	// the AQM's: 0) plus penalty_ns (experience::Objective::drop_penalty_ms).
	aqm::DelayHistogram scored_delay(size_t port, int queue, uint64_t penalty_ns) const;
	uint64_t queued_pkts(size_t port) const;
	uint64_t queued_pkts() const;
	uint64_t queue_queued_pkts(size_t queue) const; // one egress queue's
	std::string stats_line() const;
	std::string summary() const;
	// Start-up advice that is not an error (e.g. a pool smaller than the queues).
	const std::vector<std::string> &warnings() const { return warnings_; }

private:
	friend int worker_main(void *arg);
	// Start-up (router_setup.cpp).
	[[nodiscard]] std::string init_ports();
	void init_queues();
	[[nodiscard]] std::string size_queues();
	[[nodiscard]] std::string start_ports();
	void assign_work(const std::vector<unsigned> &worker_lcores);
	[[nodiscard]] std::string init_tuning();
	// The fast path (router.cpp), in the order a packet meets it; `egress`
	// is an egress queue's index into queues_. Tune: the
	// tuner's counting is compiled in (tune mode); the choice is made once
	// per pass (poll_worker) or once per worker (worker_loop), so verdict
	// mode runs the code it ran before the tuner existed.
	template <bool Tune>
	uint32_t poll_pass(Worker &w, uint64_t now_ns);
	template <bool Tune>
	uint16_t rx_queue(Worker &w, RxQueue rq, uint64_t now_ns);
	uint32_t route_l3(uint8_t *frame, const FrameInfo &info);
	template <bool Tune>
	void enqueue_by_egress(Worker &w, const aqm::Packet *descs, const uint16_t *dest, uint32_t n, uint32_t queues_hit,
			       uint64_t now_ns);
	template <bool Tune>
	void enqueue_local(Worker &w, uint16_t egress, const aqm::Packet *descs, uint32_t n, uint64_t now_ns);
	template <bool Tune>
	bool pass_through(Worker &w, uint16_t egress, const aqm::Packet *descs, uint32_t n, uint64_t now_ns);
	bool override_active(uint16_t egress, uint64_t now_ns) const;
	PortStats &end_release(Worker &w, uint16_t egress, rte_mbuf **drops, uint32_t nd, uint32_t delay_drops,
			       uint32_t tx_failed, bool sampling);
	void hand_off(Worker &w, uint16_t egress, const aqm::Packet *descs, uint32_t n);
	template <bool Tune>
	uint16_t drain_handoff(Worker &w, uint16_t egress, uint64_t now_ns);
	template <bool Tune>
	uint16_t dequeue_burst(Worker &w, uint16_t egress, uint64_t now_ns);
	uint16_t flush_tx(Worker &w, uint16_t egress, uint64_t now_ns);
	template <bool Tune>
	uint16_t tx_port(Worker &w, uint16_t egress, uint64_t now_ns)
	{
		return dequeue_burst<Tune>(w, egress, now_ns) + flush_tx(w, egress, now_ns);
	}
	// Tune mode's counting and its pass (router_tune.cpp).
	void tune_arrive(uint16_t egress, const aqm::Packet *descs, uint32_t n, uint64_t now_ns);
	void tune_enqueue_drops(uint16_t egress, const aqm::Packet *descs, const aqm::EnqueueResult *result, uint32_t n,
				uint64_t now_ns);
	void tune_dequeued(uint16_t egress, const aqm::Dequeued *d, uint32_t n, uint64_t now_ns);
	void tune_pass(Worker &w, uint64_t now_ns);
	void worker_loop(Worker &w);

	RouterConfig cfg_;
	std::vector<Port> ports_;
	std::vector<EgressQueue> queues_;
	std::unique_ptr<SharedClock[]> clocks_; // per port: the bucket a shaped port's queues share
	std::vector<Worker> workers_;
	RouteTable routes_;
	std::vector<uint16_t> route_egress_; // l3: the port index of each route
	rte_mempool *pool_ = nullptr;
	std::string pool_name_;
	double ns_per_tsc_ = 0;
	bool started_ = false;
	std::atomic<bool> workers_stop_{false};
	std::unique_ptr<OverrideSlot[]> overrides_;
	std::unique_ptr<PortTune[]> tune_;      // tune mode: per port
	std::unique_ptr<TuneSlot[]> tune_slots_; // tune mode: per port
	std::vector<std::string> warnings_;
};

// Live changes, the router's side (router_changes.cpp): the records and
// their validation are live_changes.hpp's, which knows nothing of the
// router; this side posts a validated change to the workers' change blocks
// and applies it to their AQMs.

// The worker side: applies w's posted block (call when w.changes.pending()).
void apply_changes(Router &router, Worker &w);

// New AQM parameters for the named port, tc names ("target", "5ms"), on top
// of those it runs with, validated by check_aqm_change (live_changes.hpp),
// for every one of its egress queues. Waits up to `wait` for their owning
// workers to apply them.
[[nodiscard]] ChangeResult change_aqm(Router &router, std::string_view port, std::span<const aqm::Setting> settings,
				      std::chrono::milliseconds wait);

// A new [policy] inference_interval for every worker (1 .. 1000000, as in
// the config). Refused where the router samples nothing.
[[nodiscard]] ChangeResult change_inference_interval(Router &router, uint32_t interval, std::chrono::milliseconds wait);

// Whether any worker has a change it has not applied yet.
bool changes_pending(const Router &router);

} // namespace dualpilot::dataplane
