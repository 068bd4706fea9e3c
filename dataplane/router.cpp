// The router's fast path, in the order a packet meets it: rx (parse, route,
// classify) -> the egress AQM, directly or over the owner's hand-off ring ->
// dequeue (AQM -> override -> sample -> mark -> shaper) -> tx. Start-up is in
// router_setup.cpp, the counters' readers in router_stats.cpp, sampling for
// the policy worker in sample.hpp.
//
// The queue never touches an mbuf: rx writes what it learnt into the AQM's
// descriptor (arrival, length, ECN, frame kind and L3 offset in its tag),
// and the AQM, the marker and tx read only that. The mbufs a burst dequeues
// are prefetched before the marker and tx reach them.
#include "dataplane/router.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_prefetch.h>

#include "aqm/observe.hpp"
#include "dataplane/ecn_mark.hpp"
#include "dataplane/flow_hash.hpp"

namespace dualpilot::dataplane {

namespace {

constexpr uint32_t kMaxBurst = aqm::kMaxBurst;
constexpr uint32_t kRxPrefetch = 3; // frames ahead the parser's data is prefetched (l3fwd's PREFETCH_OFFSET)
// Where, from the mbuf, an untagged frame's IP header is when the mbuf came
// from the router's pool (no private area) with the default headroom: a
// prefetch that needs no read of the mbuf itself (a wrong guess costs one
// useless prefetch, never a fault: it is inside the mbuf's buffer).
constexpr size_t kDefaultIpLine = sizeof(rte_mbuf) + RTE_PKTMBUF_HEADROOM + 14;
// The mbufs a dequeue names for the next burst: one per packet it dequeued,
// and at least this many when it dequeued none (no budget this pass).
constexpr uint32_t kMinPeek = 8;
// What Router::route_l3 returns for a frame to drop (a port index is below 32).
constexpr uint32_t kDropNoRoute = UINT32_MAX;
constexpr uint32_t kDropTtlExpired = UINT32_MAX - 1;

// A queued mbuf, a burst before tx needs it: its two header lines (tx reads
// the first; a PMD that frees without MBUF_FAST_FREE reads `next` in the
// second) and the line its IP header sits in when the PMD left the default
// headroom (the CE mark).
inline void prefetch_mbuf(uint64_t handle)
{
	char *m = reinterpret_cast<char *>(handle);
	rte_prefetch0(m);
	rte_prefetch0(m + RTE_CACHE_LINE_SIZE);
	rte_prefetch0(m + kDefaultIpLine);
}

// The policy's action for one packet: drawn from the override's
// distribution, inside the guard rails (policy/guard_rails.hpp).
aqm::Verdict apply_override(const OverrideRecord &ov, const aqm::Dequeued &d, aqm::Rng &rng, const PolicyConfig &pc)
{
	return policy::override_verdict(ov.probs, rng.next_u32() >> 16, d, pc.guard);
}

// A frame the AQM (or, with aqm "none", rx) lets go towards the wire: into
// the port's delay line when it has one, else its tx buffer; a frame neither
// has room for goes to drops[] (the caller frees them in bulk and counts them).
inline void release(EgressState &out, rte_mbuf *m, uint32_t len, uint64_t now_ns, rte_mbuf **drops, uint32_t &nd,
		    uint32_t &delay_drops, uint32_t &tx_failed)
{
	if (out.delay.enabled()) {
		if (!out.delay.push(m, len, now_ns)) {
			delay_drops++;
			drops[nd++] = m;
		}
	} else if (out.tx.room() > 0) {
		out.tx.push(m, len);
	} else {
		tx_failed++;
		drops[nd++] = m;
	}
}

// The AQM's half of a dequeue: a burst decided on the descriptors (up to max
// packets to forward, as many as the shaper's budget allows, plus whatever it
// drops on the way) into d, and the handles of the mbufs the next burst will
// take into next (peek_handles). Returns the burst's size.
inline uint32_t aqm_dequeue(EgressState &out, uint64_t now_ns, uint32_t max, aqm::Dequeued *d, uint64_t *next,
			    uint32_t &n_next)
{
	uint32_t n = 0;
	std::visit(
		[&](auto &q) {
			n = aqm::dequeue_burst(q, now_ns, out.shaper.byte_budget(now_ns), out.shaper.overhead_bytes, max, d,
					       kMaxBurst);
			aqm::peek_handles(q, next, std::max(n, kMinPeek), n_next);
			// Whether the queue still stands: the shaper may then make up
			// for polls that came late (Shaper::catchup_ns).
			out.shaper.backlogged = q.backlog_pkts() > 0;
		},
		*out.aqm);
	return n;
}

// The policy's overrides for a port's AQM queues, read once per burst by
// the owner of each of its egress queues: on[q] where the one for queue q is
// in force.
inline void read_overrides(const OverrideSlot *slots, uint16_t port, uint64_t now_ns, OverrideRecord *ov, bool *on)
{
	for (int q = 0; q < aqm::kQueueCount; q++)
		on[q] = slots[port * aqm::kQueueCount + q].read(ov[q]) && ov[q].active(now_ns);
}

// A burst's changes of verdict by the policy, [the AQM's][the one taken],
// into the port's counters.
inline void add_verdict_changes(PortStats &st, const uint32_t (&changes)[3][3])
{
	for (int a = 0; a < 3; a++)
		for (int t = 0; t < 3; t++)
			st.verdict_changes[a][t] += changes[a][t];
}

} // namespace

// Into the AQM of an egress queue this worker owns (or straight to tx with aqm
// "none"): one call into the AQM per burst; what it refuses is freed in bulk
// (and counted by the AQM: overflow_drops, aqm_drops). Tune mode: the burst
// is one arrival for the port's step counter, what the AQM refuses a drop.
template <bool Tune>
void Router::enqueue_local(Worker &w, uint16_t egress, const aqm::Packet *descs, uint32_t n, uint64_t now_ns)
{
	EgressQueue &out = queues_[egress];
	PortStats &st = w.stats[egress];
	rte_mbuf *drops[kMaxBurst];
	uint32_t nd = 0;
	if (!out.aqm) {
		uint32_t delay_drops = 0, tx_failed = 0;
		for (uint32_t i = 0; i < n; i++)
			release(out, reinterpret_cast<rte_mbuf *>(descs[i].handle), descs[i].len_bytes, now_ns, drops, nd,
				delay_drops, tx_failed);
		st.delay_drops += delay_drops;
		st.tx_failed += tx_failed;
	} else {
		if constexpr (Tune)
			tune_arrive(egress, descs, n, now_ns);
		if (cfg_.empty_queue_bypass && pass_through<Tune>(w, egress, descs, n, now_ns))
			return;
		aqm::EnqueueResult result[kMaxBurst];
		std::visit([&](auto &q) { aqm::enqueue_burst(q, now_ns, descs, n, result); }, *out.aqm);
		for (uint32_t i = 0; i < n; i++)
			if (result[i] != aqm::EnqueueResult::accepted)
				drops[nd++] = reinterpret_cast<rte_mbuf *>(descs[i].handle);
		if constexpr (Tune)
			if (nd > 0)
				tune_enqueue_drops(egress, descs, result, n, now_ns);
	}
	if (nd > 0)
		rte_pktmbuf_free_bulk(drops, nd);
}

// Whether the policy has an override in force on either of the AQM queues
// of the egress queue's port (it changes verdicts the bypass does not look at).
bool Router::override_active(uint16_t egress, uint64_t now_ns) const
{
	if (!overrides_)
		return false;
	OverrideRecord ov;
	const uint16_t port = queues_[egress].port;
	for (int q = 0; q < aqm::kQueueCount; q++)
		if (overrides_[port * aqm::kQueueCount + q].read(ov) && ov.active(now_ns))
			return true;
	return false;
}

// The end of a burst's release, for the bypass and the dequeue alike: the
// frames nothing took freed in bulk, the samples it buffered handed to the
// policy worker's ring (the port counts what the ring took and lost), the
// release's failures counted. Returns the port's counters for the caller's
// own.
PortStats &Router::end_release(Worker &w, uint16_t egress, rte_mbuf **drops, uint32_t nd, uint32_t delay_drops,
			       uint32_t tx_failed, bool sampling)
{
	if (nd > 0)
		rte_pktmbuf_free_bulk(drops, nd);
	PortStats &st = w.stats[egress];
	if (sampling) {
		const Sampler::Flushed f = w.sampler.flush();
		st.samples += f.put;
		st.sample_drops += f.lost;
	}
	st.delay_drops += delay_drops;
	st.tx_failed += tx_failed;
	return st;
}

// The empty-queue bypass. Unshaped, or shaped with budget to spare, a burst
// that meets an empty queue is dequeued in the same pass, at the same now,
// with a sojourn of 0: where the AQM has nothing to decide then (DualPI2 at
// p' = 0, a FIFO: aqm::pass_through says), the burst goes straight to tx in
// the order the dequeue would have released it, and every count the full
// path keeps is kept in bulk: the AQM's counters and peaks, the sojourn
// histogram (n samples of 0), the shaper's charge, the samples for the
// policy worker. Taken only where the full path would forward the whole
// burst in this pass (the AQM checks the dequeue's burst, the tx buffer's
// room and the shaper's budget) and no policy override is in force. Two
// differences, neither in a verdict or a count: the samples see the queue
// as the bypass leaves it (empty), not the rest of the burst behind each
// packet; and where two bursts reach one egress in one pass (two rx queues,
// or a hand-off and an rx queue), each is judged alone, where the full path
// would dequeue at most one burst's worth of both in this pass.
template <bool Tune>
bool Router::pass_through(Worker &w, uint16_t egress, const aqm::Packet *descs, uint32_t n, uint64_t now_ns)
{
	EgressQueue &out = queues_[egress];
	if (override_active(egress, now_ns))
		return false;
	// The dequeue's own limits: its burst, the tx buffer's room, the budget.
	const uint32_t max = std::min(cfg_.burst, out.tx.room());
	aqm::Dequeued d[kMaxBurst];
	if (!std::visit(
		    [&](auto &q) {
			    return aqm::pass_through(q, now_ns, descs, n, out.shaper.byte_budget(now_ns),
						     out.shaper.overhead_bytes, max, d);
		    },
		    *out.aqm))
		return false;
	uint64_t wire_bytes = 0;
	const bool sampling = w.sampler.on();
	rte_mbuf *drops[kMaxBurst];
	uint32_t nd = 0, delay_drops = 0, tx_failed = 0;
	uint64_t per_queue[aqm::kQueueCount] = {};
	for (uint32_t i = 0; i < n; i++) {
		per_queue[static_cast<int>(d[i].queue)]++;
		wire_bytes += d[i].pkt.len_bytes + out.shaper.overhead_bytes;
		if (sampling && w.sampler.due(out.port, d[i].queue))
			w.sampler.add(*out.aqm, out.port, d[i], aqm::Verdict::forward, now_ns);
		release(out, reinterpret_cast<rte_mbuf *>(d[i].pkt.handle), d[i].pkt.len_bytes, now_ns, drops, nd,
			delay_drops, tx_failed);
	}
	for (int q = 0; q < aqm::kQueueCount; q++)
		if (per_queue[q] != 0)
			out.sojourn[q].add(0, per_queue[q]);
	out.shaper.backlogged = false;
	out.shaper.charge_wire(now_ns, wire_bytes);
	end_release(w, egress, drops, nd, delay_drops, tx_failed, sampling).bypassed_pkts += n;
	if constexpr (Tune)
		tune_dequeued(egress, d, n, now_ns);
	return true;
}

// l3: the route for the frame's destination, its TTL / hop limit taken down
// by one and its Ethernet addresses rewritten for the next hop. Returns the
// egress port's index, or kDropNoRoute / kDropTtlExpired for a frame to drop.
inline uint32_t Router::route_l3(uint8_t *frame, const FrameInfo &info)
{
	const uint32_t route = routes_.lookup(frame, info);
	if (route == RouteTable::kNoRoute)
		return kDropNoRoute;
	if (!decrement_hop_limit(frame, info))
		return kDropTtlExpired;
	const uint16_t egress = route_egress_[route];
	write_ether_addresses(frame, cfg_.routes[route].next_hop_mac, ports_[egress].mac);
	return egress;
}

// Each egress queue gets its share of an rx burst as one burst: in l2-pair
// mode to a port of one queue that is the whole burst, else a gather per
// queue the burst touched (queues_hit, a bit per egress queue); into the
// queue's AQM where this worker owns it, else over its owner's hand-off ring.
template <bool Tune>
inline void Router::enqueue_by_egress(Worker &w, const aqm::Packet *descs, const uint16_t *dest, uint32_t n,
				      uint32_t queues_hit, uint64_t now_ns)
{
	const auto me = static_cast<uint16_t>(&w - workers_.data());
	aqm::Packet share[kMaxBurst];
	const bool one_queue = (queues_hit & (queues_hit - 1)) == 0;
	while (queues_hit != 0) {
		const auto e = static_cast<uint16_t>(__builtin_ctz(queues_hit));
		queues_hit &= queues_hit - 1;
		const aqm::Packet *group = descs;
		uint32_t ng = n;
		if (!one_queue) {
			ng = 0;
			for (uint32_t i = 0; i < n; i++)
				if (dest[i] == e)
					share[ng++] = descs[i];
			group = share;
		}
		if (queues_[e].owner == me)
			enqueue_local<Tune>(w, e, group, ng, now_ns);
		else
			hand_off(w, e, group, ng);
	}
}

// rx -> parse -> (l3: route, TTL, addresses) -> a descriptor beside the burst
// -> the egress queue (by the flow's hash where the port has several) -> its
// AQM, or the hand-off ring of the worker that owns it.
// Malformed and unroutable frames are counted by kind and freed in bulk.
template <bool Tune>
uint16_t Router::rx_queue(Worker &w, RxQueue rq, uint64_t now_ns)
{
	const Port &in = ports_[rq.port];
	rte_mbuf *pkts[kMaxBurst];
	const uint16_t n = rte_eth_rx_burst(in.port_id, rq.queue, pkts, static_cast<uint16_t>(cfg_.burst));
	if (n == 0)
		return 0;
	// The frames kept, as the AQM's descriptors, and the egress queue of each.
	aqm::Packet desc[kMaxBurst];
	uint16_t dest[kMaxBurst];
	rte_mbuf *drops[kMaxBurst];
	uint32_t nk = 0, nd = 0;
	uint32_t queues_hit = 0; // bit per egress queue, to group the burst by queue
	uint64_t rx_bytes = 0, no_route = 0, ttl_expired = 0;
	uint32_t kinds[kFrameKinds] = {};
	const bool l3 = cfg_.mode == RouterMode::l3;
	for (uint32_t i = 0; i < kRxPrefetch && i < n; i++)
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
	for (uint16_t i = 0; i < n; i++) {
		rte_mbuf *m = pkts[i];
		if (i + kRxPrefetch < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + kRxPrefetch], void *));
		uint8_t *frame = rte_pktmbuf_mtod(m, uint8_t *);
		const FrameInfo info = parse_frame(frame, rte_pktmbuf_data_len(m));
		const uint32_t len = rte_pktmbuf_pkt_len(m);
		rx_bytes += len;
		kinds[static_cast<int>(info.kind)]++;
		if (is_malformed(info.kind)) {
			drops[nd++] = m;
			continue;
		}
		uint16_t egress = in.egress;
		if (l3) {
			const uint32_t to = route_l3(frame, info);
			if (to == kDropNoRoute || to == kDropTtlExpired) {
				(to == kDropNoRoute ? no_route : ttl_expired)++;
				drops[nd++] = m;
				continue;
			}
			egress = static_cast<uint16_t>(to);
		}
		const PortInfo &to = ports_[egress];
		uint16_t queue = to.first_queue;
		if (to.queues > 1)
			queue += pick_queue(flow_hash(m, frame, rte_pktmbuf_data_len(m), info), to.queues, to.queue_mod_m);
		desc[nk] = aqm::Packet{now_ns, reinterpret_cast<uint64_t>(m), len, info.ecn, 0,
				       frame_tag(info.kind, info.l3_offset)};
		dest[nk++] = queue;
		queues_hit |= 1u << queue;
	}
	PortStats &st = w.stats[in.first_queue];
	st.rx_pkts += n;
	st.rx_bytes += rx_bytes;
	for (int k = 0; k < kFrameKinds; k++)
		st.rx_kind[k] += kinds[k];
	st.no_route += no_route;
	st.ttl_expired += ttl_expired;
	if (nd > 0)
		rte_pktmbuf_free_bulk(drops, nd);
	enqueue_by_egress<Tune>(w, desc, dest, nk, queues_hit, now_ns);
	return n;
}

