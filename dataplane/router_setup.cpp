// The router's start-up and shutdown: the mempool, the queues sized for
// their rates, the ports started, the work split over the workers, the
// rings between them. Nothing here runs on the fast path (router.cpp).
#include "dataplane/router.hpp"

#include <rte_bus.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mempool.h>

#include <fmt/format.h>

#include <cmath>

#include "aqm/units.hpp"
#include "dataplane/flow_hash.hpp"

namespace dualpilot::dataplane {

namespace {

constexpr uint16_t kRxDesc = 1024;
constexpr uint16_t kTxDesc = 1024;
constexpr uint32_t kDelayLineSlots = 65536; // 1 s at 8 Mbit/s of 60-byte frames; ~790 Mbit/s x 1 ms of 1514-byte ones
constexpr unsigned kHandoffRing = 4096;
// The shaper's bucket covers a poll this late without losing credit, and
// allows a tx burst of 32 full frames where that is at most 1 ms of the rate
// (Shaper::bucket_bytes).
constexpr uint64_t kShaperPollPeriodNs = 100000;
// While a queue stands, the shaper's clock may lag this far behind now, so a
// worker descheduled for a few ms (a core shared with other work) does not
// send below the configured rate (Shaper::catchup_ns).
constexpr uint64_t kShaperCatchupNs = 20000000;
constexpr uint64_t kShaperMaxFramesNs = 1000000;
constexpr uint32_t kShaperFrameBytes = 1514;
// limit = "auto": queues hold at least this many targets of delay at the
// port's rate in the smallest frames (64 bytes plus the port's overhead), and
// never fewer packets than the AQM's own default limit (tc's: DualPI2 10,000,
// PIE, CoDel and fifo 1,000), so a slow port's fifo is the tail-drop queue a
// user knows, not one of seconds.
constexpr uint64_t kAutoTargets = 4;
constexpr uint32_t kMinFrameBytes = 64;
constexpr uint64_t kDefaultTargetNs = 15000000; // for AQMs without a target (fifo): DualPI2's
constexpr uint64_t kUnknownLinkBps = 10000000000ull; // a link that does not say its speed

uint32_t pool_counter = 0;

// A port given by name: an existing ethdev of that name (a ring port made by
// the caller, an already probed device) or a device to probe now.
[[nodiscard]] std::string resolve_port(const std::string &device, uint16_t &port_id)
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
// device offers it, and a tx queue per egress queue (only its owner worker
// transmits on it), with MBUF_FAST_FREE where the device has it (one pool,
// no shared mbufs).
[[nodiscard]]
std::string start_port(uint16_t port_id, uint16_t rx_queues, uint16_t tx_queues, rte_mempool *pool,
		       std::vector<std::string> &warnings, const std::string &port_name)
{
	rte_eth_dev_info info{};
	int rc = rte_eth_dev_info_get(port_id, &info);
	if (rc != 0)
		return "device info: " + std::string(rte_strerror(-rc));
	if (rx_queues > info.max_rx_queues)
		return fmt::format("rx_queues = {} but the device has at most {}", rx_queues, info.max_rx_queues);
	if (tx_queues > info.max_tx_queues)
		return fmt::format("egress_queues = {} but the device has at most {} tx queues", tx_queues,
				   info.max_tx_queues);
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
	if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE)
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
	rc = rte_eth_dev_configure(port_id, rx_queues, tx_queues, &conf);
	if (rc != 0)
		return "configure: " + std::string(rte_strerror(-rc));
	uint16_t rxd = kRxDesc, txd = kTxDesc;
	rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &rxd, &txd);
	const int socket = rte_eth_dev_socket_id(port_id);
	for (uint16_t q = 0; q < rx_queues; q++)
		if ((rc = rte_eth_rx_queue_setup(port_id, q, rxd, socket, nullptr, pool)) != 0)
			return "rx queue " + std::to_string(q) + ": " + std::string(rte_strerror(-rc));
	rte_eth_txconf txconf = info.default_txconf;
	txconf.offloads = conf.txmode.offloads;
	for (uint16_t q = 0; q < tx_queues; q++)
		if ((rc = rte_eth_tx_queue_setup(port_id, q, txd, socket, &txconf)) != 0)
			return "tx queue " + std::to_string(q) + ": " + std::string(rte_strerror(-rc));
	if ((rc = rte_eth_dev_start(port_id)) != 0)
		return "start: " + std::string(rte_strerror(-rc));
	rte_eth_promiscuous_enable(port_id); // not every vdev has it; bump-in-the-wire needs it where it exists
	return {};
}

