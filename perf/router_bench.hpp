// What bench-router and bench-policy share: a router on two fresh net_null
// ports whose frames are valid 64-byte IPv4/UDP packets, polled on the
// calling lcore for a while, its forwarding rate measured.
#pragma once

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mempool.h>

#include <rte_launch.h>

#include <atomic>
#include <cstring>
#include <fmt/core.h>
#include <vector>
#include <functional>
#include <string>
#include <unistd.h>

#include "common/eal_args.hpp"
#include "dataplane/config.hpp"
#include "dataplane/router.hpp"

namespace dualpilot::bench {

// EAL for a benchmark: no PCI, its own file prefix (so it runs beside a
// router or testpmd), and either --no-huge with `memory_mb` of 4 kB pages or
// hugepages as needed (reserved beforehand: echo N > /proc/sys/vm/nr_hugepages,
// hugetlbfs mounted).
// lcores: an EAL --lcores map (the first is the main lcore), or empty for
// one lcore on `core`. Error text or empty.
inline std::string init_eal(const char *program, unsigned core, bool huge, unsigned memory_mb = 1024,
			    const std::string &lcores = {})
{
	const std::string core_arg = lcores.empty() ? std::to_string(core) : lcores;
	const std::string prefix = common::eal_private_files_arg(fmt::format("dp_{}_{}", program, getpid()));
	const std::string mem = std::to_string(memory_mb);
	std::vector<const char *> eal = {program, lcores.empty() ? "-l" : "--lcores", core_arg.c_str(), "--no-pci",
					 "--log-level=lib.eal:error", "--no-telemetry", prefix.c_str()};
	if (!huge) {
		eal.push_back("--no-huge");
		eal.push_back("-m");
		eal.push_back(mem.c_str());
	} // hugepages: taken as needed and given back, so a child testpmd finds its own

	if (rte_eal_init(static_cast<int>(eal.size()), const_cast<char **>(eal.data())) < 0)
		return fmt::format("EAL initialisation failed ({})", rte_strerror(rte_errno));
	return {};
}

inline std::string init_eal(const char *program, unsigned core) { return init_eal(program, core, false); }

struct RouterRate {
	double mpps = 0;        // forwarded, both directions
	double rx_mpps = 0;
	double cycles_per_pkt = 0;   // the worker cores' TSC cycles per packet forwarded
	double cycles_per_rx = 0;    // ... per packet received (forwarded or dropped)
	double classic_p50_ms = 0;   // the Classic queue's sojourn p50 over the measured time
	double classic_p99_ms = 0;
	double l4s_p50_ms = 0;       // ... and the L4S queue's
	double l4s_p99_ms = 0;
	double aqm_drop_share = 0;   // of the packets received, the share the AQMs dropped
	double overflow_share = 0;   // ... and the share their limits refused
	double bypass_share = 0;     // of the packets forwarded, the share the empty-queue bypass took
	std::vector<std::string> warnings; // the router's start-up warnings
};

// One case of a router benchmark: both ports' aqm and rate, extra config
// appended, the measuring and warm-up times, and the worker lcores (empty:
// the calling lcore polls the one worker; else each worker runs on its
// lcore and the caller sleeps).
struct RouterCase {
	std::string aqm = "dualpi2";
	std::string rate = "line";
	std::string extra;       // appended to the config (tables of its own)
	std::string router_keys; // more keys of the [router] table
	std::string port_tables; // sub-tables of each port (e.g. "[ports.dualpi2]\ntarget = \"1ms\"")
	// Each port's frames strictly half ECT(1), half Not-ECT (see
	// alternate_ecn): on in every row, so that every row pays for the same
	// rx callback.
	bool alternate_ecn = true;
	double seconds = 3;
	double warmup_s = 0.5;
	std::vector<unsigned> worker_lcores;
	// Rx queues a port: with two workers and 2, each port's second queue is
	// polled by the worker that does not own its egress, so half the frames
	// cross to the owner over its hand-off ring (as RSS spreads them).
	unsigned rx_queues = 1;
	// Port b's egress queues, and whether b receives nothing (net_null's
	// no-rx: a's frames to b's egress the only load, for the rows of one
	// port's egress over several workers).
	unsigned b_egress_queues = 1;
	bool b_no_rx = false;
	// Port a's frames carry the RSS hash a NIC's RSS would have given the
	// rx queue they arrived on (stamp_rss): net_null has no RSS.
	bool stamp_rss = false;
};

// 64-byte IPv4/UDP frames, half of them ECT(1) and half Not-ECT, written
// once into every mbuf of the pool: net_null hands out pool mbufs without
// touching their data, so every frame the router receives is one of these.
inline void fill_frame(rte_mempool *, void *, void *obj, unsigned index)
{
	auto *m = static_cast<rte_mbuf *>(obj);
	uint8_t *f = static_cast<uint8_t *>(m->buf_addr) + RTE_PKTMBUF_HEADROOM;
	std::memset(f, 0, 64);
	std::memset(f, 0x02, 12);
	f[12] = 0x08;
	f[14] = 0x45;
	f[15] = (index & 1) ? 0x01 : 0x00;
	f[17] = 46; // total length 46: 20 IP + 8 UDP + 18 payload
	f[22] = 64;
	f[23] = 17;
	f[26] = 10, f[29] = 1, f[30] = 10, f[33] = 2;
	f[34] = static_cast<uint8_t>(index >> 8); // UDP source port: the mbuf's flow, for the egress queues' hash
	f[35] = static_cast<uint8_t>(index);
	uint32_t sum = 0;
	for (int i = 14; i < 34; i += 2)
		sum += static_cast<uint32_t>(f[i] << 8 | f[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	f[24] = static_cast<uint8_t>(~sum >> 8);
	f[25] = static_cast<uint8_t>(~sum);
}

// An rx callback that makes each port's frames alternate ECT(1) / Not-ECT,
// packet by packet. fill_frame gives every second mbuf of the pool ECT(1),
// but which mbufs a port's rx gets back from the pool depends on what the
// queues dropped and forwarded: with a standing queue the mix per port
// drifts (one port of a run saw 91 % ECT(1), its p' pinned at the overload
// threshold). Rewrites the TOS byte, and the IPv4 header checksum, only
// where the frame has the other codepoint. next: the port's counter.
inline uint16_t alternate_ecn(uint16_t, uint16_t, rte_mbuf *pkts[], uint16_t n, uint16_t, void *next)
{
	auto &count = *static_cast<uint32_t *>(next);
	for (uint16_t i = 0; i < n; i++) {
		uint8_t *f = rte_pktmbuf_mtod(pkts[i], uint8_t *);
		const auto want = static_cast<uint8_t>(count++ & 1); // ECT(1) = 01, Not-ECT = 00
		if ((f[15] & 3) == want)
			continue;
		f[15] = static_cast<uint8_t>((f[15] & ~3) | want);
		f[24] = f[25] = 0;
		uint32_t sum = 0;
		for (int b = 14; b < 34; b += 2)
			sum += static_cast<uint32_t>(f[b] << 8 | f[b + 1]);
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		f[24] = static_cast<uint8_t>(~sum >> 8);
		f[25] = static_cast<uint8_t>(~sum);
	}
	return n;
}

// An rx callback that does what net_null cannot, a NIC's RSS: each frame
// gets an RSS hash whose low bits name the rx queue it arrived on (as the
// default redirection table of a device with a power of two of rx queues
// would have delivered it), and the RSS flag. The high bits count on: the
// frames of net_null are no flows (any mbuf of the pool, on either queue),
// so there is no order to keep, and the callback costs a store or two, as a
// NIC's RSS costs the worker nothing. arg: the queue's number, rx_queues - 1
// in the high half.
inline uint16_t stamp_rss(uint16_t, uint16_t, rte_mbuf *pkts[], uint16_t n, uint16_t, void *arg)
{
	const auto queue_and_mask = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(arg));
	const uint32_t queue = queue_and_mask & 0xffff, mask = queue_and_mask >> 16;
	static thread_local uint32_t count = 0;
	for (uint16_t i = 0; i < n; i++) {
		pkts[i]->hash.rss = (count++ << 8 & ~mask) | queue;
		pkts[i]->ol_flags |= RTE_MBUF_F_RX_RSS_HASH;
	}
	return n;
}

// The RSS stamps on port a's rx queues (stamp_rss). Error text or empty.
struct RssStamps {
	const rte_eth_rxtx_callback *cb[2] = {};
	uint16_t port_id = 0;

	std::string add(dataplane::Router &router, unsigned rx_queues)
	{
		port_id = router.ports()[0].port_id;
		for (unsigned q = 0; q < rx_queues && q < 2; q++) {
			const uintptr_t arg = q | (rx_queues - 1) << 16;
			if (!(cb[q] = rte_eth_add_rx_callback(port_id, static_cast<uint16_t>(q), stamp_rss,
							       reinterpret_cast<void *>(arg))))
				return "cannot add the RSS rx callback (DPDK built without RTE_ETHDEV_RXTX_CALLBACKS?)";
		}
		return {};
	}
	void remove()
	{
		for (uint16_t q = 0; q < 2; q++)
			if (cb[q] && rte_eth_remove_rx_callback(port_id, q, cb[q]) == 0)
				rte_free(const_cast<rte_eth_rxtx_callback *>(cb[q]));
	}
};

struct WorkerRun {
	dataplane::Router *router;
	dataplane::Worker *worker;
	const std::atomic<bool> *stop;
};

inline int bench_worker_main(void *arg)
{
	auto *run = static_cast<WorkerRun *>(arg);
	while (!run->stop->load(std::memory_order_relaxed))
		run->router->poll_worker(*run->worker, run->router->now_ns());
	return 0;
}

// Polls the router for `seconds`: on this lcore with one worker and no
// lcores given, else on the workers' lcores while this thread sleeps.
// Returns the TSC cycles it took (on each polling core).
inline uint64_t poll_for(dataplane::Router &router, double seconds, bool on_lcores)
{
	const uint64_t hz = rte_get_tsc_hz();
	const uint64_t start = rte_rdtsc();
	const uint64_t end = start + static_cast<uint64_t>(seconds * static_cast<double>(hz));
	if (!on_lcores) {
		dataplane::Worker &w = router.worker(0);
		uint64_t now = start;
		while (now < end) {
			router.poll_worker(w, router.now_ns());
			now = rte_rdtsc();
		}
		return now - start;
	}
	std::atomic<bool> stop{false};
	std::vector<WorkerRun> runs;
	for (dataplane::Worker &w : router.workers())
		runs.push_back(WorkerRun{&router, &w, &stop});
	for (size_t i = 0; i < runs.size(); i++)
		rte_eal_remote_launch(bench_worker_main, &runs[i], router.workers()[i].lcore);
	// The main lcore keeps out of the workers' way: it sleeps until the end.
	while (rte_rdtsc() < end)
		rte_delay_us_sleep(1000);
	stop.store(true);
	const uint64_t took = rte_rdtsc() - start;
	for (const dataplane::Worker &w : router.workers())
		rte_eal_wait_lcore(w.lcore);
	return took;
}

// The config of a case: an l2 pair of net_null ports, each run's pair
// named afresh (a vdev name is taken until the process ends).
inline std::string case_config(const RouterCase &c)
{
	static int n = 0;
	const std::string toml = fmt::format(R"(
[router]
burst = 32
{5}
[[ports]]
name = "a"
device = "net_null{0}"
peer = "b"
aqm = "{1}"
rate = "{2}"
rx_queues = {7}
{6}
[[ports]]
name = "b"
device = "net_null{3}{8}"
peer = "a"
aqm = "{1}"
rate = "{2}"
rx_queues = {7}
egress_queues = {9}
{6}
{4}
)",
					     2 * n, c.aqm, c.rate, 2 * n + 1, c.extra, c.router_keys, c.port_tables, c.rx_queues,
					     c.b_no_rx ? ",no-rx=1" : "", c.b_egress_queues);
	n++;
	return toml;
}

// The rx callbacks that alternate ECT(1) / Not-ECT, one counter per rx
// queue (a queue's callback runs on its own worker). Error text or empty.
struct EcnCallbacks {
	uint32_t count[2][2] = {{0, 1}, {0, 1}};
	const rte_eth_rxtx_callback *cb[2][2] = {};