// To the worker that owns egress: 16-byte descriptors over its ring
// (multi-producer; rte_ring orders the element stores before the tail
// update the consumer reads). A full ring drops, counted, freed in bulk.
void Router::hand_off(Worker &w, uint16_t egress, const aqm::Packet *descs, uint32_t n)
{
	HandoffDesc h[kMaxBurst];
	for (uint32_t i = 0; i < n; i++) {
		const FrameInfo info = tag_frame(descs[i]);
		h[i] = HandoffDesc{reinterpret_cast<rte_mbuf *>(descs[i].handle), descs[i].len_bytes, descs[i].ecn,
				   info.kind, info.l3_offset};
	}
	const unsigned put = rte_ring_mp_enqueue_burst_elem(queues_[egress].handoff, h, sizeof(HandoffDesc), n, nullptr);
	if (put < n) {
		rte_mbuf *drops[kMaxBurst];
		for (uint32_t i = put; i < n; i++)
			drops[i - put] = h[i].m;
		w.stats[egress].handoff_drops += n - put;
		rte_pktmbuf_free_bulk(drops, n - put);
	}
}

template <bool Tune>
uint16_t Router::drain_handoff(Worker &w, uint16_t egress, uint64_t now_ns)
{
	HandoffDesc h[kMaxBurst];
	const unsigned n = rte_ring_sc_dequeue_burst_elem(queues_[egress].handoff, h, sizeof(HandoffDesc), cfg_.burst,
							  nullptr);
	if (n == 0)
		return 0;
	// The handed-off mbufs' first lines, which tx (and the bypass, at once)
	// will read: the rx worker wrote them on another core.
	aqm::Packet desc[kMaxBurst];
	for (unsigned i = 0; i < n; i++) {
		rte_prefetch0(h[i].m);
		desc[i] = aqm::Packet{now_ns, reinterpret_cast<uint64_t>(h[i].m), h[i].len_bytes, h[i].ecn, 0,
				      frame_tag(h[i].kind, h[i].l3_offset)};
	}
	enqueue_local<Tune>(w, egress, desc, n, now_ns);
	return static_cast<uint16_t>(n);
}