// The rate a port's queue is sized for: its shaper's, else its link's.
uint64_t sizing_rate_bps(const Port &p)
{
	if (p.cfg.rate_bps != 0)
		return p.cfg.rate_bps;
	rte_eth_link link{};
	if (rte_eth_link_get_nowait(p.port_id, &link) == 0 && link.link_speed != RTE_ETH_SPEED_NUM_NONE &&
	    link.link_speed != RTE_ETH_SPEED_NUM_UNKNOWN)
		return uint64_t{link.link_speed} * 1000000;
	return kUnknownLinkBps;
}

// Packets of the smallest frames a port sends in delay_ns at rate_bps.
uint64_t packets_in(uint64_t delay_ns, uint64_t rate_bps, uint32_t overhead_bytes)
{
	const double pps = static_cast<double>(rate_bps) / (8.0 * (kMinFrameBytes + overhead_bytes));
	return static_cast<uint64_t>(std::ceil(pps * static_cast<double>(delay_ns) / 1e9));
}

// aqm "none": no queue, straight through the shaper (Port::aqm stays empty).
bool runs_aqm(const PortConfig &pc) { return pc.aqm != "none"; }

bool limit_given(const PortConfig &pc)
{
	bool given = false;
	for (const aqm::Setting &s : pc.aqm_params)
		if (s.key == "limit")
			given = s.value != "auto"; // later settings win
	return given;
}

// The bytes one mbuf of the router's pool takes.
uint64_t mbuf_bytes()
{
	rte_mempool_objsz sz{};
	return rte_mempool_calc_obj_size(sizeof(rte_mbuf) + RTE_MBUF_DEFAULT_BUF_SIZE, 0, &sz);
}

// What each port's queues ask for, before the memory budget: the limit
// "auto" would give each (0 where the config gives one), the AQM's own
// default limit as its floor, and the target the limit is counted in; the
// totals count every egress queue.
struct QueueWants {
	std::vector<uint64_t> auto_limit;
	std::vector<uint64_t> floor_limit;
	std::vector<uint64_t> target_ns;
	uint64_t auto_total = 0;
	uint64_t floors = 0;
};

// The first pass of Router::size_queues: each AQM built once from its config
// to learn its target and default limit; sets each port's sizing rate and
// the limit it runs with unless "auto" changes it. Error text or empty.
[[nodiscard]] std::string want_queues(std::vector<Port> &ports, QueueWants &w)
{
	w.auto_limit.assign(ports.size(), 0);
	w.floor_limit.assign(ports.size(), 0);
	w.target_ns.assign(ports.size(), kDefaultTargetNs);
	for (size_t i = 0; i < ports.size(); i++) {
		Port &p = ports[i];
		if (!runs_aqm(p.cfg))
			continue;
		p.sizing_rate_bps = sizing_rate_bps(p);
		aqm::AqmOrError built = aqm::make_aqm(p.cfg.aqm, p.cfg.aqm_params, i + 1);
		if (!built.error.empty())
			return "port '" + p.cfg.name + "': " + built.error;
		std::visit(
			[&](const auto &q) {
				if constexpr (requires { q.params().target_ns; })
					w.target_ns[i] = q.params().target_ns;
				p.limit_pkts = q.params().limit_pkts;
			},
			*built.aqm);
		if (!limit_given(p.cfg)) {
			w.floor_limit[i] = p.limit_pkts;
			w.auto_limit[i] = std::max<uint64_t>(w.floor_limit[i], packets_in(kAutoTargets * w.target_ns[i],
											   p.sizing_rate_bps, effective_overhead_bytes(p.cfg)));
			w.auto_total += w.auto_limit[i] * p.queues; // each egress queue the port's limit
		}
	}
	for (size_t i = 0; i < ports.size(); i++)
		w.floors += w.floor_limit[i] * ports[i].queues;
	return {};
}

