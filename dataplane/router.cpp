#include "dataplane/router.hpp"

#include <rte_bus.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mempool.h>

#include <fmt/format.h>

#include "dataplane/ecn_mark.hpp"

namespace dualpilot::dataplane {

namespace {

constexpr uint16_t kRxDesc = 1024;
constexpr uint16_t kTxDesc = 1024;
constexpr uint32_t kMaxBurst = 512;
constexpr uint32_t kTxPendingMax = 4 * kMaxBurst;

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

std::string start_port(uint16_t port_id, uint16_t rx_queues, rte_mempool *pool)
{
	rte_eth_conf conf{};
	int rc = rte_eth_dev_configure(port_id, rx_queues, 1, &conf);
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

// The frame facts the marker needs, kept in the mbuf between rx and tx.
void stash(rte_mbuf *m, const FrameInfo &info)
{
	m->l2_len = info.l3_offset;
	m->packet_type = info.kind == FrameKind::ipv4 ? RTE_PTYPE_L3_IPV4
			 : info.kind == FrameKind::ipv6 ? RTE_PTYPE_L3_IPV6
							: RTE_PTYPE_UNKNOWN;
}

FrameInfo unstash(const rte_mbuf *m)
{
	FrameInfo info{};
	info.l3_offset = static_cast<uint16_t>(m->l2_len);
	info.kind = m->packet_type == RTE_PTYPE_L3_IPV4   ? FrameKind::ipv4
		    : m->packet_type == RTE_PTYPE_L3_IPV6 ? FrameKind::ipv6
							  : FrameKind::non_ip;
	return info;
}

uint32_t pool_counter = 0;

} // namespace

std::string Router::init(const RouterConfig &cfg)
{
	cfg_ = cfg;
	if (cfg.mode == RouterMode::l3)
		return "l3 mode is not supported by this build yet: use mode = \"l2-pair\"";
	if (cfg.burst > kMaxBurst)
		return "burst above " + std::to_string(kMaxBurst);
	ns_per_tsc_ = 1e9 / static_cast<double>(rte_get_tsc_hz());
	const std::string pool_name = "dualpilot_" + std::to_string(pool_counter++);
	pool_ = rte_pktmbuf_pool_create(pool_name.c_str(), cfg.mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					static_cast<int>(rte_socket_id()));
	if (!pool_)
		return "cannot create a pool of " + std::to_string(cfg.mbufs) + " mbufs: " +
		       std::string(rte_strerror(rte_errno)) + " (more EAL memory: -m)";
	ports_.resize(cfg.ports.size());
	for (size_t i = 0; i < cfg.ports.size(); i++) {
		Port &p = ports_[i];
		p.cfg = cfg.ports[i];
		if (std::string err = resolve_port(p.cfg.device, p.port_id); !err.empty())
			return "port '" + p.cfg.name + "': " + err;
		for (size_t j = 0; j < i; j++)
			if (ports_[j].port_id == p.port_id)
				return "port '" + p.cfg.name + "': device already used by port '" + ports_[j].cfg.name + "'";
		if (std::string err = start_port(p.port_id, p.cfg.rx_queues, pool_); !err.empty())
			return "port '" + p.cfg.name + "' (" + p.cfg.device + "): " + err;
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
	}
	for (Port &p : ports_)
		for (size_t j = 0; j < ports_.size(); j++)
			if (ports_[j].cfg.name == p.cfg.peer)
				p.egress = static_cast<uint16_t>(j);
	// Each queue can hold its limit in mbufs, each port its rx and tx rings.
	uint64_t needed = 0;
	for (const Port &p : ports_) {
		needed += kRxDesc * p.cfg.rx_queues + kTxDesc + kTxPendingMax;
		if (p.has_aqm)
			needed += std::visit([](const auto &q) -> uint64_t { return q.params().limit_pkts; }, p.aqm[0]);
	}
	if (needed > cfg.mbufs)
		warnings_.push_back(fmt::format("mbufs = {} is below the {} the queues and rings can hold: under "
						"load the pool, not the AQM, will bound the queues (raise [router] mbufs)",
						cfg.mbufs, needed));
	started_ = true;
	return {};
}

uint64_t Router::now_ns() const { return static_cast<uint64_t>(static_cast<double>(rte_rdtsc()) * ns_per_tsc_); }

// rx -> parse -> classify -> enqueue into the egress AQM. Malformed frames
// are counted by kind and freed here.
uint16_t Router::rx_port(Port &in, uint64_t now_ns)
{
	rte_mbuf *pkts[kMaxBurst];
	const uint16_t n = rte_eth_rx_burst(in.port_id, 0, pkts, static_cast<uint16_t>(cfg_.burst));
	if (n == 0)
		return 0;
	Port &out = ports_[in.egress];
	aqm::Packet queued[kMaxBurst];
	uint32_t nq = 0;
	for (uint16_t i = 0; i < n; i++) {
		rte_mbuf *m = pkts[i];
		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		const FrameInfo info = parse_frame(rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m));
		in.stats.rx_pkts++;
		in.stats.rx_bytes += rte_pktmbuf_pkt_len(m);
		in.stats.rx_kind[static_cast<int>(info.kind)]++;
		if (is_malformed(info.kind)) {
			rte_pktmbuf_free(m);
			continue;
		}
		stash(m, info);
		if (!out.has_aqm) {
			if (out.tx_pending.size() < kTxPendingMax) {
				out.tx_pending.push_back(m);
			} else {
				out.stats.tx_failed++;
				rte_pktmbuf_free(m);
			}
			continue;
		}
		queued[nq++] = aqm::Packet{now_ns, reinterpret_cast<uint64_t>(m), rte_pktmbuf_pkt_len(m), info.ecn, 0};
	}
	if (nq == 0)
		return n;
	// One dispatch on the AQM type per burst, none per packet.
	std::visit(
		[&](auto &q) {
			for (uint32_t i = 0; i < nq; i++) {
				const aqm::EnqueueResult r = q.enqueue(queued[i]);
				if (r == aqm::EnqueueResult::accepted)
					continue;
				(r == aqm::EnqueueResult::dropped_overflow ? out.stats.overflow_drops : out.stats.aqm_drops)++;
				rte_pktmbuf_free(reinterpret_cast<rte_mbuf *>(queued[i].handle));
			}
		},
		out.aqm[0]);
	return n;
}

// Dequeue while the shaper allows -> CE mark -> tx. What the NIC refuses
// stays pending (up to a bound) and goes first next time.
uint16_t Router::tx_port(Port &out, uint64_t now_ns)
{
	if (out.has_aqm) {
		std::visit(
			[&](auto &q) {
				aqm::Dequeued d;
				uint32_t taken = 0;
				while (taken < cfg_.burst && out.tx_pending.size() < kTxPendingMax &&
				       out.shaper.may_send(now_ns) && q.dequeue(now_ns, d)) {
					rte_mbuf *m = reinterpret_cast<rte_mbuf *>(d.pkt.handle);
					taken++;
					if (d.verdict == aqm::Verdict::drop) {
						out.stats.aqm_drops++;
						rte_pktmbuf_free(m);
						continue;
					}
					if (d.verdict == aqm::Verdict::forward_ce) {
						if (!set_ce(rte_pktmbuf_mtod(m, uint8_t *), unstash(m))) {
							out.stats.mark_failed++;
							rte_pktmbuf_free(m);
							continue;
						}
						out.stats.marked++;
					}
					out.sojourn[static_cast<int>(d.queue)].add(d.sojourn_ns);
					out.shaper.charge(now_ns, d.pkt.len_bytes);
					out.tx_pending.push_back(m);
				}
			},
			out.aqm[0]);
	}
	if (out.tx_pending.empty())
		return 0;
	const auto want = static_cast<uint16_t>(std::min<size_t>(out.tx_pending.size(), UINT16_MAX));
	const uint16_t sent = rte_eth_tx_burst(out.port_id, 0, out.tx_pending.data(), want);
	for (uint16_t i = 0; i < sent; i++)
		out.stats.tx_bytes += rte_pktmbuf_pkt_len(out.tx_pending[i]);
	out.stats.tx_pkts += sent;
	out.tx_pending.erase(out.tx_pending.begin(), out.tx_pending.begin() + sent);
	return sent;
}

uint32_t Router::poll(uint64_t now_ns)
{
	uint32_t moved = 0;
	for (Port &p : ports_)
		moved += rx_port(p, now_ns);
	for (Port &p : ports_)
		moved += tx_port(p, now_ns);
	return moved;
}

void Router::run(const std::atomic<bool> &stop, uint64_t drain_ns)
{
	const uint64_t interval = cfg_.stats_interval_ns;
	uint64_t next_stats = now_ns() + interval;
	while (!stop.load(std::memory_order_relaxed)) {
		const uint64_t now = now_ns();
		poll(now);
		if (interval != 0 && now >= next_stats) {
			std::fputs((stats_line() + "\n").c_str(), stdout);
			std::fflush(stdout);
			next_stats = now + interval;
		}
	}
	// Stop taking packets in; let the queues drain through the shapers for a
	// while. What is left is counted (and freed) by shutdown().
	const uint64_t deadline = now_ns() + drain_ns;
	while (queued_pkts() > 0 && now_ns() < deadline)
		for (Port &p : ports_)
			tx_port(p, now_ns());
}

uint64_t Router::queued_pkts() const
{
	uint64_t n = 0;
	for (const Port &p : ports_) {
		n += p.tx_pending.size();
		if (p.has_aqm)
			n += aqm::backlog_pkts(p.aqm[0]);
	}
	return n;
}

void Router::shutdown()
{
	if (!started_) {
		rte_mempool_free(pool_); // init failed half way
		pool_ = nullptr;
		return;
	}
	const uint64_t now = now_ns();
	for (Port &p : ports_) {
		if (p.has_aqm) {
			aqm::Dequeued d;
			while (aqm::dequeue(p.aqm[0], now, d))
				rte_pktmbuf_free(reinterpret_cast<rte_mbuf *>(d.pkt.handle));
		}
		for (rte_mbuf *m : p.tx_pending)
			rte_pktmbuf_free(m);
		p.tx_pending.clear();
		rte_eth_dev_stop(p.port_id);
	}
	// The ports are stopped and hold no mbufs: the pool can go.
	rte_mempool_free(pool_);
	pool_ = nullptr;
	started_ = false;
}

std::string Router::stats_line() const
{
	std::string line;
	for (const Port &p : ports_)
		line += fmt::format("{}{} rx {} tx {} drop {} mark {} q {}", line.empty() ? "" : " | ", p.cfg.name,
				    p.stats.rx_pkts, p.stats.tx_pkts, p.stats.aqm_drops + p.stats.overflow_drops,
				    p.stats.marked, p.has_aqm ? aqm::backlog_pkts(p.aqm[0]) : p.tx_pending.size());
	return line;
}

std::string Router::summary() const
{
	std::string out = fmt::format("{:<10} {:>12} {:>12} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}\n", "port", "rx",
				      "tx", "marked", "aqm drop", "overflow", "malformed", "tx failed", "queued");
	for (const Port &p : ports_)
		out += fmt::format("{:<10} {:>12} {:>12} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}\n", p.cfg.name,
				   p.stats.rx_pkts, p.stats.tx_pkts, p.stats.marked, p.stats.aqm_drops,
				   p.stats.overflow_drops, p.stats.malformed(), p.stats.tx_failed + p.stats.mark_failed,
				   (p.has_aqm ? aqm::backlog_pkts(p.aqm[0]) : 0) + p.tx_pending.size());
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
