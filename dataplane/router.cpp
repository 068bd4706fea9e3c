#include "dataplane/router.hpp"

#include <rte_bus.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf_dyn.h>
#include <rte_mempool.h>

#include <fmt/format.h>

#include "aqm/observe.hpp"
#include "dataplane/ecn_mark.hpp"

namespace dualpilot::dataplane {

namespace {

constexpr uint16_t kRxDesc = 1024;
constexpr uint16_t kTxDesc = 1024;
constexpr uint32_t kMaxBurst = 512;
constexpr uint32_t kTxPendingMax = 4 * kMaxBurst;
constexpr uint32_t kDelayLineSlots = 65536; // 1 s at 8 Mbit/s of 60-byte frames; ~790 Mbit/s x 1 ms of 1514-byte ones
constexpr unsigned kHandoffRing = 4096;

// What rx learnt about a frame, carried in the mbuf to the AQM and the
// marker (possibly on another worker): one dynamic field, registered once.
struct RxMeta {
	uint64_t arrival_ns;
	uint16_t l3_offset;
	FrameKind kind;
	aqm::Ecn ecn;
};
int rx_meta_offset = -1;

std::string register_rx_meta()
{
	if (rx_meta_offset >= 0)
		return {};
	const rte_mbuf_dynfield desc = {"dualpilot_rx_meta", sizeof(RxMeta), alignof(RxMeta), 0};
	rx_meta_offset = rte_mbuf_dynfield_register(&desc);
	if (rx_meta_offset < 0)
		return "cannot register the mbuf field for rx metadata: " + std::string(rte_strerror(rte_errno));
	return {};
}

inline RxMeta &meta(rte_mbuf *m) { return *RTE_MBUF_DYNFIELD(m, rx_meta_offset, RxMeta *); }

// A port given by name: an existing ethdev of that name (a ring port made by
// the caller, an already probed device) or a device to probe now.
std::string resolve_port(const std::string &device, uint16_t &port_id)
{
	const std::string name = device.substr(0, device.find(','));
	if (rte_eth_dev_get_port_by_name(name.c_str(), &port_id) == 0)
		return {};
	const int rc = rte_dev_probe(device.c_str());
	if (rc != 0)
		return "device '" + device + "': cannot probe it (" + std::string(rte_strerror(-rc)) + ")";
	if (rte_eth_dev_get_port_by_name(name.c_str(), &port_id) != 0)
		return "device '" + device + "': probed, but no ethdev named '" + name + "' appeared";
	return {};
}

// Configures and starts a port: rx_queues rx queues, spread by RSS where the
// device offers it, and one tx queue (only the owner worker transmits).
std::string start_port(uint16_t port_id, uint16_t rx_queues, rte_mempool *pool, std::vector<std::string> &warnings,
		       const std::string &port_name)
{
	rte_eth_dev_info info{};
	int rc = rte_eth_dev_info_get(port_id, &info);
	if (rc != 0)
		return "device info: " + std::string(rte_strerror(-rc));
	if (rx_queues > info.max_rx_queues)
		return fmt::format("rx_queues = {} but the device has at most {}", rx_queues, info.max_rx_queues);
	rte_eth_conf conf{};
	if (rx_queues > 1) {
		const uint64_t wanted = RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
		if ((info.flow_type_rss_offloads & wanted) != 0) {
			conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
			conf.rx_adv_conf.rss_conf.rss_hf = info.flow_type_rss_offloads & wanted;
		} else {
			warnings.push_back(fmt::format("port '{}': {} rx queues but the device has no RSS; how frames "
						       "spread over the queues is up to the device",
						       port_name, rx_queues));
		}
	}
	rc = rte_eth_dev_configure(port_id, rx_queues, 1, &conf);
	if (rc != 0)
		return "configure: " + std::string(rte_strerror(-rc));
	uint16_t rxd = kRxDesc, txd = kTxDesc;
	rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &rxd, &txd);
	const int socket = rte_eth_dev_socket_id(port_id);
	for (uint16_t q = 0; q < rx_queues; q++)
		if ((rc = rte_eth_rx_queue_setup(port_id, q, rxd, socket, nullptr, pool)) != 0)
			return "rx queue " + std::to_string(q) + ": " + std::string(rte_strerror(-rc));
	if ((rc = rte_eth_tx_queue_setup(port_id, 0, txd, socket, nullptr)) != 0)
		return "tx queue: " + std::string(rte_strerror(-rc));
	if ((rc = rte_eth_dev_start(port_id)) != 0)
		return "start: " + std::string(rte_strerror(-rc));
	rte_eth_promiscuous_enable(port_id); // not every vdev has it; bump-in-the-wire needs it where it exists
	return {};
}

uint32_t pool_counter = 0;

} // namespace