// An auto limit within the memory budget: every auto limit keeps its floor
// (the AQM's default limit) and what each wants past it is scaled down alike,
// so that a fast port's share never squeezes a slow port's queue below what
// it always had; a budget too small for the floors scales all alike.
uint64_t within_budget(const QueueWants &w, uint64_t budget_pkts, uint64_t want, uint64_t floor_pkts)
{
	if (w.auto_total <= budget_pkts)
		return want;
	if (budget_pkts < w.floors)
		return std::max<uint64_t>(1, want * budget_pkts / w.auto_total);
	const double share = static_cast<double>(budget_pkts - w.floors) / static_cast<double>(w.auto_total - w.floors);
	return floor_pkts + static_cast<uint64_t>(std::floor(static_cast<double>(want - floor_pkts) * share));
}

// The warning for a limit shorter than one target at the port's rate, or
// nothing.
std::optional<std::string> short_limit_warning(const Port &p, uint64_t target_ns, bool auto_limit)
{
	const uint64_t one_target = packets_in(target_ns, p.sizing_rate_bps, effective_overhead_bytes(p.cfg));
	if (p.limit_pkts >= one_target)
		return std::nullopt;
	return fmt::format("port '{}': limit {} packets is shorter than one target ({:.3g} ms) at {:.4g} Mbit/s of "
			   "{}-byte frames ({} packets): under load the queue overflows before the AQM acts{}",
			   p.cfg.name, p.limit_pkts, static_cast<double>(target_ns) / 1e6,
			   static_cast<double>(p.sizing_rate_bps) / 1e6, kMinFrameBytes, one_target,
			   auto_limit ? " (limit \"auto\" within queue_memory: raise [router] queue_memory)" : "");
}

// The mbufs the pool needs so that the AQM, never the pool, bounds a queue:
// each port its rx rings, each egress queue its limit, its tx ring, the tx
// buffer, the hand-off ring and the delay line, and a burst in hand per worker.
uint64_t mbufs_needed(const std::vector<Port> &ports, const std::vector<EgressQueue> &queues, uint32_t burst,
		      size_t workers)
{
	uint64_t needed = 0;
	for (const Port &p : ports)
		needed += uint64_t{kRxDesc} * p.cfg.rx_queues;
	for (const EgressQueue &q : queues) {
		const Port &p = ports[q.port];
		needed += kTxDesc + TxBuffer::kSlots + (q.handoff ? kHandoffRing : 0);
		if (q.aqm)
			needed += p.limit_pkts;
		// The delay line holds delay x rate of frames (counted as 60-byte
		// frames, the worst case), or its whole ring on an unshaped port.
		if (q.delay.enabled())
			needed += p.cfg.rate_bps
					  ? std::min<uint64_t>(kDelayLineSlots, p.cfg.rate_bps * p.cfg.delay_ns / 8000000000ull / 60 + 64)
					  : kDelayLineSlots;
	}
	needed += uint64_t{burst} * workers * 2; // a burst in hand per worker, rx and dequeue
	return needed;
}

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
	overridden += o.overridden;
	for (size_t a = 0; a < verdict_changes.size(); a++)
		for (size_t t = 0; t < verdict_changes[a].size(); t++)
			verdict_changes[a][t] += o.verdict_changes[a][t];
	mark_failed += o.mark_failed;
	handoff_drops += o.handoff_drops;
	delay_drops += o.delay_drops;
	bypassed_pkts += o.bypassed_pkts;
	samples += o.samples;
	sample_drops += o.sample_drops;
	return *this;
}

Router::~Router() { shutdown(); }