// Dequeue in two phases. First the AQM decides a whole burst on its
// descriptors (a burst of packets to forward, as much as the shaper's budget
// allows, plus whatever it drops on the way) and names the mbufs the next
// burst will take (peek_handles: one per packet of this burst, each handed
// out once); then each packet is overridden, sampled, marked and released
// to the delay line or the tx buffer, and beside each one next burst's mbuf
// is prefetched: a burst ahead, three lines a packet, so the prefetches in
// flight stay within what a core's miss buffers hold (a whole burst's at
// once, 96 to 192 lines, would mostly be dropped or stall). Then the shaper
// is charged once, the drops freed in bulk and the counters written once.
// Tune mode: then the burst's AQM verdicts go to the port's step counter.
template <bool Tune>
uint16_t Router::dequeue_burst(Worker &w, uint16_t egress, uint64_t now_ns)
{
	EgressQueue &out = queues_[egress];
	if (!out.aqm)
		return 0;
	const uint32_t max = std::min(cfg_.burst, out.tx.room());
	if (max == 0)
		return 0;
	aqm::Dequeued d[kMaxBurst];
	uint64_t next[kMaxBurst];
	uint32_t n_next = 0;
	const uint32_t n = aqm_dequeue(out, now_ns, max, d, next, n_next);
	if (n == 0) {
		for (uint32_t i = 0; i < n_next; i++) // a budget-less pass: the few the next one starts with
			prefetch_mbuf(next[i]);
		return 0;
	}
	OverrideRecord ov[aqm::kQueueCount];
	bool on[aqm::kQueueCount] = {false, false};
	if (overrides_)
		read_overrides(overrides_.get(), out.port, now_ns, ov, on);
	const bool sampling = w.sampler.on();
	// The AQM counts its own verdicts; the router counts only what it
	// changes of them (the policy's overrides, marks it cannot set).
	rte_mbuf *drops[kMaxBurst];
	uint32_t nd = 0, mark_failed = 0, delay_drops = 0, tx_failed = 0;
	uint32_t changes[3][3] = {};
	uint64_t wire_bytes = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (i < n_next)
			prefetch_mbuf(next[i]);
		const aqm::Dequeued &di = d[i];
		rte_mbuf *m = reinterpret_cast<rte_mbuf *>(di.pkt.handle);
		const int qi = static_cast<int>(di.queue);
		aqm::Verdict verdict = di.verdict;
		if (on[qi]) {
			verdict = apply_override(ov[qi], di, w.rng, cfg_.policy);
			changes[static_cast<int>(di.verdict)][static_cast<int>(verdict)] += verdict != di.verdict;
		}
		if (sampling && w.sampler.due(out.port, di.queue))
			w.sampler.add(*out.aqm, out.port, di, verdict, now_ns);
		if (di.verdict == aqm::Verdict::drop) // the AQM's drop, whatever the policy made of it
			out.aqm_dequeue_drops[qi]++;
		if (verdict == aqm::Verdict::drop) {
			out.dropped_waits[qi].add(di.sojourn_ns);
			drops[nd++] = m;
			continue;
		}
		if (verdict == aqm::Verdict::forward_ce && !set_ce(rte_pktmbuf_mtod(m, uint8_t *), tag_frame(di.pkt))) {
			out.dropped_waits[qi].add(di.sojourn_ns);
			mark_failed++;
			drops[nd++] = m;
			continue;
		}
		// Each forwarded packet's own sojourn (a few ns: one bucket index and
		// an increment in a line the queue's sojourns keep hot): a burst
		// after a late poll holds packets that waited very different times,
		// and the oldest's figure for all of them would overstate the tail
		// the operator reads.
		out.sojourn[qi].add(di.sojourn_ns);
		wire_bytes += di.pkt.len_bytes + out.shaper.overhead_bytes;
		release(out, m, di.pkt.len_bytes, now_ns, drops, nd, delay_drops, tx_failed);
	}
	out.shaper.charge_wire(now_ns, wire_bytes);
	PortStats &st = end_release(w, egress, drops, nd, delay_drops, tx_failed, sampling);
	st.mark_failed += mark_failed;
	if (overrides_)
		add_verdict_changes(st, changes);
	if constexpr (Tune)
		tune_dequeued(egress, d, n, now_ns);
	return static_cast<uint16_t>(n);
}