PortStats &PortStats::operator+=(const PortStats &o)
{
	rx_pkts += o.rx_pkts;
	rx_bytes += o.rx_bytes;
	for (int k = 0; k < kFrameKinds; k++)
		rx_kind[k] += o.rx_kind[k];
	no_route += o.no_route;
	ttl_expired += o.ttl_expired;
	tx_pkts += o.tx_pkts;
	tx_bytes += o.tx_bytes;
	tx_failed += o.tx_failed;
	marked += o.marked;
	aqm_drops += o.aqm_drops;
	overflow_drops += o.overflow_drops;
	mark_failed += o.mark_failed;
	handoff_drops += o.handoff_drops;
	delay_drops += o.delay_drops;
	samples += o.samples;
	sample_drops += o.sample_drops;
	overridden += o.overridden;
	return *this;
}

Router::~Router() { shutdown(); }

std::string Router::init(const RouterConfig &cfg, const std::vector<unsigned> &worker_lcores)
{
	cfg_ = cfg;
	if (cfg.burst > kMaxBurst)
		return "burst above " + std::to_string(kMaxBurst);
	if (std::string err = register_rx_meta(); !err.empty())
		return err;
	ns_per_tsc_ = 1e9 / static_cast<double>(rte_get_tsc_hz());
	const std::string pool_name = "dualpilot_" + std::to_string(pool_counter++);
	pool_ = rte_pktmbuf_pool_create(pool_name.c_str(), cfg.mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					static_cast<int>(rte_socket_id()));
	if (!pool_)
		return "cannot create a pool of " + std::to_string(cfg.mbufs) + " mbufs: " +
		       std::string(rte_strerror(rte_errno)) + " (more EAL memory: -m)";
	started_ = true; // from here on shutdown() undoes what was done
	if (std::string err = init_ports(); !err.empty())
		return err;
	if (cfg.mode == RouterMode::l3) {
		if (std::string err = routes_.build(cfg.routes, static_cast<int>(rte_socket_id())); !err.empty())
			return err;
		for (const RouteConfig &r : cfg.routes)
			for (size_t j = 0; j < ports_.size(); j++)
				if (ports_[j].cfg.name == r.port)
					route_egress_.push_back(static_cast<uint16_t>(j));
	}
	assign_work(worker_lcores);
	if (workers_.size() > 1) {
		for (Port &p : ports_) {
			const std::string name = fmt::format("dp_handoff_{}_{}", pool_name, p.port_id);
			p.handoff = rte_ring_create(name.c_str(), kHandoffRing, static_cast<int>(rte_socket_id()),
						    RING_F_SC_DEQ);
			if (!p.handoff)
				return "cannot create a hand-off ring: " + std::string(rte_strerror(rte_errno));
		}
	}
	if (cfg.policy.sampling()) {
		for (size_t i = 0; i < workers_.size(); i++) {
			Worker &w = workers_[i];
			const std::string name = fmt::format("dp_samples_{}_{}", pool_name, i);
			w.samples = rte_ring_create_elem(name.c_str(), sizeof(PacketState), cfg.policy.ring_size,
							 static_cast<int>(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (!w.samples)
				return "cannot create a sample ring: " + std::string(rte_strerror(rte_errno));
			w.sample_countdown.assign(ports_.size(), {cfg.policy.inference_interval, cfg.policy.inference_interval});
			w.rng = aqm::Rng(0x9e3779b97f4a7c15ull * (i + 1));
		}
	}
	if (cfg.policy.mode == PolicyMode::enforce)
		overrides_ = std::make_unique<OverrideSlot[]>(ports_.size() * aqm::kQueueCount);
	// Each queue can hold its limit in mbufs, each port its rx and tx rings.
	uint64_t needed = 0;
	for (const Port &p : ports_) {
		needed += kRxDesc * p.cfg.rx_queues + kTxDesc + kTxPendingMax + (p.handoff ? kHandoffRing : 0);
		if (p.has_aqm)
			needed += std::visit([](const auto &q) -> uint64_t { return q.params().limit_pkts; }, p.aqm[0]);
		// The delay line holds delay x rate of frames (counted as 60-byte
		// frames, the worst case), or its whole ring on an unshaped port.
		if (p.delay.enabled())
			needed += p.cfg.rate_bps
					  ? std::min<uint64_t>(kDelayLineSlots, p.cfg.rate_bps * p.cfg.delay_ns / 8000000000ull / 60 + 64)
					  : kDelayLineSlots;
	}
	if (needed > cfg.mbufs)
		warnings_.push_back(fmt::format("mbufs = {} is below the {} the queues and rings can hold: under "
						"load the pool, not the AQM, will bound the queues (raise [router] mbufs)",
						cfg.mbufs, needed));
	return {};
}

std::string Router::init_ports()
{
	ports_.resize(cfg_.ports.size());
	for (size_t i = 0; i < cfg_.ports.size(); i++) {
		Port &p = ports_[i];
		p.cfg = cfg_.ports[i];
		if (std::string err = resolve_port(p.cfg.device, p.port_id); !err.empty())
			return "port '" + p.cfg.name + "': " + err;
		for (size_t j = 0; j < i; j++)
			if (ports_[j].port_id == p.port_id)
				return "port '" + p.cfg.name + "': device already used by port '" + ports_[j].cfg.name + "'";
		if (std::string err = start_port(p.port_id, p.cfg.rx_queues, pool_, warnings_, p.cfg.name); !err.empty())
			return "port '" + p.cfg.name + "' (" + p.cfg.device + "): " + err;
		rte_ether_addr mac{};
		rte_eth_macaddr_get(p.port_id, &mac);
		std::copy(std::begin(mac.addr_bytes), std::end(mac.addr_bytes), p.mac.begin());
		p.has_aqm = p.cfg.aqm != "none";
		if (!p.has_aqm && p.cfg.rate_bps != 0)
			return "port '" + p.cfg.name + "': aqm \"none\" has no queue to shape; use rate = \"line\"";
		if (p.has_aqm) {
			aqm::AqmOrError built = aqm::make_aqm(p.cfg.aqm, p.cfg.aqm_params, i + 1);
			if (!built.error.empty())
				return "port '" + p.cfg.name + "': " + built.error;
			p.aqm = std::move(built.aqm);
		}
		p.shaper = Shaper::make(p.cfg.rate_bps, p.cfg.burst_bytes);
		p.tx_pending.reserve(kTxPendingMax);
		if (p.cfg.delay_ns)
			p.delay.init(p.cfg.delay_ns, kDelayLineSlots);
	}
	for (Port &p : ports_)
		for (size_t j = 0; j < ports_.size(); j++)
			if (ports_[j].cfg.name == p.cfg.peer)
				p.egress = static_cast<uint16_t>(j);
	return {};
}

// Egress ports go to the workers round-robin. A port's first rx queue goes to
// the worker that owns its l2 peer's egress (so an l2 pair with one rx queue
// per port needs no hand-off), its further queues (RSS) to the next workers.
void Router::assign_work(const std::vector<unsigned> &worker_lcores)
{
	const size_t n = worker_lcores.empty() ? 1 : worker_lcores.size();
	workers_.assign(n, Worker{});
	for (size_t w = 0; w < n; w++) {
		workers_[w].lcore = worker_lcores.empty() ? rte_lcore_id() : worker_lcores[w];
		workers_[w].stats.assign(ports_.size(), PortStats{});
	}
	for (size_t i = 0; i < ports_.size(); i++) {
		ports_[i].owner = static_cast<uint16_t>(i % n);
		workers_[i % n].egress.push_back(static_cast<uint16_t>(i));
	}
	for (size_t i = 0; i < ports_.size(); i++)
		for (uint16_t q = 0; q < ports_[i].cfg.rx_queues; q++)
			workers_[(ports_[ports_[i].egress].owner + q) % n].rx.push_back(RxQueue{static_cast<uint16_t>(i), q});
}

uint64_t Router::now_ns() const { return static_cast<uint64_t>(static_cast<double>(rte_rdtsc()) * ns_per_tsc_); }

// The policy's action for one packet, inside the guard rails: an action
// drawn from the override's distribution; no drop or mark below min_delay of
// sojourn; an L4S packet is marked, not dropped, unless the AQM itself
// dropped it (overload); a mark on a Not-ECT packet is a drop, as in the AQM.
namespace {
aqm::Verdict apply_override(const OverrideRecord &ov, const aqm::Dequeued &d, aqm::Rng &rng, const PolicyConfig &pc)
{
	return policy::override_verdict({ov.p_drop_q16, ov.p_mark_q16}, rng.next_u32() >> 16, d, pc.guard);
}
} // namespace

namespace {
// A frame the AQM (or, with aqm "none", rx) lets go towards the wire: into
// the port's delay line when it has one, else its tx queue; a frame neither
// has room for is a counted drop.
void release(Port &out, PortStats &st, rte_mbuf *m, uint64_t now_ns)
{
	if (out.delay.enabled()) {
		if (!out.delay.push(m, now_ns)) {
			st.delay_drops++;
			rte_pktmbuf_free(m);
		}
	} else if (out.tx_pending.size() < kTxPendingMax) {
		out.tx_pending.push_back(m);
	} else {
		st.tx_failed++;
		rte_pktmbuf_free(m);
	}
}
} // namespace

// Into the AQM of a port this worker owns (or straight to tx with aqm "none").
void Router::enqueue_local(Worker &w, uint16_t egress, rte_mbuf **pkts, uint32_t n)
{
	Port &out = ports_[egress];
	PortStats &st = w.stats[egress];
	if (!out.has_aqm) {
		for (uint32_t i = 0; i < n; i++)
			release(out, st, pkts[i], meta(pkts[i]).arrival_ns);
		return;
	}
	// One dispatch on the AQM type per burst, none per packet.
	std::visit(
		[&](auto &q) {
			for (uint32_t i = 0; i < n; i++) {
				const RxMeta &rm = meta(pkts[i]);
				const aqm::Packet pkt{rm.arrival_ns, reinterpret_cast<uint64_t>(pkts[i]),
						      rte_pktmbuf_pkt_len(pkts[i]), rm.ecn, 0};
				const aqm::EnqueueResult r = q.enqueue(pkt);
				if (r == aqm::EnqueueResult::accepted)
					continue;
				(r == aqm::EnqueueResult::dropped_overflow ? st.overflow_drops : st.aqm_drops)++;
				rte_pktmbuf_free(pkts[i]);
			}
		},
		out.aqm[0]);
}

// rx -> parse -> (l3: route, TTL, addresses) -> to the egress port's AQM, or
// to the hand-off ring of the worker that owns it. Malformed and unroutable
// frames are counted by kind and freed here.
uint16_t Router::rx_queue(Worker &w, RxQueue rq, uint64_t now_ns)
{
	Port &in = ports_[rq.port];
	rte_mbuf *pkts[kMaxBurst];
	const uint16_t n = rte_eth_rx_burst(in.port_id, rq.queue, pkts, static_cast<uint16_t>(cfg_.burst));
	if (n == 0)
		return 0;
	PortStats &st = w.stats[rq.port];
	// The frames kept and the egress port of each.
	rte_mbuf *kept[kMaxBurst];
	uint16_t dest[kMaxBurst];
	uint32_t nk = 0;
	uint32_t ports_hit = 0; // bit per egress port, to group the burst by port below
	const bool l3 = cfg_.mode == RouterMode::l3;
	for (uint16_t i = 0; i < n; i++) {
		rte_mbuf *m = pkts[i];
		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		uint8_t *frame = rte_pktmbuf_mtod(m, uint8_t *);
		const FrameInfo info = parse_frame(frame, rte_pktmbuf_data_len(m));
		st.rx_pkts++;
		st.rx_bytes += rte_pktmbuf_pkt_len(m);
		st.rx_kind[static_cast<int>(info.kind)]++;
		if (is_malformed(info.kind)) {
			rte_pktmbuf_free(m);
			continue;
		}
		uint16_t egress = in.egress;
		if (l3) {
			const uint32_t route = routes_.lookup(frame, info);
			if (route == RouteTable::kNoRoute) {
				st.no_route++;
				rte_pktmbuf_free(m);
				continue;
			}
			if (!decrement_hop_limit(frame, info)) {
				st.ttl_expired++;
				rte_pktmbuf_free(m);
				continue;
			}
			egress = route_egress_[route];
			write_ether_addresses(frame, cfg_.routes[route].next_hop_mac, ports_[egress].mac);
		}
		meta(m) = RxMeta{now_ns, info.l3_offset, info.kind, info.ecn};
		kept[nk] = m;
		dest[nk++] = egress;
		ports_hit |= 1u << egress;
	}
	// Each egress port gets its share as one burst: in l2-pair mode that is
	// the whole burst, in l3 mode a gather per port the burst touched.
	const auto me = static_cast<uint16_t>(&w - workers_.data());
	rte_mbuf *share[kMaxBurst];
	const bool one_port = (ports_hit & (ports_hit - 1)) == 0;
	while (ports_hit != 0) {
		const auto e = static_cast<uint16_t>(__builtin_ctz(ports_hit));
		ports_hit &= ports_hit - 1;
		rte_mbuf **group = kept;
		uint32_t ng = nk;
		if (!one_port) {
			ng = 0;
			for (uint32_t i = 0; i < nk; i++)
				if (dest[i] == e)
					share[ng++] = kept[i];
			group = share;
		}
		if (ports_[e].owner == me) {
			enqueue_local(w, e, group, ng);
			continue;
		}
		const unsigned put = rte_ring_mp_enqueue_burst(ports_[e].handoff, reinterpret_cast<void **>(group), ng,
							       nullptr);
		if (put < ng) {
			w.stats[e].handoff_drops += ng - put;
			rte_pktmbuf_free_bulk(group + put, ng - put);
		}
	}
	return n;
}

uint16_t Router::drain_handoff(Worker &w, uint16_t egress)
{
	rte_mbuf *pkts[kMaxBurst];
	const unsigned n = rte_ring_sc_dequeue_burst(ports_[egress].handoff, reinterpret_cast<void **>(pkts),
						     cfg_.burst, nullptr);
	if (n > 0)
		enqueue_local(w, egress, pkts, n);
	return static_cast<uint16_t>(n);
}

// Dequeue while the shaper allows -> CE mark -> tx. What the NIC refuses
// stays pending (up to a bound) and goes first next time.
uint16_t Router::tx_port(Worker &w, uint16_t egress, uint64_t now_ns)
{
	Port &out = ports_[egress];
	PortStats &st = w.stats[egress];
	if (out.has_aqm) {
		// The policy's overrides for this port's queues: read once per burst.
		OverrideRecord ov[aqm::kQueueCount];
		bool on[aqm::kQueueCount] = {false, false};
		if (overrides_)
			for (int q = 0; q < aqm::kQueueCount; q++)
				on[q] = overrides_[egress * aqm::kQueueCount + q].read(ov[q]) && ov[q].active(now_ns);
		const bool sampling = w.samples != nullptr;
		std::visit(
			[&](auto &q) {
				aqm::Dequeued d;
				uint32_t taken = 0;
				while (taken < cfg_.burst && out.tx_pending.size() < kTxPendingMax &&
				       out.shaper.may_send(now_ns) && q.dequeue(now_ns, d)) {
					rte_mbuf *m = reinterpret_cast<rte_mbuf *>(d.pkt.handle);
					taken++;
					const int qi = static_cast<int>(d.queue);
					aqm::Verdict verdict = d.verdict;
					if (on[qi])
						verdict = apply_override(ov[qi], d, w.rng, cfg_.policy);
					if (verdict != d.verdict)
						st.overridden++;
					if (sampling && --w.sample_countdown[egress][qi] == 0) {
						w.sample_countdown[egress][qi] = cfg_.policy.inference_interval;
						sample(w, egress, d, verdict, now_ns);
					}
					if (verdict == aqm::Verdict::drop) {
						st.aqm_drops++;
						rte_pktmbuf_free(m);
						continue;
					}
					if (verdict == aqm::Verdict::forward_ce) {
						const RxMeta &rm = meta(m);
						const FrameInfo info{rm.kind, rm.ecn, rm.l3_offset, 0, 0};
						if (!set_ce(rte_pktmbuf_mtod(m, uint8_t *), info)) {
							st.mark_failed++;
							rte_pktmbuf_free(m);
							continue;
						}
						st.marked++;
					}
					out.sojourn[qi].add(d.sojourn_ns);
					out.shaper.charge(now_ns, d.pkt.len_bytes);
					release(out, st, m, now_ns);
				}
			},
			out.aqm[0]);
		if (sampling)
			flush_samples(w);
	}
	// Frames whose delay has passed join the tx queue, as many as it has room for.
	while (out.delay.enabled() && out.tx_pending.size() < kTxPendingMax) {
		void *due[kMaxBurst];
		const auto want = static_cast<uint32_t>(std::min<size_t>(kTxPendingMax - out.tx_pending.size(), kMaxBurst));
		const uint32_t got = out.delay.pop_due(now_ns, due, want);
		for (uint32_t i = 0; i < got; i++)
			out.tx_pending.push_back(static_cast<rte_mbuf *>(due[i]));
		if (got < want)
			break;
	}
	if (out.tx_pending.empty())
		return 0;
	const auto want = static_cast<uint16_t>(std::min<size_t>(out.tx_pending.size(), UINT16_MAX));
	const uint16_t sent = rte_eth_tx_burst(out.port_id, 0, out.tx_pending.data(), want);
	for (uint16_t i = 0; i < sent; i++)
		st.tx_bytes += rte_pktmbuf_pkt_len(out.tx_pending[i]);
	st.tx_pkts += sent;
	out.tx_pending.erase(out.tx_pending.begin(), out.tx_pending.begin() + sent);
	return sent;
}

// Hands the decision to the policy worker (at the end of the burst); a full
// ring loses the sample, never the packet.
void Router::sample(Worker &w, uint16_t egress, const aqm::Dequeued &d, aqm::Verdict taken, uint64_t now_ns)
{
	auto code = [](aqm::Verdict v) {
		return v == aqm::Verdict::drop ? kDrop : v == aqm::Verdict::forward_ce ? kMark : kForward;
	};
	if (w.sample_count == Worker::kSampleBurst)
		flush_samples(w);
	PacketState &ps = w.sample_buf[w.sample_count++];
	ps.timestamp_ns = now_ns;
	ps.port = egress;
	ps.queue = static_cast<uint8_t>(d.queue);
	ps.aqm_action = code(d.verdict);
	ps.taken_action = code(taken);
	const auto f = aqm::state_features(ports_[egress].aqm[0], d.queue, d.sojourn_ns, d.pkt.len_bytes);
	std::copy(f.begin(), f.end(), ps.features);
	w.sample_port = egress;
}

void Router::flush_samples(Worker &w)
{
	if (w.sample_count == 0)
		return;
	const unsigned put = rte_ring_sp_enqueue_burst_elem(w.samples, w.sample_buf.data(), sizeof(PacketState),
							    w.sample_count, nullptr);
	PortStats &st = w.stats[w.sample_port];
	st.samples += put;
	st.sample_drops += w.sample_count - put;
	w.sample_count = 0;
}

uint32_t Router::poll_worker(Worker &w, uint64_t now_ns)
{
	uint32_t moved = 0;
	for (uint16_t e : w.egress)
		if (ports_[e].handoff)
			moved += drain_handoff(w, e);
	for (RxQueue rq : w.rx)
		moved += rx_queue(w, rq, now_ns);
	for (uint16_t e : w.egress)
		moved += tx_port(w, e, now_ns);
	w.polls++;
	w.busy_polls += moved != 0;
	return moved;
}

uint32_t Router::poll(uint64_t now_ns)
{
	uint32_t moved = 0;
	for (Worker &w : workers_)
		moved += poll_worker(w, now_ns);
	return moved;
}

void Router::worker_loop(Worker &w)
{
	while (!workers_stop_.load(std::memory_order_relaxed))
		poll_worker(w, now_ns());
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
			while (ports_[e].handoff && drain_handoff(w, e) > 0) {
			}
	while (queued_pkts() > 0 && now_ns() < deadline)
		for (Worker &w : workers_)
			for (uint16_t e : w.egress)
				tx_port(w, e, now_ns());
}

uint64_t Router::queued_pkts(size_t port) const
{
	const Port &p = ports_[port];
	uint64_t n = p.tx_pending.size() + p.delay.size() + (p.handoff ? rte_ring_count(p.handoff) : 0);
	if (p.has_aqm)
		n += aqm::backlog_pkts(p.aqm[0]);
	return n;
}

uint64_t Router::queued_pkts() const
{
	uint64_t n = 0;
	for (size_t i = 0; i < ports_.size(); i++)
		n += queued_pkts(i);
	return n;
}

PortStats Router::port_stats(size_t port) const
{
	PortStats sum;
	for (const Worker &w : workers_)
		sum += w.stats[port];
	return sum;
}

void Router::shutdown()
{
	if (!started_)
		return;
	const uint64_t now = now_ns();
	for (Port &p : ports_) {
		if (p.has_aqm && !p.aqm.empty()) {
			aqm::Dequeued d;
			while (aqm::dequeue(p.aqm[0], now, d))
				rte_pktmbuf_free(reinterpret_cast<rte_mbuf *>(d.pkt.handle));
		}
		if (p.handoff) {
			void *m = nullptr;
			while (rte_ring_dequeue(p.handoff, &m) == 0)
				rte_pktmbuf_free(static_cast<rte_mbuf *>(m));
			rte_ring_free(p.handoff);
			p.handoff = nullptr;
		}
		for (rte_mbuf *m : p.tx_pending)
			rte_pktmbuf_free(m);
		p.tx_pending.clear();
		void *held[64];
		while (const uint32_t n = p.delay.pop_all(held, 64))
			rte_pktmbuf_free_bulk(reinterpret_cast<rte_mbuf **>(held), n);
		rte_eth_dev_stop(p.port_id);
	}
	for (Worker &w : workers_) {
		rte_ring_free(w.samples);
		w.samples = nullptr;
	}
	overrides_.reset();
	routes_.clear();
	// The ports are stopped and hold no mbufs: the pool can go.
	rte_mempool_free(pool_);
	pool_ = nullptr;
	started_ = false;
}

std::string Router::stats_line() const
{
	std::string line;
	for (size_t i = 0; i < ports_.size(); i++) {
		const PortStats s = port_stats(i);
		line += fmt::format("{}{} rx {} tx {} drop {} mark {} q {}", line.empty() ? "" : " | ", ports_[i].cfg.name,
				    s.rx_pkts, s.tx_pkts, s.aqm_drops + s.overflow_drops, s.marked, queued_pkts(i));
	}
	return line;
}

std::string Router::summary() const
{
	std::string out = fmt::format("{:<10} {:>12} {:>12} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}\n", "port",
				      "rx", "tx", "marked", "aqm drop", "overflow", "malformed", "no route", "tx failed",
				      "queued");
	for (size_t i = 0; i < ports_.size(); i++) {
		const PortStats s = port_stats(i);
		out += fmt::format("{:<10} {:>12} {:>12} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}\n",
				   ports_[i].cfg.name, s.rx_pkts, s.tx_pkts, s.marked, s.aqm_drops, s.overflow_drops,
				   s.malformed(), s.no_route + s.ttl_expired,
				   s.tx_failed + s.mark_failed + s.handoff_drops + s.delay_drops, queued_pkts(i));
	}
	for (const Port &p : ports_) {
		if (!p.has_aqm)
			continue;
		out += fmt::format("{} egress: {}\n{}\n", p.cfg.name, aqm::describe(p.aqm[0]),
				   aqm::stats_text(p.aqm[0], now_ns()));
		for (int q = aqm::kQueueCount - 1; q >= 0; q--) {
			const aqm::DelayHistogram &h = p.sojourn[q];
			if (h.count() == 0)
				continue;
			out += fmt::format("{} {} queue sojourn: p50 {:.3f} ms p90 {:.3f} ms p99 {:.3f} ms max {:.3f} ms "
					   "({} packets)\n",
					   p.cfg.name, q == 1 ? "L4S" : "Classic", h.percentile_ns(0.5) / 1e6,
					   h.percentile_ns(0.9) / 1e6, h.percentile_ns(0.99) / 1e6, h.max_ns() / 1e6, h.count());
		}
	}
	return out;
}

} // namespace dualpilot::dataplane