std::string Router::init(const RouterConfig &cfg, const std::vector<unsigned> &worker_lcores)
{
	cfg_ = cfg;
	// A router may be initialised again after shutdown(): nothing carries over.
	ports_.clear();
	queues_.clear();
	workers_.clear();
	route_egress_.clear();
	warnings_.clear();
	if (cfg.burst > aqm::kMaxBurst)
		return "burst above " + std::to_string(aqm::kMaxBurst);
	ns_per_tsc_ = 1e9 / static_cast<double>(rte_get_tsc_hz());
	pool_name_ = "dualpilot_" + std::to_string(pool_counter++);
	started_ = true; // from here on shutdown() undoes what was done
	if (std::string err = init_ports(); !err.empty())
		return err;
	init_queues();
	assign_work(worker_lcores);
	if (workers_.size() > 1) {
		for (size_t i = 0; i < queues_.size(); i++) {
			EgressQueue &q = queues_[i];
			const std::string name = fmt::format("dp_handoff_{}_{}", pool_name_, i);
			q.handoff = rte_ring_create_elem(name.c_str(), sizeof(HandoffDesc), kHandoffRing,
							 static_cast<int>(rte_socket_id()), RING_F_SC_DEQ);
			if (!q.handoff)
				return "cannot create a hand-off ring: " + std::string(rte_strerror(rte_errno));
		}
	}
	if (std::string err = size_queues(); !err.empty())
		return err;
	if (std::string err = start_ports(); !err.empty())
		return err;
	if (cfg.mode == RouterMode::l3) {
		if (std::string err = routes_.build(cfg.routes, static_cast<int>(rte_socket_id())); !err.empty())
			return err;
		for (const RouteConfig &r : cfg.routes)
			for (size_t j = 0; j < ports_.size(); j++)
				if (ports_[j].cfg.name == r.port)
					route_egress_.push_back(static_cast<uint16_t>(j));
	}
	if (cfg.policy.sampling()) {
		for (size_t i = 0; i < workers_.size(); i++) {
			Worker &w = workers_[i];
			if (std::string err = w.sampler.create(fmt::format("dp_samples_{}_{}", pool_name_, i),
							       cfg.policy.ring_size, ports_.size(), cfg.policy.inference_interval,
							       static_cast<int>(rte_socket_id()));
			    !err.empty())
				return err;
			w.rng = aqm::Rng(0x9e3779b97f4a7c15ull * (i + 1));
		}
	}
	// Shadow mode too: /dualpilot/policy/set may switch it to enforce.
	if (cfg.policy.mode != PolicyMode::off && cfg.policy.action == policy::PilotAction::verdict)
		overrides_ = std::make_unique<OverrideSlot[]>(ports_.size() * aqm::kQueueCount);
	if (cfg.policy.tuning())
		return init_tuning();
	return {};
}

// Finds the ports (probing vdevs) and checks them; the egress queues are
// made next (init_queues), their AQMs built once their limits are known
// (size_queues), the ports started after the pool.
std::string Router::init_ports()
{
	ports_.resize(cfg_.ports.size());
	uint16_t first_queue = 0;
	for (size_t i = 0; i < cfg_.ports.size(); i++) {
		Port &p = ports_[i];
		p.cfg = cfg_.ports[i];
		// The config's bounds, for a config not read from a file.
		if (p.cfg.egress_queues < 1 || p.cfg.egress_queues > kMaxEgressQueuesPerPort ||
		    first_queue + p.cfg.egress_queues > kMaxEgressQueues)
			return fmt::format("port '{}': egress_queues = {}: 1 to {} a port, {} over all ports", p.cfg.name,
					   p.cfg.egress_queues, kMaxEgressQueuesPerPort, kMaxEgressQueues);
		p.first_queue = first_queue;
		p.queues = p.cfg.egress_queues;
		p.queue_mod_m = queue_mod_m(p.queues);
		first_queue = static_cast<uint16_t>(first_queue + p.queues);
		if (std::string err = resolve_port(p.cfg.device, p.port_id); !err.empty())
			return "port '" + p.cfg.name + "': " + err;
		for (size_t j = 0; j < i; j++)
			if (ports_[j].port_id == p.port_id)
				return "port '" + p.cfg.name + "': device already used by port '" + ports_[j].cfg.name + "'";
		rte_ether_addr mac{};
		rte_eth_macaddr_get(p.port_id, &mac);
		std::copy(std::begin(mac.addr_bytes), std::end(mac.addr_bytes), p.mac.begin());
		if (!runs_aqm(p.cfg) && p.cfg.rate_bps != 0)
			return "port '" + p.cfg.name + "': aqm \"none\" has no queue to shape; use rate = \"line\"";
	}
	for (Port &p : ports_)
		for (size_t j = 0; j < ports_.size(); j++)
			if (ports_[j].cfg.name == p.cfg.peer)
				p.egress = static_cast<uint16_t>(j);
	return {};
}

