// A router in one process between two net_ring ports (rte_eth_from_rings):
// the test writes frames into west's rx ring and reads east's tx ring. For
// the tests of live changes and the soak; no root, no hugepages.
#pragma once

#include <gtest/gtest.h>

#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>

#include "aqm/random.hpp"
#include "dataplane/router.hpp"
#include "frame_builders.hpp"

namespace dualpilot::dataplane::bed {

inline rte_mempool *test_pool = nullptr;

struct RingPort {
	std::string ethdev; // net_ring_<name>
	rte_ring *rx = nullptr; // the test writes frames here; the router reads them
	rte_ring *tx = nullptr; // the router writes here; the test reads
};

inline RingPort make_ring_port(const std::string &name)
{
	RingPort rp;
	rp.rx = rte_ring_create((name + "_rx").c_str(), 65536, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	rp.tx = rte_ring_create((name + "_tx").c_str(), 65536, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	EXPECT_NE(rp.rx, nullptr);
	EXPECT_NE(rp.tx, nullptr);
	EXPECT_GE(rte_eth_from_rings(name.c_str(), &rp.rx, 1, &rp.tx, 1, static_cast<unsigned>(rte_socket_id())), 0);
	rp.ethdev = "net_ring_" + name;
	return rp;
}

inline uint64_t drain_count(const RingPort &rp)
{
	uint64_t n = 0;
	void *objs[256];
	unsigned got;
	while ((got = rte_ring_dequeue_burst(rp.tx, objs, 256, nullptr)) > 0) {
		rte_pktmbuf_free_bulk(reinterpret_cast<rte_mbuf **>(objs), got);
		n += got;
	}
	return n;
}

// East's tx frames, their ECN field read back (IPv4 and IPv6 frames only).
inline uint64_t drain_ce(const RingPort &rp, uint64_t &frames)
{
	uint64_t ce = 0;
	void *objs[256];
	unsigned got;
	while ((got = rte_ring_dequeue_burst(rp.tx, objs, 256, nullptr)) > 0) {
		for (unsigned i = 0; i < got; i++) {
			auto *m = static_cast<rte_mbuf *>(objs[i]);
			const FrameInfo f = parse_frame(rte_pktmbuf_mtod(m, uint8_t *), rte_pktmbuf_data_len(m));
			ce += f.ecn == aqm::Ecn::ce;
		}
		rte_pktmbuf_free_bulk(reinterpret_cast<rte_mbuf **>(objs), got);
		frames += got;
	}
	return ce;
}

// n (at most 32) frames drawn from templates into an rx ring; adds to taken
// how many it took (the rest are freed).
inline void inject_random(rte_ring *rx, const std::vector<std::vector<uint8_t>> &templates, aqm::Rng &rng,
			  unsigned n, uint64_t &taken)
{
	rte_mbuf *burst[32];
	n = std::min(n, 32u);
	ASSERT_EQ(rte_pktmbuf_alloc_bulk(test_pool, burst, n), 0);
	for (unsigned i = 0; i < n; i++) {
		const auto &t = templates[rng.next_u32() % templates.size()];
		std::memcpy(rte_pktmbuf_append(burst[i], static_cast<uint16_t>(t.size())), t.data(), t.size());
	}
	const unsigned put = rte_ring_enqueue_burst(rx, reinterpret_cast<void **>(burst), n, nullptr);
	rte_pktmbuf_free_bulk(burst + put, n - put);
	taken += put;
}

inline void free_ring_port(const RingPort &rp)
{
	drain_count(rp);
	if (uint16_t id; rte_eth_dev_get_port_by_name(rp.ethdev.c_str(), &id) == 0)
		rte_eth_dev_close(id);
	void *obj;
	while (rte_ring_dequeue(rp.rx, &obj) == 0)
		rte_pktmbuf_free(static_cast<rte_mbuf *>(obj));
	rte_ring_free(rp.rx);
	rte_ring_free(rp.tx);
}

// EAL once per process, without hugepages or PCI; 77 (skipped) where it cannot start.
// telemetry: serve EAL's telemetry socket (the change commands' tests).
inline int run_with_eal(int argc, char **argv, bool telemetry, unsigned pool_mbufs = 32768)
{
	::testing::InitGoogleTest(&argc, argv);
	const std::string prefix = "--file-prefix=dualpilot_bed_" + std::to_string(getpid());
	std::vector<const char *> eal = {"test", "--no-huge", "-m", "512", "--no-pci", "-l", "0",
					 "--log-level=lib.eal:error", prefix.c_str()};
	if (!telemetry)
		eal.push_back("--no-telemetry");
	if (rte_eal_init(static_cast<int>(eal.size()), const_cast<char **>(eal.data())) < 0) {
		std::fprintf(stderr, "skipped: DPDK EAL cannot start here (%s)\n", rte_strerror(rte_errno));
		return 77;
	}
	test_pool = rte_pktmbuf_pool_create("bed_pool", pool_mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					    static_cast<int>(rte_socket_id()));
	if (!test_pool) {
		std::fprintf(stderr, "skipped: no memory for the test's mbuf pool\n");
		return 77;
	}
	const int rc = RUN_ALL_TESTS();
	rte_eal_cleanup();
	return rc;
}

} // namespace dualpilot::dataplane::bed