	std::string add(dataplane::Router &router, unsigned rx_queues)
	{
		for (int p = 0; p < 2; p++)
			for (unsigned q = 0; q < rx_queues && q < 2; q++)
				if (!(cb[p][q] = rte_eth_add_rx_callback(router.ports()[p].port_id, static_cast<uint16_t>(q),
									  alternate_ecn, &count[p][q])))
					return "cannot add the ECN rx callback (DPDK built without RTE_ETHDEV_RXTX_CALLBACKS?)";
		return {};
	}
	// No rx runs now: safe to free.
	void remove(dataplane::Router &router)
	{
		for (int p = 0; p < 2; p++)
			for (uint16_t q = 0; q < 2; q++)
				if (cb[p][q] && rte_eth_remove_rx_callback(router.ports()[p].port_id, q, cb[p][q]) == 0)
					rte_free(const_cast<rte_eth_rxtx_callback *>(cb[p][q]));
	}
};

// The rates of the measured time: the two ports' counters before and after,
// over `took` TSC cycles on each of `cores` polling cores.
inline void rates_between(const dataplane::PortStats (&before)[2], const dataplane::PortStats (&after)[2],
			  uint64_t took, uint64_t cores, RouterRate &r)
{
	auto sum = [&](uint64_t dataplane::PortStats::*field) {
		return static_cast<double>(after[0].*field - before[0].*field + after[1].*field - before[1].*field);
	};
	const double secs = static_cast<double>(took) / static_cast<double>(rte_get_tsc_hz());
	const uint64_t cycles = took * cores;
	const double tx = sum(&dataplane::PortStats::tx_pkts), rx = sum(&dataplane::PortStats::rx_pkts);
	r.mpps = tx / secs / 1e6;
	r.rx_mpps = rx / secs / 1e6;
	r.cycles_per_pkt = static_cast<double>(cycles) / tx;
	r.cycles_per_rx = static_cast<double>(cycles) / rx;
	r.aqm_drop_share = sum(&dataplane::PortStats::aqm_drops) / rx;
	r.bypass_share = sum(&dataplane::PortStats::bypassed_pkts) / tx;
	r.overflow_share = sum(&dataplane::PortStats::overflow_drops) / rx;
}

// The sojourn percentiles of both ports' queues, by class.
inline void sojourns(const dataplane::Router &router, RouterRate &r)
{
	aqm::DelayHistogram classic, l4s;
	for (size_t p = 0; p < router.ports().size(); p++) {
		classic.merge(router.sojourn(p, 0));
		l4s.merge(router.sojourn(p, 1));
	}
	r.classic_p50_ms = static_cast<double>(classic.percentile_ns(0.5)) / 1e6;
	r.classic_p99_ms = static_cast<double>(classic.percentile_ns(0.99)) / 1e6;
	r.l4s_p50_ms = static_cast<double>(l4s.percentile_ns(0.5)) / 1e6;
	r.l4s_p99_ms = static_cast<double>(l4s.percentile_ns(0.99)) / 1e6;
}

// started runs after init, before the warm-up, and stopping before shutdown
// (to start and stop a policy worker beside the router).
inline RouterRate measure_router(const RouterCase &c, std::string &error,
				 const std::function<void(dataplane::Router &)> &started = {},
				 const std::function<void(dataplane::Router &)> &stopping = {})
{
	RouterRate r;
	dataplane::RouterConfig cfg;
	if (!(error = dataplane::parse_router_config(case_config(c), "bench", cfg)).empty())
		return r;
	dataplane::Router router;
	if (!(error = router.init(cfg, c.worker_lcores)).empty())
		return r;
	r.warnings = router.warnings();
	rte_mempool_obj_iter(router.mempool(), fill_frame, nullptr);
	EcnCallbacks ecn;
	if (c.alternate_ecn && !(error = ecn.add(router, c.rx_queues)).empty())
		return r;
	RssStamps rss;
	if (c.stamp_rss && !(error = rss.add(router, c.rx_queues)).empty())
		return r;
	if (started)
		started(router);
	const bool on_lcores = !c.worker_lcores.empty();
	poll_for(router, c.warmup_s, on_lcores);
	// The sojourn record of the measured time only.
	for (dataplane::EgressQueue &q : router.queues())
		q.sojourn = {};
	const dataplane::PortStats before[2] = {router.port_stats(0), router.port_stats(1)};
	const uint64_t took = poll_for(router, c.seconds, on_lcores);
	const dataplane::PortStats after[2] = {router.port_stats(0), router.port_stats(1)};
	rates_between(before, after, took, on_lcores ? router.workers().size() : 1, r);
	sojourns(router, r);
	if (stopping)
		stopping(router);
	ecn.remove(router);
	rss.remove();
	router.shutdown();
	return r;
}

// aqm and rate for both ports; extra is appended to the config (e.g. a
// [policy] table); one worker on the calling lcore.
inline RouterRate measure_router(const std::string &aqm, const std::string &rate, const std::string &extra,
				 double seconds, std::string &error,
				 const std::function<void(dataplane::Router &)> &started = {},
				 const std::function<void(dataplane::Router &)> &stopping = {})
{
	RouterCase c;
	c.aqm = aqm;
	c.rate = rate;
	c.extra = extra;
	c.seconds = seconds;
	return measure_router(c, error, started, stopping);
}

} // namespace dualpilot::bench