// Each port's egress queues, port by port: a shaper each, sharing the
// port's clock where the port is shaped and has several queues (one bucket
// for the port's rate), and the delay line.
void Router::init_queues()
{
	queues_.resize(ports_.empty() ? 0 : ports_.back().first_queue + ports_.back().queues);
	clocks_ = std::make_unique<SharedClock[]>(ports_.size());
	for (size_t i = 0; i < ports_.size(); i++) {
		const Port &p = ports_[i];
		const uint32_t overhead = effective_overhead_bytes(p.cfg);
		const uint64_t bucket = Shaper::bucket_bytes(p.cfg.rate_bps, p.cfg.burst_bytes, kShaperPollPeriodNs,
							     kShaperFrameBytes + overhead, kShaperMaxFramesNs);
		for (uint16_t t = 0; t < p.queues; t++) {
			EgressQueue &q = queues_[p.first_queue + t];
			q.port = static_cast<uint16_t>(i);
			q.port_id = p.port_id;
			q.tx_queue = t;
			q.shaper = Shaper::make(p.cfg.rate_bps, bucket, overhead);
			q.shaper.catchup_ns = kShaperCatchupNs;
			if (p.queues > 1 && p.cfg.rate_bps != 0)
				q.shaper.shared = &clocks_[i];
			if (p.cfg.delay_ns)
				q.delay.init(p.cfg.delay_ns, kDelayLineSlots);
		}
	}
}

// Queue sizing (docs/router.md): each AQM's limit, where the config
// leaves it "auto", holds kAutoTargets targets of delay at the port's rate in
// the smallest frames, the auto limits together within queue_memory; a limit
// shorter than one target is a warning naming the port. Then the pool: what
// the config says, or ("auto") every queue's limit plus the descriptors and
// rings that can hold mbufs, so that the AQM, never the pool, bounds a queue.
std::string Router::size_queues()
{
	QueueWants wants;
	if (std::string err = want_queues(ports_, wants); !err.empty())
		return err;
	const uint64_t per_mbuf = mbuf_bytes();
	const uint64_t budget_pkts = cfg_.queue_memory_bytes / per_mbuf;
	for (size_t i = 0; i < ports_.size(); i++) {
		Port &p = ports_[i];
		if (!runs_aqm(p.cfg))
			continue;
		std::vector<aqm::Setting> settings = p.cfg.aqm_params;
		if (wants.auto_limit[i] != 0) {
			const uint64_t sized = within_budget(wants, budget_pkts, wants.auto_limit[i], wants.floor_limit[i]);
			p.limit_pkts = static_cast<uint32_t>(std::min<uint64_t>(sized, UINT32_MAX));
			settings.push_back({"limit", std::to_string(p.limit_pkts)});
		}
		// Each egress queue its own AQM; queue 0 with the seed a port of one
		// queue has always had (the port's index + 1, or the seed the config
		// names), queue t that seed + t: a port's queues never roll in lockstep.
		uint64_t given = 0;
		bool seeded = false;
		for (const aqm::Setting &s : settings)
			if (s.key == "seed" && aqm::parse_u64(s.value, given).empty())
				seeded = true;
		for (uint16_t t = 0; t < p.queues; t++) {
			std::vector<aqm::Setting> mine = settings;
			if (seeded && t > 0)
				mine.push_back({"seed", std::to_string(given + t)});
			aqm::AqmOrError built = aqm::make_aqm(p.cfg.aqm, mine, aqm_seed(i, t));
			if (!built.error.empty())
				return "port '" + p.cfg.name + "': " + built.error;
			queues_[p.first_queue + t].aqm = std::move(built.aqm);
		}
		if (std::optional<std::string> w = short_limit_warning(p, wants.target_ns[i], wants.auto_limit[i] != 0))
			warnings_.push_back(std::move(*w));
	}
	const uint64_t needed = mbufs_needed(ports_, queues_, cfg_.burst, workers_.size());
	const uint64_t mbufs = cfg_.mbufs != 0 ? cfg_.mbufs : needed;
	if (cfg_.mbufs != 0 && needed > cfg_.mbufs)
		warnings_.push_back(fmt::format("mbufs = {} is below the {} the queues and rings can hold: under "
						"load the pool, not the AQM, will bound the queues (raise [router] mbufs, "
						"or leave it \"auto\")",
						cfg_.mbufs, needed));
	pool_ = rte_pktmbuf_pool_create(pool_name_.c_str(), static_cast<unsigned>(mbufs), 256, 0,
					RTE_MBUF_DEFAULT_BUF_SIZE, static_cast<int>(rte_socket_id()));
	if (!pool_)
		return fmt::format("cannot create a pool of {} mbufs ({} MB): {} (more EAL memory: -m, hugepages; or a "
				   "smaller [router] queue_memory)",
				   mbufs, mbufs * per_mbuf >> 20, rte_strerror(rte_errno));
	return {};
}

