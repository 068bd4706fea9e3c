// A router in one process between two net_ring ports (rte_eth_from_rings):
// the test writes frames into west's rx rings and reads east's tx ring. For
// every router test that runs on net_ring (test_router_*, the live changes,
// the soak); no root, no hugepages.
#pragma once

#include <gtest/gtest.h>

#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

#include "common/eal_args.hpp"
#include "aqm/random.hpp"
#include "dataplane/router.hpp"
#include "frame_builders.hpp"

namespace dualpilot::dataplane::bed {

using namespace testing; // the frames of frame_builders.hpp

inline rte_mempool *test_pool = nullptr;

struct RingPort {
	static constexpr unsigned kMaxRxQueues = 2;
	std::string ethdev;              // net_ring_<name>
	rte_ring *rx[kMaxRxQueues] = {}; // a ring per rx queue: the test writes frames here, the router reads them
	rte_ring *tx = nullptr;          // the router writes here; the test reads
};

// A ring port with one or two rx queues, and tx_queues tx queues that all
// write into its one tx ring (multi-producer where there are several: each
// queue's owner worker may run on a thread of its own).
inline RingPort make_ring_port(const std::string &name, unsigned rx_queues = 1, unsigned tx_queues = 1)
{
	RingPort rp;
	for (unsigned q = 0; q < rx_queues; q++) {
		rp.rx[q] = rte_ring_create((name + "_rx" + std::to_string(q)).c_str(), 65536, SOCKET_ID_ANY,
					   RING_F_SP_ENQ | RING_F_SC_DEQ);
		EXPECT_NE(rp.rx[q], nullptr);
	}
	rp.tx = rte_ring_create((name + "_tx").c_str(), 65536, SOCKET_ID_ANY,
				tx_queues > 1 ? RING_F_SC_DEQ : RING_F_SP_ENQ | RING_F_SC_DEQ);
	EXPECT_NE(rp.tx, nullptr);
	std::vector<rte_ring *> tx(tx_queues, rp.tx);
	EXPECT_GE(rte_eth_from_rings(name.c_str(), rp.rx, rx_queues, tx.data(), tx_queues,
				     static_cast<unsigned>(rte_socket_id())),
		  0);
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

// The frames, in order, into the first rx ring.
inline void inject(const RingPort &rp, const std::vector<std::vector<uint8_t>> &frames)
{
	for (const auto &f : frames) {
		rte_mbuf *m = rte_pktmbuf_alloc(test_pool);
		ASSERT_NE(m, nullptr);
		char *d = rte_pktmbuf_append(m, static_cast<uint16_t>(f.size()));
		if (!f.empty())
			std::memcpy(d, f.data(), f.size());
		ASSERT_EQ(rte_ring_enqueue(rp.rx[0], m), 0);
	}
}

// Every frame in the tx ring, copied out and freed.
inline std::vector<std::vector<uint8_t>> collect(const RingPort &rp)
{
	std::vector<std::vector<uint8_t>> out;
	void *obj = nullptr;
	while (rte_ring_dequeue(rp.tx, &obj) == 0) {
		auto *m = static_cast<rte_mbuf *>(obj);
		const auto *d = rte_pktmbuf_mtod(m, const uint8_t *);
		out.emplace_back(d, d + rte_pktmbuf_data_len(m));
		rte_pktmbuf_free(m);
	}
	return out;
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

// Lets the queues drain: `rounds` polls 1 ms apart; what east sent meanwhile.
inline uint64_t settle(Router &router, const RingPort &east, uint64_t &now, int rounds)
{
	uint64_t received = 0;
	for (int i = 0; i < rounds; i++) {
		now += 1000000;
		router.poll(now);
		received += drain_count(east);
	}
	return received;
}

// West to east, every packet accounted for: rx = tx + every counted drop +
// still queued, and the router's counts are what the test put in and took out.
inline void expect_conservation(const Router &router, uint64_t injected, uint64_t received, const char *when = "")
{
	const PortStats in = router.port_stats(0), out = router.port_stats(1);
	EXPECT_EQ(in.rx_pkts, injected) << when;
	EXPECT_EQ(out.tx_pkts, received) << when;
	EXPECT_EQ(in.rx_pkts, out.tx_pkts + in.dropped() + out.dropped() + router.queued_pkts()) << when;
}

inline void close_ethdev(const std::string &name)
{
	if (uint16_t id; rte_eth_dev_get_port_by_name(name.c_str(), &id) == 0)
		rte_eth_dev_close(id);
}

// Closes the port (the EAL has room for RTE_MAX_ETHPORTS, 32, at once) and
// frees its rings and every frame still in them.
inline void free_ring_port(const RingPort &rp)
{
	drain_count(rp);
	close_ethdev(rp.ethdev);
	for (rte_ring *r : rp.rx) {
		void *obj;
		while (r && rte_ring_dequeue(r, &obj) == 0)
			rte_pktmbuf_free(static_cast<rte_mbuf *>(obj));
		rte_ring_free(r);
	}
	rte_ring_free(rp.tx);
}

// toml with its placeholders WEST and EAST replaced by the two ports' devices.
inline std::string with_devices(std::string toml, const RingPort &west, const RingPort &east)
{
	for (auto [key, name] : {std::pair{"WEST", west.ethdev}, std::pair{"EAST", east.ethdev}})
		for (size_t at; (at = toml.find(key)) != std::string::npos;)
			toml.replace(at, 4, name);
	return toml;
}

// West (a fifo) and east in an l2 pair, the devices WEST and EAST (see
// with_devices); east's rate as given, its AQM in east_block.
inline std::string l2_pair_toml(const std::string &east_rate, const std::string &east_block)
{
	return "[[ports]]\nname = \"west\"\ndevice = \"WEST\"\npeer = \"east\"\naqm = \"fifo\"\n"
	       "[[ports]]\nname = \"east\"\ndevice = \"EAST\"\npeer = \"west\"\nrate = \"" +
	       east_rate + "\"\n" + east_block;
}

// Both ports DualPI2 at rate in an l2 pair on the given devices (net_null
// ones, say, which make up their own traffic and need no rings).
inline std::string dualpi2_pair_toml(const std::string &west_device, const std::string &east_device,
				     const std::string &rate)
{
	return "[[ports]]\nname = \"west\"\ndevice = \"" + west_device + "\"\npeer = \"east\"\nrate = \"" + rate +
	       "\"\naqm = \"dualpi2\"\n[[ports]]\nname = \"east\"\ndevice = \"" + east_device +
	       "\"\npeer = \"west\"\nrate = \"" + rate + "\"\naqm = \"dualpi2\"\n";
}

// A router of its own between two ring ports for each test; west has two
// rx queues (for the tests that split it between workers).
class RouterRing : public ::testing::Test {
protected:
	void SetUp() override
	{
		static int n = 0;
		west = make_ring_port("w" + std::to_string(n), 2);
		east = make_ring_port("e" + std::to_string(n));
		n++;
	}
	void TearDown() override
	{
		router.shutdown();
		free_ring_port(west);
		free_ring_port(east);
	}
	// A config of the test's own, its ports' devices named by the
	// placeholders WEST and EAST. mbufs: the router's pool; 0 keeps the
	// config's own.
	std::string start_toml(const std::string &toml, const std::vector<unsigned> &worker_lcores = {},
			       uint32_t mbufs = 16384)
	{
		RouterConfig cfg;
		const std::string err = parse_router_config(with_devices(toml, west, east), "test.toml", cfg);
		if (!err.empty())
			return err;
		if (mbufs != 0)
			cfg.mbufs = mbufs;
		return router.init(cfg, worker_lcores);
	}
	// l2_pair_toml: east's AQM and rate as given.
	std::string start(const std::string &aqm_block, const std::string &rate = "line")
	{
		return start_toml(l2_pair_toml(rate, aqm_block));
	}
	Port &west_port() { return router.ports()[0]; }
	Port &east_port() { return router.ports()[1]; }

	RingPort west, east;
	Router router;
};

// A telemetry command's reply on EAL's socket, as dpdk-telemetry.py reads
// it; empty where there is none.
inline std::string telemetry_reply(const std::string &command)
{
	const std::string path = std::string(rte_eal_get_runtime_dir()) + "/dpdk_telemetry.v2";
	const int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	sockaddr_un addr{};
	addr.sun_family = AF_UNIX;
	std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
	std::vector<char> buf(65536);
	std::string reply;
	// The first read is the greeting: version, pid, max_output_len.
	if (connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) == 0 &&
	    read(fd, buf.data(), buf.size()) > 0 &&
	    write(fd, command.data(), command.size()) == static_cast<ssize_t>(command.size())) {
		const ssize_t n = read(fd, buf.data(), buf.size());
		if (n > 0)
			reply.assign(buf.data(), static_cast<size_t>(n));
	}
	close(fd);
	return reply;
}

// rte_eal_cleanup(), and then the EAL's runtime directory goes too (the
// one named for the file prefix): a test suite on a router's own host
// leaves nothing behind (the EAL keeps the directory for secondary
// processes; a test has none once it ends).
inline void remove_runtime_dir_on_cleanup()
{
	const std::string dir = rte_eal_get_runtime_dir();
	rte_eal_cleanup();
	std::error_code ec;
	if (dir.find("dualpilot") != std::string::npos) // ours, by its prefix: never a shared one
		std::filesystem::remove_all(dir, ec);
}

// EAL once per process, without hugepages or PCI; 77 (skipped) where it cannot start.
// telemetry: serve EAL's telemetry socket (the telemetry commands' tests).
inline int run_with_eal(int argc, char **argv, bool telemetry, unsigned pool_mbufs = 32768)
{
	::testing::InitGoogleTest(&argc, argv);
	const std::string prefix = common::eal_private_files_arg("dualpilot_bed_" + std::to_string(getpid()));
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
	remove_runtime_dir_on_cleanup();
	return rc;
}

} // namespace dualpilot::dataplane::bed
