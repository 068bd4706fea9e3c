// What bench-router and bench-policy share: a router on two fresh net_null
// ports whose frames are valid 64-byte IPv4/UDP packets, polled on the
// calling lcore for a while, its forwarding rate measured.
#pragma once

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <cstring>
#include <fmt/core.h>
#include <functional>
#include <string>
#include <unistd.h>

#include "dataplane/config.hpp"
#include "dataplane/router.hpp"

namespace dualpilot::bench {

// EAL for a benchmark: no hugepages or PCI, one lcore on `core`, its own
// file prefix (so it runs beside a router or testpmd). Error text or empty.
inline std::string init_eal(const char *program, unsigned core)
{
	const std::string core_arg = std::to_string(core);
	const std::string prefix = fmt::format("--file-prefix=dp_{}_{}", program, getpid());
	const char *eal[] = {program, "-l", core_arg.c_str(), "--no-huge", "-m", "1024", "--no-pci",
			     "--log-level=lib.eal:error", "--no-telemetry", prefix.c_str()};
	if (rte_eal_init(static_cast<int>(std::size(eal)), const_cast<char **>(eal)) < 0)
		return fmt::format("EAL initialisation failed ({})", rte_strerror(rte_errno));
	return {};
}

struct RouterRate {
	double mpps = 0;        // forwarded, both directions
	double rx_mpps = 0;
	double cycles_per_pkt = 0;
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
	uint32_t sum = 0;
	for (int i = 14; i < 34; i += 2)
		sum += static_cast<uint32_t>(f[i] << 8 | f[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	f[24] = static_cast<uint8_t>(~sum >> 8);
	f[25] = static_cast<uint8_t>(~sum);
}

// aqm and rate for both ports; extra is appended to the config (e.g. a
// [policy] table). started runs after init, before the warm-up, and stopping
// before shutdown (to start and stop a policy worker beside the router).
inline RouterRate measure_router(const std::string &aqm, const std::string &rate, const std::string &extra,
				 double seconds, std::string &error,
				 const std::function<void(dataplane::Router &)> &started = {},
				 const std::function<void(dataplane::Router &)> &stopping = {})
{
	static int n = 0;
	const std::string toml = fmt::format(R"(
[router]
burst = 32
[[ports]]
name = "a"
device = "net_null{0}"
peer = "b"
aqm = "{1}"
rate = "{2}"
[[ports]]
name = "b"
device = "net_null{3}"
peer = "a"
aqm = "{1}"
rate = "{2}"
{4}
)",
					     2 * n, aqm, rate, 2 * n + 1, extra);
	n++;
	RouterRate r;
	dataplane::RouterConfig cfg;
	if (!(error = dataplane::parse_router_config(toml, "bench", cfg)).empty())
		return r;
	dataplane::Router router;
	if (!(error = router.init(cfg)).empty())
		return r;
	rte_mempool_obj_iter(router.mempool(), fill_frame, nullptr);
	if (started)
		started(router);
	dataplane::Worker &w = router.worker(0);
	const uint64_t hz = rte_get_tsc_hz();
	uint64_t end = rte_rdtsc() + hz / 2;
	while (rte_rdtsc() < end)
		router.poll_worker(w, router.now_ns());
	const auto before_a = router.port_stats(0), before_b = router.port_stats(1);
	const uint64_t start = rte_rdtsc();
	end = start + static_cast<uint64_t>(seconds * static_cast<double>(hz));
	uint64_t now = start;
	while (now < end) {
		router.poll_worker(w, router.now_ns());
		now = rte_rdtsc();
	}
	const auto after_a = router.port_stats(0), after_b = router.port_stats(1);
	const double secs = static_cast<double>(now - start) / static_cast<double>(hz);
	const double tx = static_cast<double>(after_a.tx_pkts - before_a.tx_pkts + after_b.tx_pkts - before_b.tx_pkts);
	const double rx = static_cast<double>(after_a.rx_pkts - before_a.rx_pkts + after_b.rx_pkts - before_b.rx_pkts);
	r.mpps = tx / secs / 1e6;
	r.rx_mpps = rx / secs / 1e6;
	r.cycles_per_pkt = static_cast<double>(now - start) / tx;
	if (stopping)
		stopping(router);
	router.shutdown();
	return r;
}

} // namespace dualpilot::bench