// Delay line -> tx buffer -> NIC. What the NIC refuses stays in the buffer
// and goes first next time. The bytes counted are the descriptors' lengths:
// once rte_eth_tx_burst has an mbuf, the driver may have freed it already.
uint16_t Router::flush_tx(Worker &w, uint16_t egress, uint64_t now_ns)
{
	EgressQueue &out = queues_[egress];
	TxBuffer &tx = out.tx;
	constexpr uint32_t kMask = TxBuffer::kSlots - 1;
	// Frames whose delay has passed join the tx buffer, as many as it has room for.
	while (out.delay.enabled() && tx.room() > 0) {
		void *due[kMaxBurst];
		uint32_t len[kMaxBurst];
		const uint32_t want = std::min(tx.room(), kMaxBurst);
		const uint32_t got = out.delay.pop_due(now_ns, due, len, want);
		for (uint32_t i = 0; i < got; i++)
			tx.push(static_cast<rte_mbuf *>(due[i]), len[i]);
		if (got < want)
			break;
	}
	uint32_t sent_total = 0;
	uint64_t bytes = 0;
	// At most two contiguous runs: up to the end of the ring, then from its start.
	for (int run = 0; run < 2 && tx.count() > 0; run++) {
		const uint32_t at = tx.head & kMask;
		const auto want = static_cast<uint16_t>(std::min(tx.count(), TxBuffer::kSlots - at));
		const uint16_t sent = rte_eth_tx_burst(out.port_id, out.tx_queue, &tx.pkts[at], want);
		for (uint16_t i = 0; i < sent; i++)
			bytes += tx.len_bytes[at + i];
		tx.head += sent;
		sent_total += sent;
		if (sent < want)
			break;
	}
	PortStats &st = w.stats[egress];
	st.tx_pkts += sent_total;
	st.tx_bytes += bytes;
	return static_cast<uint16_t>(sent_total);
}