std::string Router::start_ports()
{
	for (Port &p : ports_)
		if (std::string err = start_port(p.port_id, p.cfg.rx_queues, p.queues, pool_, warnings_, p.cfg.name);
		    !err.empty())
			return "port '" + p.cfg.name + "' (" + p.cfg.device + "): " + err;
	return {};
}

// Egress queues go to the workers round-robin, port by port (with one
// queue a port, port i to worker i % n; a port's queues to as many different
// workers as there are). A port's first rx queue goes to the worker that
// owns its l2 peer's first egress queue (so an l2 pair with one rx queue and
// one egress queue per port needs no hand-off), its further queues (RSS) to
// the next workers.
void Router::assign_work(const std::vector<unsigned> &worker_lcores)
{
	const size_t n = worker_lcores.empty() ? 1 : worker_lcores.size();
	workers_.assign(n, Worker{});
	for (size_t w = 0; w < n; w++) {
		workers_[w].lcore = worker_lcores.empty() ? rte_lcore_id() : worker_lcores[w];
		workers_[w].stats.assign(queues_.size(), PortStats{});
	}
	for (size_t i = 0; i < queues_.size(); i++) {
		queues_[i].owner = static_cast<uint16_t>(i % n);
		workers_[i % n].egress.push_back(static_cast<uint16_t>(i));
	}
	for (size_t i = 0; i < ports_.size(); i++)
		for (uint16_t q = 0; q < ports_[i].cfg.rx_queues; q++)
			workers_[(queue(ports_[i].egress).owner + q) % n].rx.push_back(RxQueue{static_cast<uint16_t>(i), q});
}

uint64_t Router::now_ns() const { return static_cast<uint64_t>(static_cast<double>(rte_rdtsc()) * ns_per_tsc_); }

void Router::shutdown()
{
	if (!started_)
		return;
	const uint64_t now = now_ns();
	for (EgressQueue &q : queues_) {
		if (q.aqm) {
			aqm::Dequeued d;
			while (aqm::dequeue(*q.aqm, now, d))
				rte_pktmbuf_free(reinterpret_cast<rte_mbuf *>(d.pkt.handle));
		}
		if (q.handoff) {
			HandoffDesc h;
			while (rte_ring_dequeue_elem(q.handoff, &h, sizeof(h)) == 0)
				rte_pktmbuf_free(h.m);
			rte_ring_free(q.handoff);
			q.handoff = nullptr;
		}
		while (q.tx.count() > 0)
			rte_pktmbuf_free(q.tx.pkts[q.tx.head++ & (TxBuffer::kSlots - 1)]);
		void *held[64];
		while (const uint32_t n = q.delay.pop_all(held, 64))
			rte_pktmbuf_free_bulk(reinterpret_cast<rte_mbuf **>(held), n);
	}
	for (Port &p : ports_)
		if (pool_)
			rte_eth_dev_stop(p.port_id);
	for (Worker &w : workers_) {
		w.sampler.free();
		rte_ring_free(w.tune_steps); // what it holds is plain data
		w.tune_steps = nullptr;
	}
	overrides_.reset();
	tune_.reset();
	tune_slots_.reset();
	routes_.clear();
	// The ports are stopped and hold no mbufs: the pool can go.
	rte_mempool_free(pool_);
	pool_ = nullptr;
	started_ = false;
}

} // namespace dualpilot::dataplane