// One pass of a worker; in tune mode the tuner's records and steps first,
// between bursts.
template <bool Tune>
uint32_t Router::poll_pass(Worker &w, uint64_t now_ns)
{
	uint32_t moved = 0;
	if (w.changes.pending()) // new AQM parameters or interval, between two bursts
		apply_changes(*this, w);
	if constexpr (Tune)
		tune_pass(w, now_ns);
	for (uint16_t e : w.egress)
		if (queues_[e].handoff)
			moved += drain_handoff<Tune>(w, e, now_ns);
	for (RxQueue rq : w.rx)
		moved += rx_queue<Tune>(w, rq, now_ns);
	for (uint16_t e : w.egress)
		moved += tx_port<Tune>(w, e, now_ns);
	w.polls++;
	w.busy_polls += moved != 0;
	return moved;
}

uint32_t Router::poll_worker(Worker &w, uint64_t now_ns)
{
	return tune_ ? poll_pass<true>(w, now_ns) : poll_pass<false>(w, now_ns);
}

uint32_t Router::poll(uint64_t now_ns)
{
	uint32_t moved = 0;
	for (Worker &w : workers_)
		moved += poll_worker(w, now_ns);
	return moved;
}

// The mode is chosen once, before the loop.
void Router::worker_loop(Worker &w)
{
	if (tune_)
		while (!workers_stop_.load(std::memory_order_relaxed))
			poll_pass<true>(w, now_ns());
	else
		while (!workers_stop_.load(std::memory_order_relaxed))
			poll_pass<false>(w, now_ns());
}

struct WorkerLaunch {
	Router *router;
	Worker *worker;
};

int worker_main(void *arg)
{
	auto *launch = static_cast<WorkerLaunch *>(arg);
	launch->router->worker_loop(*launch->worker);
	return 0;
}

struct ServiceLaunch {
	const Router::ServiceFn *service;
	const std::atomic<bool> *stop;
	const Router *router;
};

int service_main(void *arg)
{
	auto *launch = static_cast<ServiceLaunch *>(arg);
	while (!launch->stop->load(std::memory_order_relaxed))
		(*launch->service)(launch->router->now_ns());
	return 0;
}

void Router::run(const std::atomic<bool> &stop, uint64_t drain_ns, const ServiceFn &service, unsigned service_lcore)
{
	const uint64_t interval = cfg_.stats_interval_ns;
	uint64_t next_stats = now_ns() + interval;
	const bool on_lcores = workers_.size() > 1 || workers_[0].lcore != rte_lcore_id();
	std::vector<WorkerLaunch> launches(workers_.size());
	workers_stop_.store(false);
	if (on_lcores) {
		for (size_t i = 0; i < workers_.size(); i++) {
			launches[i] = WorkerLaunch{this, &workers_[i]};
			rte_eal_remote_launch(worker_main, &launches[i], workers_[i].lcore);
		}
	}
	const bool service_on_lcore = service && service_lcore != UINT32_MAX && service_lcore != rte_lcore_id();
	ServiceLaunch service_launch{&service, &workers_stop_, this};
	if (service_on_lcore)
		rte_eal_remote_launch(service_main, &service_launch, service_lcore);
	// The control thread: polls itself with one worker on its own lcore,
	// runs the service where it has no lcore of its own, prints the stats
	// line, and otherwise waits for the stop.
	while (!stop.load(std::memory_order_relaxed)) {
		const uint64_t now = now_ns();
		if (!on_lcores)
			poll_worker(workers_[0], now);
		if (service && !service_on_lcore)
			service(now);
		else if (on_lcores)
			rte_delay_us_sleep(1000);
		if (interval != 0 && now >= next_stats) {
			std::fputs((stats_line() + "\n").c_str(), stdout);
			std::fflush(stdout);
			next_stats = now + interval;
		}
	}
	if (service_on_lcore) {
		workers_stop_.store(true);
		rte_eal_wait_lcore(service_lcore);
	}
	if (on_lcores) {
		workers_stop_.store(true);
		for (const Worker &w : workers_)
			rte_eal_wait_lcore(w.lcore);
	}
	// Rx is over. Frames in hand-off rings go to their AQMs, then the queues
	// drain through the shapers for a while; what is left is counted (and
	// freed) by shutdown().
	const uint64_t deadline = now_ns() + drain_ns;
	for (Worker &w : workers_)
		for (uint16_t e : w.egress)
			while (queues_[e].handoff && drain_handoff<false>(w, e, now_ns()) > 0) {
			}
	while (queued_pkts() > 0 && now_ns() < deadline)
		for (Worker &w : workers_)
			for (uint16_t e : w.egress)
				tx_port<false>(w, e, now_ns());
}

} // namespace dualpilot::dataplane
