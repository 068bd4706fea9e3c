// The router end to end in one process: two net_ring ports (rte_eth_from_rings)
// joined in an l2 pair, crafted frames pushed into one port's rx ring and
// read back from the other's tx ring. No root, no hugepages.
#include <gtest/gtest.h>

#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <cstring>
#include <unistd.h>
#include <vector>

#include "aqm/random.hpp"
#include "dataplane/policy_worker.hpp"
#include "dataplane/router.hpp"
#include "policy/cpu_backend.hpp"
#include "policy/model_file.hpp"
#include "sim/pool.hpp"
#include "dataplane/telemetry.hpp"
#include "frame_builders.hpp"

namespace dualpilot::dataplane {
namespace {

using namespace testing;

rte_mempool *test_pool = nullptr;

struct RingPort {
	rte_ring *rx[2]; // the test writes frames here (one ring per rx queue); the router reads them
	rte_ring *tx;    // the router writes here; the test reads
};

// A ring port with one or two rx queues.
RingPort make_ring_port(const std::string &name, unsigned rx_queues = 1)
{
	RingPort rp{};
	for (unsigned q = 0; q < rx_queues; q++) {
		rp.rx[q] = rte_ring_create((name + "_rx" + std::to_string(q)).c_str(), 65536, SOCKET_ID_ANY,
					   RING_F_SP_ENQ | RING_F_SC_DEQ);
		EXPECT_NE(rp.rx[q], nullptr);
	}
	rp.tx = rte_ring_create((name + "_tx").c_str(), 65536, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	EXPECT_NE(rp.tx, nullptr);
	EXPECT_GE(rte_eth_from_rings(name.c_str(), rp.rx, rx_queues, &rp.tx, 1, static_cast<unsigned>(rte_socket_id())), 0);
	return rp;
}

rte_mbuf *mbuf_of(const std::vector<uint8_t> &frame)
{
	rte_mbuf *m = rte_pktmbuf_alloc(test_pool);
	EXPECT_NE(m, nullptr);
	char *d = rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size()));
	if (!frame.empty())
		std::memcpy(d, frame.data(), frame.size());
	return m;
}

void inject(const RingPort &rp, const std::vector<std::vector<uint8_t>> &frames)
{
	for (const auto &f : frames) {
		rte_mbuf *m = mbuf_of(f);
		ASSERT_EQ(rte_ring_enqueue(rp.rx[0], m), 0);
	}
}

std::vector<std::vector<uint8_t>> collect(const RingPort &rp)
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

uint64_t drain_count(const RingPort &rp)
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

// n (at most 32) frames drawn from templates into an rx ring; adds to taken
// how many it took (the rest are freed).
void inject_random(rte_ring *rx, const std::vector<std::vector<uint8_t>> &templates, aqm::Rng &rng, unsigned n,
		   uint64_t &taken)
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
uint64_t settle(Router &router, const RingPort &east, uint64_t &now, int rounds)
{
	uint64_t received = 0;
	for (int i = 0; i < rounds; i++) {
		now += 1000000;
		router.poll(now);
		received += drain_count(east);
	}
	return received;
}

// Each test builds its own pair of ring ports and router.
class RouterRing : public ::testing::Test {
protected:
	void SetUp() override
	{
		static int n = 0;
		const std::string id = std::to_string(n);
		const std::string w = std::string("w").append(id), e = std::string("e").append(id);
		n++;
		west = make_ring_port(w, 2);
		east = make_ring_port(e);
		// rte_eth_from_rings() names the ethdev net_ring_ + name.
		west_name = "net_ring_" + w;
		east_name = "net_ring_" + e;
	}
	void TearDown() override
	{
		router.shutdown();
		drain_count(west);
		drain_count(east);
		// Close the ports: the EAL has room for RTE_MAX_ETHPORTS (32) at once.
		for (const std::string &name : {west_name, east_name})
			if (uint16_t id; rte_eth_dev_get_port_by_name(name.c_str(), &id) == 0)
				rte_eth_dev_close(id);
		for (RingPort *rp : {&west, &east}) {
			for (rte_ring *r : rp->rx)
				rte_ring_free(r);
			rte_ring_free(rp->tx);
		}
	}
	std::string start(const std::string &aqm_block, const std::string &rate = "line")
	{
		const std::string toml = "[[ports]]\nname = \"west\"\ndevice = \"" + west_name + "\"\npeer = \"east\"\n"
					 "aqm = \"fifo\"\n[[ports]]\nname = \"east\"\ndevice = \"" + east_name +
					 "\"\npeer = \"west\"\nrate = \"" + rate + "\"\n" + aqm_block;
		RouterConfig cfg;
		if (std::string err = parse_router_config(toml, "test.toml", cfg); !err.empty())
			return err;
		cfg.mbufs = 16384;
		return router.init(cfg);
	}
	// A config of the test's own, its ports named by the placeholders WEST and EAST.
	std::string start_toml(std::string toml, const std::vector<unsigned> &worker_lcores = {})
	{
		for (auto [key, name] : {std::pair{"WEST", west_name}, std::pair{"EAST", east_name}})
			for (size_t at; (at = toml.find(key)) != std::string::npos;)
				toml.replace(at, 4, name);
		RouterConfig cfg;
		if (std::string err = parse_router_config(toml, "test.toml", cfg); !err.empty())
			return err;
		cfg.mbufs = 16384;
		return router.init(cfg, worker_lcores);
	}
	Port &east_port() { return router.ports()[1]; }
	Port &west_port() { return router.ports()[0]; }

	RingPort west{}, east{};
	std::string west_name, east_name;
	Router router;
};

TEST_F(RouterRing, FramesLandInTheQueueTheirEcnSays)
{
	ASSERT_EQ(start("aqm = \"dualpi2\"\n"), "");
	inject(west, {ipv4_frame(Ecn::not_ect, 0, 0x2e, 1000), ipv4_frame(Ecn::ect0, 0, 0x2e, 1000), ipv4_frame(Ecn::ect1, 0, 0x2e, 1000), ipv4_frame(Ecn::ce, 0, 0x2e, 1000), ipv6_frame(Ecn::ect1, 0, 1000),
		      ipv6_frame(Ecn::not_ect, 0, 1000), ipv4_frame(Ecn::ect1, 1, 0x2e, 100), arp_frame()});
	router.poll(1000);
	const auto c = aqm::counters(east_port().aqm[0]);
	EXPECT_EQ(c[0].enqueued_pkts, 4u); // Not-ECT v4, ECT(0), Not-ECT v6, ARP
	EXPECT_EQ(c[1].enqueued_pkts, 4u); // ECT(1) v4, CE, ECT(1) v6, ECT(1) VLAN
	const auto out = collect(east);
	ASSERT_EQ(out.size(), 8u);
	EXPECT_EQ(out.back(), arp_frame()); // non-IP goes through untouched
	EXPECT_EQ(router.port_stats(1).tx_pkts, 8u);
	EXPECT_EQ(router.port_stats(0).rx_kind[static_cast<int>(FrameKind::non_ip)], 1u);
}

TEST_F(RouterRing, MarkedFramesCarryCeAndAValidChecksum)
{
	// 1 Mbit/s: ten 1 kB frames at t = 0 queue up (about 8 ms each on the
	// wire); all but the few the shaper's burst lets out at once wait past
	// step_thresh (1 ms) and are CE-marked.
	ASSERT_EQ(start("aqm = \"dualpi2\"\n[ports.dualpi2]\ntupdate = \"10s\"\n", "1mbit"), "");
	std::vector<std::vector<uint8_t>> frames;
	for (int i = 0; i < 10; i++)
		frames.push_back(i % 2 ? ipv4_frame(Ecn::ect1, 0, 0x2e, 1000) : ipv6_frame(Ecn::ect1, 0, 1000));
	inject(west, frames);
	router.poll(1000);
	for (uint64_t t = 50000000; t < 2000000000; t += 10000000)
		router.poll(t);
	const auto out = collect(east);
	ASSERT_EQ(out.size(), 10u);
	int marked = 0;
	for (const auto &f : out) {
		if (f[12] == 0x08) {
			EXPECT_EQ(ipv4_checksum(&f[14], 20), 0) << "IPv4 checksum broken by marking";
			marked += (f[15] & 3) == 3;
		} else {
			marked += ((f[15] >> 4) & 3) == 3;
		}
	}
	EXPECT_GE(marked, 6); // the first packets leave at once, unmarked
	EXPECT_EQ(static_cast<uint64_t>(marked), router.port_stats(1).marked);
	// The L queue's sojourns are on record: ten packets, the last waited long.
	const aqm::DelayHistogram &l = east_port().sojourn[static_cast<int>(aqm::QueueId::l4s)];
	EXPECT_EQ(l.count(), 10u);
	EXPECT_GT(l.max_ns(), 50000000u);
	EXPECT_NE(router.summary().find("east L4S queue sojourn: p50"), std::string::npos);
}

TEST_F(RouterRing, TheDelayLineHoldsEachFrameForItsDelayInOrder)
{
	// 5 ms of propagation after an unshaped DualPI2: frames leave in order,
	// none before 5 ms, all once it has passed; the AQM's sojourn excludes it.
	ASSERT_EQ(start_toml("[[ports]]\nname = \"west\"\ndevice = \"WEST\"\npeer = \"east\"\naqm = \"fifo\"\n"
			     "[[ports]]\nname = \"east\"\ndevice = \"EAST\"\npeer = \"west\"\naqm = \"dualpi2\"\n"
			     "delay = \"5ms\"\n"),
		  "");
	std::vector<std::vector<uint8_t>> frames;
	for (int i = 0; i < 20; i++) {
		frames.push_back(ipv4_frame(Ecn::not_ect, 0, 0x2e, 100)); // one queue: its order is the arrival order
		frames.back()[14 + 20] = static_cast<uint8_t>(i); // first payload byte: the order
	}
	inject(west, frames);
	router.poll(1000000);
	router.poll(5999000);
	EXPECT_TRUE(collect(east).empty());
	EXPECT_EQ(router.queued_pkts(1), 20u);
	router.poll(6000000);
	const auto out = collect(east);
	ASSERT_EQ(out.size(), 20u);
	for (int i = 0; i < 20; i++)
		EXPECT_EQ(out[static_cast<size_t>(i)][14 + 20], i);
	EXPECT_EQ(router.queued_pkts(1), 0u);
	EXPECT_LT(east_port().sojourn[0].max_ns(), 1000000u);
	// Frames still inside at shutdown are freed (the pool is whole again: TearDown).
	inject(west, frames);
	router.poll(7000000);
	EXPECT_EQ(router.queued_pkts(1), 20u);
}

TEST_F(RouterRing, MalformedFramesAreCountedAndDropped)
{
	ASSERT_EQ(start("aqm = \"dualpi2\"\n"), "");
	auto bad_ihl = ipv4_frame(Ecn::ect1, 0, 0x2e, 1000);
	bad_ihl[14] = 0x43;
	auto bad_len = ipv4_frame(Ecn::ect1, 0, 0x2e, 1000);
	bad_len[16] = 0xff;
	auto bad_version = ipv4_frame(Ecn::ect1, 0, 0x2e, 1000);
	bad_version[14] = 0x75;
	auto cut = ipv4_frame(Ecn::ect1, 0, 0x2e, 1000);
	cut.resize(30);
	inject(west, {{}, std::vector<uint8_t>(10, 1), cut, bad_ihl, bad_len, bad_version, ipv4_frame(Ecn::ect1, 0, 0x2e, 1000)});
	router.poll(1000);
	const PortStats s = router.port_stats(0);
	EXPECT_EQ(s.rx_pkts, 7u);
	EXPECT_EQ(s.rx_kind[static_cast<int>(FrameKind::truncated)], 3u);
	EXPECT_EQ(s.rx_kind[static_cast<int>(FrameKind::bad_ipv4_ihl)], 1u);
	EXPECT_EQ(s.rx_kind[static_cast<int>(FrameKind::bad_ip_length)], 1u);
	EXPECT_EQ(s.rx_kind[static_cast<int>(FrameKind::bad_ip_version)], 1u);
	EXPECT_EQ(s.malformed(), 6u);
	EXPECT_EQ(collect(east).size(), 1u);
}

// Every mbuf is accounted for over 10^7 packets of a random mix, malformed
// frames and AQM drops included:
//   rx = tx + AQM drops + overflow drops + malformed + failed + still queued
TEST_F(RouterRing, TenMillionPacketsAreAllAccountedFor)
{
	// A shaper at 2 Gbit/s of virtual time and a small buffer, so that the
	// AQM drops, marks and overflows all happen.
	ASSERT_EQ(start("aqm = \"dualpi2\"\n[ports.dualpi2]\nlimit = 500\ntarget = \"50us\"\ntupdate = \"100us\"\n",
			"2gbit"), "");
	const std::vector<std::vector<uint8_t>> templates = {
		ipv4_frame(Ecn::not_ect, 0, 0x2e, 1000), ipv4_frame(Ecn::ect1, 0, 0x2e, 200), ipv6_frame(Ecn::ect1, 0, 64), ipv4_frame(Ecn::ect0, 0, 0x2e, 1400),
		ipv6_frame(Ecn::not_ect, 0, 500),  ipv4_frame(Ecn::ce, 0, 0x2e, 100),   arp_frame(),           std::vector<uint8_t>(12, 9)};
	aqm::Rng rng(11);
	constexpr uint64_t kTotal = 10000000;
	uint64_t injected = 0, received = 0, now = 1000;
	while (injected < kTotal) {
		// One rx burst's worth per poll: the router reads 32 a poll.
		ASSERT_NO_FATAL_FAILURE(inject_random(west.rx[0], templates, rng,
						      static_cast<unsigned>(std::min<uint64_t>(32, kTotal - injected)), injected));
		now += 1000; // 32 packets per us: offered well above the shaped rate
		router.poll(now);
		received += drain_count(east);
	}
	received += settle(router, east, now, 1000);
	const PortStats in = router.port_stats(0);
	const PortStats out = router.port_stats(1);
	EXPECT_EQ(in.rx_pkts, kTotal);
	EXPECT_EQ(out.tx_pkts, received);
	EXPECT_GT(out.aqm_drops, 0u);
	EXPECT_GT(out.overflow_drops, 0u);
	EXPECT_GT(out.marked, 0u);
	EXPECT_GT(in.malformed(), 0u);
	EXPECT_EQ(in.rx_pkts, out.tx_pkts + out.aqm_drops + out.overflow_drops + in.malformed() + out.tx_failed +
				      out.mark_failed + router.queued_pkts());
	// And no mbuf leaked: the test's pool is whole again once all is freed.
	router.shutdown();
	EXPECT_EQ(rte_mempool_in_use_count(test_pool), 0u);
}

// l3 mode: longest prefix wins, TTL / hop limit go down by one with the IPv4
// checksum still valid, the Ethernet addresses become the next hop's and the
// egress port's; no route, TTL 1 and non-IP frames are counted and dropped.
TEST_F(RouterRing, L3RoutesByLongestPrefixAndRewritesTheHop)
{
	ASSERT_EQ(start_toml(R"(
[router]
mode = "l3"
[[ports]]
name = "west"
device = "WEST"
aqm = "fifo"
[[ports]]
name = "east"
device = "EAST"
aqm = "dualpi2"
[[routes]]
prefix = "10.0.0.0/8"
port = "west"
next_hop_mac = "02:00:00:00:00:01"
[[routes]]
prefix = "10.0.2.0/24"
port = "east"
next_hop_mac = "02:00:00:00:00:02"
[[routes]]
prefix = "2001:db8:2::/48"
port = "east"
next_hop_mac = "02:00:00:00:00:03"
)"),
		  "");
	const std::array<uint8_t, 16> v6_routed = {0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	std::array<uint8_t, 16> v6_unrouted = v6_routed;
	v6_unrouted[5] = 3;
	inject(west, {ipv4_to({10, 0, 2, 5}), ipv4_to({10, 0, 3, 1}), ipv4_to({192, 168, 1, 1}),
		      ipv4_to({10, 0, 2, 5}, 1), ipv6_to(v6_routed), ipv6_to(v6_unrouted), arp_frame(),
		      ipv4_to({10, 0, 2, 9}, 9, Ecn::ect1, 1), ipv6_to(v6_routed, 1)});
	router.poll(1000);
	router.poll(2000);
	const auto to_east = collect(east);
	const auto to_west = collect(west);
	ASSERT_EQ(to_east.size(), 3u);
	ASSERT_EQ(to_west.size(), 1u);
	const std::array<uint8_t, 6> east_mac = east_port().mac;
	for (const auto &f : to_east) {
		EXPECT_EQ(std::vector<uint8_t>(f.begin() + 6, f.begin() + 12), std::vector<uint8_t>(east_mac.begin(), east_mac.end()));
	}
	// The L queue goes first, so find each frame by its ethertype.
	auto find = [&](uint8_t type_hi) {
		for (const auto &f : to_east)
			if (f[12] == type_hi)
				return f;
		return std::vector<uint8_t>(64, 0);
	};
	// 10.0.2.5 by the /24, TTL 63, checksum valid, next hop 02:..:02.
	const auto v4 = find(0x08), v6 = find(0x86), tagged = find(0x81);
	EXPECT_EQ(v4[5], 0x02);
	EXPECT_EQ(v4[14 + 8], 63);
	EXPECT_EQ(ipv4_checksum(&v4[14], 20), 0);
	// The IPv6 one: hop limit 63, next hop 02:..:03.
	EXPECT_EQ(v6[5], 0x03);
	EXPECT_EQ(v6[14 + 7], 63);
	// The VLAN-tagged one keeps its tag; TTL 8.
	EXPECT_EQ(tagged[18 + 8], 8);
	EXPECT_EQ(ipv4_checksum(&tagged[18], 20), 0);
	// 10.0.3.1 falls back to the /8, out of the port it came in by.
	EXPECT_EQ(to_west[0][5], 0x01);
	EXPECT_EQ(to_west[0][14 + 8], 63);
	const PortStats in = router.port_stats(0);
	EXPECT_EQ(in.rx_pkts, 9u);
	EXPECT_EQ(in.no_route, 3u);    // 192.168.1.1, 2001:db8:3::1, ARP
	EXPECT_EQ(in.ttl_expired, 2u); // TTL 1, hop limit 1
	EXPECT_EQ(router.port_stats(1).tx_pkts + router.port_stats(0).tx_pkts + in.no_route + in.ttl_expired, in.rx_pkts);
}

TEST_F(RouterRing, L3DefaultRouteCatchesTheRest)
{
	ASSERT_EQ(start_toml(R"(
[router]
mode = "l3"
[[ports]]
name = "west"
device = "WEST"
[[ports]]
name = "east"
device = "EAST"
[[routes]]
prefix = "0.0.0.0/0"
port = "east"
next_hop_mac = "02:00:00:00:00:09"
)"),
		  "");
	inject(west, {ipv4_to({192, 168, 1, 1}), ipv4_to({8, 8, 8, 8}), ipv6_frame(Ecn::ect1)});
	router.poll(1000);
	const auto out = collect(east);
	ASSERT_EQ(out.size(), 2u);
	EXPECT_EQ(out[0][5], 0x09);
	EXPECT_EQ(router.port_stats(0).no_route, 1u); // IPv6 has no default route here
}

// Two workers, the west port's two rx queues split between them: the one
// that does not own the east egress hands its frames over through the ring.
// Every packet is accounted for, and both workers did their share.
TEST_F(RouterRing, TwoWorkersHandFramesOverAndLoseNone)
{
	ASSERT_EQ(start_toml(R"(
[router]
workers = 2
[[ports]]
name = "west"
device = "WEST"
peer = "east"
rx_queues = 2
aqm = "fifo"
[[ports]]
name = "east"
device = "EAST"
peer = "west"
rate = "2gbit"
aqm = "dualpi2"
[ports.dualpi2]
limit = 500
)",
			     {100, 101}),
		  "");
	ASSERT_EQ(router.workers().size(), 2u);
	ASSERT_NE(east_port().handoff, nullptr);
	const std::vector<std::vector<uint8_t>> templates = {ipv4_frame(Ecn::not_ect, 0, 0x2e, 1000),
							     ipv4_frame(Ecn::ect1, 0, 0x2e, 200), ipv6_frame(Ecn::ect1, 0, 64),
							     std::vector<uint8_t>(12, 9)};
	aqm::Rng rng(5);
	constexpr uint64_t kTotal = 2000000;
	uint64_t injected = 0, received = 0, now = 1000;
	while (injected < kTotal) {
		for (unsigned q = 0; q < 2; q++)
			ASSERT_NO_FATAL_FAILURE(inject_random(west.rx[q], templates, rng, 32, injected));
		now += 1000;
		router.poll(now);
		received += drain_count(east);
	}
	received += settle(router, east, now, 100);
	const PortStats in = router.port_stats(0);
	const PortStats out = router.port_stats(1);
	EXPECT_EQ(in.rx_pkts, injected);
	EXPECT_EQ(out.tx_pkts, received);
	EXPECT_GT(router.workers()[0].stats[0].rx_pkts, injected / 3);
	EXPECT_GT(router.workers()[1].stats[0].rx_pkts, injected / 3);
	EXPECT_GT(out.overflow_drops + out.aqm_drops, 0u);
	EXPECT_EQ(in.rx_pkts, out.tx_pkts + in.dropped() + out.dropped() + router.queued_pkts());
	router.shutdown();
	EXPECT_EQ(rte_mempool_in_use_count(test_pool), 0u);
}

// Where tx takes its byte counts from. net_null frees every frame on tx and
// hands the same mbufs out again on rx (64-byte frames on one port, 1000-byte
// on the other, so a reused mbuf carries another length): the tx byte
// counters must be the bytes the AQM released, which only the queue's
// descriptors still know once the driver has the mbuf.
TEST_F(RouterRing, TxBytesAreTheBytesTheAqmReleasedWhenThePmdFreesOnTx)
{
	static int n = 0;
	const std::string a = "net_null" + std::to_string(40 + 2 * n), b = "net_null" + std::to_string(41 + 2 * n);
	n++;
	ASSERT_EQ(start_toml("[[ports]]\nname = \"west\"\ndevice = \"" + a + ",size=64\"\npeer = \"east\"\n"
			     "rate = \"1gbit\"\naqm = \"dualpi2\"\n[[ports]]\nname = \"east\"\ndevice = \"" + b +
			     ",size=1000\"\npeer = \"west\"\nrate = \"1gbit\"\naqm = \"dualpi2\"\n"),
		  "");
	uint64_t now = 1000;
	for (int i = 0; i < 50000; i++) { // 100 ms of virtual time: 12,500 1000-byte frames at 1 Gbit/s
		now += 2000;
		router.poll(now);
	}
	for (size_t p = 0; p < 2; p++) {
		const PortStats s = router.port_stats(p);
		const auto c = aqm::counters(router.ports()[p].aqm[0]);
		EXPECT_GT(s.tx_pkts, 5000u);
		EXPECT_EQ(s.tx_pkts, c[0].forwarded_pkts + c[1].forwarded_pkts);
		EXPECT_EQ(s.tx_bytes, c[0].forwarded_bytes + c[1].forwarded_bytes) << "port " << p;
		EXPECT_EQ(s.tx_bytes, s.tx_pkts * (p == 0 ? 1000u : 64u)); // east's frames leave by west
	}
	router.shutdown();
	for (const std::string &name : {a, b})
		if (uint16_t id; rte_eth_dev_get_port_by_name(name.c_str(), &id) == 0)
			rte_eth_dev_close(id);
}

// The router's own pool is never what bounds a queue: with mbufs = "auto"
// and limit = "auto", net_null's rx (which allocates from the router's pool)
// never goes without an mbuf while both ports' queues sit at their limits,
// 80x overloaded for 100 ms of virtual time; the limits refuse the excess
// (counted overflows), and every mbuf not back in the pool is one the router
// says it holds.
TEST_F(RouterRing, ThePoolIsNeverTheBoundWhenBothQueuesStandAtTheirLimits)
{
	static int n = 0;
	const std::string a = "net_null" + std::to_string(60 + 2 * n), b = "net_null" + std::to_string(61 + 2 * n);
	n++;
	RouterConfig cfg;
	ASSERT_EQ(parse_router_config("[router]\nmbufs = \"auto\"\n[[ports]]\nname = \"west\"\ndevice = \"" + a +
					      "\"\npeer = \"east\"\nrate = \"100mbit\"\naqm = \"dualpi2\"\n[[ports]]\n"
					      "name = \"east\"\ndevice = \"" + b +
					      "\"\npeer = \"west\"\nrate = \"100mbit\"\naqm = \"dualpi2\"\n",
				      "test.toml", cfg),
		  "");
	ASSERT_EQ(router.init(cfg), "");
	uint64_t now = 1000;
	for (int i = 0; i < 50000; i++) { // 32 frames a port every 2 us: 16 Mpps against 195 kpps
		now += 2000;
		router.poll(now);
	}
	uint64_t rx = 0, tx = 0, dropped = 0, overflows = 0;
	for (size_t p = 0; p < 2; p++) {
		rte_eth_stats es{};
		ASSERT_EQ(rte_eth_stats_get(router.ports()[p].port_id, &es), 0);
		EXPECT_EQ(es.rx_nombuf, 0u) << "port " << p << ": rx went without an mbuf";
		EXPECT_GE(router.ports()[p].limit_pkts, 10000u);
		const PortStats s = router.port_stats(p);
		rx += s.rx_pkts;
		tx += s.tx_pkts;
		dropped += s.dropped();
		overflows += s.overflow_drops;
		EXPECT_GE(router.queued_pkts(p), router.ports()[p].limit_pkts / 2) << "port " << p;
	}
	EXPECT_GT(overflows, 0u);
	EXPECT_EQ(rx, tx + dropped + router.queued_pkts());
	EXPECT_EQ(rte_mempool_in_use_count(router.mempool()), router.queued_pkts());
	router.shutdown();
	for (const std::string &name : {a, b})
		if (uint16_t id; rte_eth_dev_get_port_by_name(name.c_str(), &id) == 0)
			rte_eth_dev_close(id);
}

// The shaped rate through the whole router, on a virtual clock: net_null
// offers 32 frames a port every poll, 40 % more than the 200 Mbit/s shapers
// pass, and every 100th poll comes 0.9 ms late (a worker descheduled on a
// shared core). With the queues standing, each port sends its shaped rate
// within 0.5 %: the credit of a late poll is spent in the polls after it.
TEST_F(RouterRing, AStandingQueueLeavesAtTheShapedRateThoughPollsComeLate)
{
	static int n = 0;
	const std::string a = "net_null" + std::to_string(80 + 2 * n), b = "net_null" + std::to_string(81 + 2 * n);
	n++;
	RouterConfig cfg; // mbufs = "auto": the pool covers both queues' limit = "auto"
	ASSERT_EQ(parse_router_config("[[ports]]\nname = \"west\"\ndevice = \"" + a +
					      "\"\npeer = \"east\"\nrate = \"200mbit\"\naqm = \"dualpi2\"\n[[ports]]\n"
					      "name = \"east\"\ndevice = \"" + b +
					      "\"\npeer = \"west\"\nrate = \"200mbit\"\naqm = \"dualpi2\"\n",
				      "test.toml", cfg),
		  "");
	ASSERT_EQ(router.init(cfg), "");
	uint64_t now = 1000;
	auto run = [&](uint64_t until_ns) {
		for (uint64_t poll = 0; now < until_ns; poll++) {
			now += poll % 100 == 99 ? 900000 : 50000;
			router.poll(now);
		}
	};
	run(1000000000); // a second for the queues to stand and PI2 to settle
	uint64_t bytes_before[2];
	for (size_t p = 0; p < 2; p++)
		bytes_before[p] = router.port_stats(p).tx_bytes;
	const uint64_t start = now;
	run(start + 2000000000);
	for (size_t p = 0; p < 2; p++) {
		const double bps = static_cast<double>(router.port_stats(p).tx_bytes - bytes_before[p]) * 8 /
				   (static_cast<double>(now - start) / 1e9);
		EXPECT_NEAR(bps, 2e8, 2e8 * 0.005) << "port " << p;
		EXPECT_GT(router.queued_pkts(p), 1000u) << "port " << p << ": the queue stands";
	}
	router.shutdown();
	for (const std::string &name : {a, b})
		if (uint16_t id; rte_eth_dev_get_port_by_name(name.c_str(), &id) == 0)
			rte_eth_dev_close(id);
}

// limit = "auto" sizes the queue for 4 targets at the port's rate in 64-byte
// frames (the shaper's 0 bytes of overhead on a vdev), and the pool for the
// queue; an explicit limit under one target is a warning naming the port.
TEST_F(RouterRing, LimitAutoSizesTheQueueForItsRateAndAShortLimitWarns)
{
	const std::string ports = "[[ports]]\nname = \"west\"\ndevice = \"WEST\"\npeer = \"east\"\naqm = \"none\"\n"
				  "[[ports]]\nname = \"east\"\ndevice = \"EAST\"\npeer = \"west\"\nrate = \"500mbit\"\n"
				  "aqm = \"dualpi2\"\n";
	RouterConfig cfg;
	ASSERT_EQ(parse_router_config(ports + "[router]\nmbufs = \"auto\"\n", "test.toml", cfg), "");
	cfg.ports[0].device = west_name;
	cfg.ports[1].device = east_name;
	ASSERT_EQ(router.init(cfg), "");
	// 4 x 15 ms x 500 Mbit/s / (64 x 8 bits) = 58,594 packets.
	EXPECT_EQ(east_port().limit_pkts, 58594u);
	EXPECT_EQ(std::visit([](const auto &q) { return q.params().limit_pkts; }, east_port().aqm[0]), 58594u);
	EXPECT_GE(rte_mempool_avail_count(router.mempool()), 58594u);
	EXPECT_TRUE(router.warnings().empty());
	router.shutdown();

	// limit 1000 is 1 ms at 500 Mbit/s of 64-byte frames: the router says so.
	RouterConfig shortq;
	ASSERT_EQ(parse_router_config(ports + "[ports.dualpi2]\nlimit = 1000\n", "test.toml", shortq), "");
	shortq.ports[0].device = west_name;
	shortq.ports[1].device = east_name;
	ASSERT_EQ(router.init(shortq), "");
	EXPECT_EQ(east_port().limit_pkts, 1000u);
	ASSERT_EQ(router.warnings().size(), 1u);
	EXPECT_NE(router.warnings()[0].find("port 'east': limit 1000 packets is shorter than one target"),
		  std::string::npos)
		<< router.warnings()[0];
	router.shutdown();

	// A queue_memory too small for auto: the limit fits it, and a warning says so.
	RouterConfig small;
	ASSERT_EQ(parse_router_config(ports + "[router]\nqueue_memory = \"16mb\"\n", "test.toml", small), "");
	small.ports[0].device = west_name;
	small.ports[1].device = east_name;
	ASSERT_EQ(router.init(small), "");
	EXPECT_LT(east_port().limit_pkts, 16u << 20 >> 11); // under 16 MB of 2 kB mbufs
	ASSERT_EQ(router.warnings().size(), 1u);
	EXPECT_NE(router.warnings()[0].find("raise [router] queue_memory"), std::string::npos) << router.warnings()[0];
}

#if defined(__SANITIZE_ADDRESS__)
constexpr uint64_t kStandingQueuePackets = 1000000; // ASan: the same test, smaller
#else
constexpr uint64_t kStandingQueuePackets = 100000000;
#endif

// Conservation with a standing queue at DualPI2's target, the queue sized by
// limit = "auto" and the pool by mbufs = "auto": 10^8 packets of a random mix
// (malformed frames included) offered at 1.5x the shaped rate. Every packet is
// forwarded or a counted drop or still queued; no queue overflows (the AQM,
// not the limit nor the pool, bounds the queue); the Classic queue stands
// near its 15 ms target; no mbuf leaks.
TEST_F(RouterRing, AHundredMillionPacketsThroughAStandingQueueAreAllAccountedFor)
{
	RouterConfig cfg;
	ASSERT_EQ(parse_router_config("[[ports]]\nname = \"west\"\ndevice = \"W\"\npeer = \"east\"\naqm = \"none\"\n"
				      "[[ports]]\nname = \"east\"\ndevice = \"E\"\npeer = \"west\"\nrate = \"200mbit\"\n"
				      "aqm = \"dualpi2\"\n",
				      "test.toml", cfg),
		  "");
	cfg.ports[0].device = west_name;
	cfg.ports[1].device = east_name;
	ASSERT_EQ(router.init(cfg), "");
	const std::vector<std::vector<uint8_t>> templates = {
		ipv4_frame(Ecn::not_ect, 0, 0x2e, 1000), ipv4_frame(Ecn::ect1, 0, 0x2e, 200), ipv6_frame(Ecn::ect1, 0, 64), ipv4_frame(Ecn::ect0, 0, 0x2e, 1400),
		ipv6_frame(Ecn::not_ect, 0, 500),  ipv4_frame(Ecn::ce, 0, 0x2e, 100),   arp_frame(),           std::vector<uint8_t>(12, 9)};
	aqm::Rng rng(17);
	uint64_t injected = 0, received = 0, now = 1000;
	// The valid frames average ~480 bytes: 200 Mbit/s is ~52 kpps, 1.5x that
	// is 32 frames every 400 us.
	while (injected < kStandingQueuePackets) {
		ASSERT_NO_FATAL_FAILURE(inject_random(west.rx[0], templates, rng,
						      static_cast<unsigned>(std::min<uint64_t>(32, kStandingQueuePackets - injected)),
						      injected));
		now += 400000;
		router.poll(now);
		received += drain_count(east);
	}
	const aqm::DelayHistogram &classic = east_port().sojourn[0];
	const uint64_t p50 = classic.percentile_ns(0.5);
	received += settle(router, east, now, 2000);
	const PortStats in = router.port_stats(0);
	const PortStats out = router.port_stats(1);
	EXPECT_EQ(in.rx_pkts, kStandingQueuePackets);
	EXPECT_EQ(out.tx_pkts, received);
	EXPECT_GT(out.aqm_drops, 0u);
	EXPECT_GT(out.marked, 0u);
	EXPECT_EQ(out.overflow_drops, 0u);
	// Near the target: PI2 holds the Classic queue's delay around 15 ms.
	EXPECT_GT(p50, 7500000u);
	EXPECT_LT(p50, 30000000u);
	EXPECT_EQ(in.rx_pkts, out.tx_pkts + in.dropped() + out.dropped() + router.queued_pkts());
	router.shutdown();
	EXPECT_EQ(rte_mempool_in_use_count(test_pool), 0u);
}

// The telemetry commands answer on EAL's socket, as dpdk-telemetry.py reads them.
std::string telemetry_query(const std::string &command)
{
	const std::string path = std::string(rte_eal_get_runtime_dir()) + "/dpdk_telemetry.v2";
	const int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	sockaddr_un addr{};
	addr.sun_family = AF_UNIX;
	std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
	if (connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0) {
		close(fd);
		return "cannot connect to " + path;
	}
	std::vector<char> buf(65536);
	ssize_t n = read(fd, buf.data(), buf.size()); // the greeting: version, pid, max_output_len
	if (n <= 0 || write(fd, command.data(), command.size()) != static_cast<ssize_t>(command.size())) {
		close(fd);
		return "no greeting or write failed";
	}
	n = read(fd, buf.data(), buf.size());
	close(fd);
	return n > 0 ? std::string(buf.data(), static_cast<size_t>(n)) : "no reply";
}

TEST_F(RouterRing, TelemetryReportsPortsAndTheAqm)
{
	ASSERT_EQ(start("aqm = \"dualpi2\"\n"), "");
	ASSERT_EQ(publish_telemetry(&router), "");
	inject(west, {ipv4_frame(Ecn::ect1), ipv4_frame(Ecn::not_ect), std::vector<uint8_t>(5, 0)});
	router.poll(1000);
	const auto stats = nlohmann::json::parse(telemetry_query("/dualpilot/stats"), nullptr, false);
	ASSERT_FALSE(stats.is_discarded());
	EXPECT_EQ(stats["/dualpilot/stats"]["west"]["rx_pkts"], 3);
	EXPECT_EQ(stats["/dualpilot/stats"]["west"]["malformed"], 1);
	EXPECT_EQ(stats["/dualpilot/stats"]["east"]["tx_pkts"], 2);
	const auto aqm = nlohmann::json::parse(telemetry_query("/dualpilot/aqm,east"), nullptr, false);
	ASSERT_FALSE(aqm.is_discarded());
	EXPECT_EQ(aqm["/dualpilot/aqm"]["aqm"], "dualpi2");
	EXPECT_EQ(aqm["/dualpilot/aqm"]["l4s_forwarded_pkts"], 1);
	EXPECT_EQ(aqm["/dualpilot/aqm"]["classic_forwarded_pkts"], 1);
	EXPECT_TRUE(aqm["/dualpilot/aqm"].contains("prob_base_ppm"));
	const auto unknown = nlohmann::json::parse(telemetry_query("/dualpilot/aqm,nosuch"), nullptr, false);
	EXPECT_TRUE(unknown["/dualpilot/aqm"].is_null());
	publish_telemetry(nullptr);
	const auto gone = nlohmann::json::parse(telemetry_query("/dualpilot/stats"), nullptr, false);
	EXPECT_TRUE(gone["/dualpilot/stats"].is_null());
}

// ---- the policy path ----

// A model whose head leans hard one way: bias added to one action's logit.
policy::Model leaning_weights(int action, float bias, bool nan = false)
{
	policy::ModelConfig c;
	c.feature_count = sim::kFeatureCount;
	c.feature_embed = 4;
	c.d_model = 16;
	c.layers = 1;
	c.heads = 2;
	c.window = 8;
	c.mlp_hidden = 32;
	c.kernels.assign(c.feature_count, 1);
	c.feature_names.assign(sim::kFeatureNames.begin(), sim::kFeatureNames.end());
	c.rtg_scale = 1000;
	policy::Model m = policy::random_model(c, 3);
	m.find("head.b")->values[static_cast<size_t>(action)] += bias;
	if (nan)
		m.find("head.w")->values[5] = std::nanf("");
	return m;
}

std::unique_ptr<policy::Backend> leaning_model(int action, float bias, bool nan = false)
{
	return std::make_unique<policy::CpuBackend>(leaning_weights(action, bias, nan));
}

std::string policy_toml(const std::string &mode, const std::string &extra = "",
			const std::string &model = "in-memory.dpm")
{
	return R"(
[[ports]]
name = "west"
device = "WEST"
peer = "east"
aqm = "fifo"
[[ports]]
name = "east"
device = "EAST"
peer = "west"
aqm = "dualpi2"
[policy]
mode = ")" + mode + R"("
model = ")" + model + R"("
inference_interval = 1
min_delay = "0s"
)" + extra;
}

// Injects n frames of one kind into west and runs the router at time now.
uint64_t push_through(Router &router, const RingPort &west, const RingPort &east, const std::vector<uint8_t> &frame,
		      unsigned n, uint64_t now)
{
	for (unsigned i = 0; i < n; i += 32) {
		std::vector<std::vector<uint8_t>> burst(std::min(32u, n - i), frame);
		inject(west, burst);
		router.poll(now);
	}
	return drain_count(east);
}

// The policy worker never runs: its ring fills and the samples beyond it are
// counted as lost; every packet still goes through.
TEST_F(RouterRing, AStalledPolicyWorkerLosesSamplesNotPackets)
{
	ASSERT_EQ(start_toml(policy_toml("shadow", "ring_size = 64\n")), "");
	const uint64_t out = push_through(router, west, east, ipv4_frame(Ecn::ect0), 2000, 1000);
	const PortStats e = router.port_stats(1);
	EXPECT_EQ(out, 2000u);
	EXPECT_EQ(e.tx_pkts, 2000u);
	EXPECT_EQ(e.samples + e.sample_drops, 2000u);
	EXPECT_LE(e.samples, 64u);
	EXPECT_GT(e.sample_drops, 1900u);
}

// Enforce: a policy that wants to drop everything is capped at max_prob and
// turns L4S drops into marks; once it stops publishing, its override expires
// within the TTL and DualPI2 alone decides again (no drops at this load).
TEST_F(RouterRing, EnforcedOverridesAreGuardedAndExpire)
{
	ASSERT_EQ(start_toml(policy_toml("enforce", "override_ttl = \"20ms\"\nmax_prob = 0.5\n")), "");
	PolicyWorker policy;
	policy.init(router.config().policy, router, leaning_model(1, 20));
	ASSERT_EQ(policy.mode(), PolicyMode::enforce);
	uint64_t now = 1000;
	push_through(router, west, east, ipv4_frame(Ecn::not_ect), 64, now);
	policy.poll(now); // publishes for the C queue: p_drop capped at 0.5
	push_through(router, west, east, ipv4_frame(Ecn::ect1), 64, now);
	policy.poll(now); // and for the L queue
	ASSERT_GE(policy.stats().published, 2u);
	const PortStats before = router.port_stats(1);
	now += 1000000; // 1 ms later: within the TTL
	const uint64_t c_out = push_through(router, west, east, ipv4_frame(Ecn::not_ect), 10000, now);
	const uint64_t l_out = push_through(router, west, east, ipv4_frame(Ecn::ect1), 10000, now);
	const PortStats during = router.port_stats(1);
	// About half the Classic packets dropped (10000 * 0.5 +- 5 sigma).
	EXPECT_NEAR(static_cast<double>(during.aqm_drops - before.aqm_drops), 5000, 250);
	EXPECT_EQ(c_out, 10000 - (during.aqm_drops - before.aqm_drops));
	// No L4S packet dropped: marked instead.
	EXPECT_EQ(l_out, 10000u);
	EXPECT_NEAR(static_cast<double>(during.marked - before.marked), 5000, 250);
	// The policy stops; 20 ms on, the overrides have expired.
	now += 25000000;
	const uint64_t after_out = push_through(router, west, east, ipv4_frame(Ecn::not_ect), 10000, now);
	const PortStats after = router.port_stats(1);
	EXPECT_EQ(after_out, 10000u);
	EXPECT_EQ(after.aqm_drops, during.aqm_drops);
	EXPECT_EQ(after.overridden, during.overridden);
}

// A model that computes NaN publishes nothing: the AQM decides alone.
TEST_F(RouterRing, NonFiniteOutputsAreNeverPublished)
{
	ASSERT_EQ(start_toml(policy_toml("enforce")), "");
	PolicyWorker policy;
	policy.init(router.config().policy, router, leaning_model(1, 20, true));
	push_through(router, west, east, ipv4_frame(Ecn::not_ect), 256, 1000);
	policy.poll(1000);
	const uint64_t out = push_through(router, west, east, ipv4_frame(Ecn::not_ect), 5000, 2000);
	EXPECT_GT(policy.stats().invalid_outputs, 0u);
	EXPECT_EQ(policy.stats().published, 0u);
	EXPECT_EQ(out, 5000u);
	EXPECT_EQ(router.port_stats(1).overridden, 0u);
}

// The harm guard (policy/harm_guard.hpp): a model that marks everything it
// may, on a queue that never stands (DualPI2 itself marks nothing), is backed
// off within two guard intervals (200 ms each) of its first override; its
// override is withdrawn at once, the back-off is counted (pilot_backoffs),
// and the queue's packets go unmarked for the back-off (1 s).
TEST_F(RouterRing, AMarkEverythingModelIsBackedOffByTheHarmGuard)
{
	ASSERT_EQ(start_toml(policy_toml("enforce", "override_ttl = \"1s\"\nmax_prob = 0.5\n")), "");
	PolicyWorker policy;
	policy.init(router.config().policy, router, leaning_model(2, 20));
	ASSERT_EQ(policy.mode(), PolicyMode::enforce);
	const uint64_t step = 10000000; // 10 ms between bursts of 32 L4S frames
	uint64_t now = 1000000000, first_publish = 0, backed_off_at = 0;
	for (int i = 0; i < 100 && backed_off_at == 0; i++, now += step) {
		push_through(router, west, east, ipv4_frame(Ecn::ect1), 32, now);
		policy.poll(now);
		if (first_publish == 0 && policy.stats().published > 0)
			first_publish = now;
		if (policy.stats().pilot_backoffs > 0)
			backed_off_at = now;
	}
	ASSERT_NE(first_publish, 0u);
	ASSERT_NE(backed_off_at, 0u) << "never backed off; marked " << router.port_stats(1).marked;
	EXPECT_LE(backed_off_at - first_publish, 2 * 200000000ull + 2 * step);
	EXPECT_GT(router.port_stats(1).marked, 0u); // the model did act before
	const uint64_t published = policy.stats().published;
	const PortStats before = router.port_stats(1);
	for (int i = 0; i < 50; i++, now += step) { // 0.5 s: within the back-off
		push_through(router, west, east, ipv4_frame(Ecn::ect1), 32, now);
		policy.poll(now);
	}
	const PortStats after = router.port_stats(1);
	EXPECT_EQ(after.marked, before.marked);
	EXPECT_EQ(policy.stats().published, published);
	EXPECT_EQ(policy.stats().pilot_backoffs, 1u);
	EXPECT_NE(policy.summary().find("1 pilot_backoffs"), std::string::npos) << policy.summary();
}

// Shadow: the policy is scored against DualPI2 and changes nothing. One that
// always forwards agrees with DualPI2 on an uncongested queue.
TEST_F(RouterRing, ShadowModeScoresTheAgreementAndActsOnNothing)
{
	const std::string pool = ::testing::TempDir() + "/router_pool.dpp";
	ASSERT_EQ(start_toml(policy_toml("shadow", "pool_out = \"" + pool + "\"\n")), "");
	PolicyWorker policy;
	policy.init(router.config().policy, router, leaning_model(0, 20));
	uint64_t now = 1000;
	for (int round = 0; round < 20; round++) {
		push_through(router, west, east, ipv4_frame(round % 2 ? Ecn::ect1 : Ecn::not_ect), 100, now);
		policy.poll(now);
		now += 100000;
	}
	const PolicyStats s = policy.stats();
	EXPECT_EQ(s.samples, 2000u);
	EXPECT_EQ(s.scored, 1800u); // all but each queue's first round, before its first prediction
	EXPECT_EQ(s.agreed, s.scored);
	EXPECT_EQ(s.confusion[0][0], s.scored);
	EXPECT_EQ(s.published, 0u);
	EXPECT_EQ(router.port_stats(1).overridden, 0u);
	EXPECT_NE(policy.summary().find("agreement 100.00 %"), std::string::npos) << policy.summary();
	// The samples, as an experience pool the trainer reads.
	ASSERT_EQ(policy.finish(), "");
	sim::Pool back;
	ASSERT_EQ(sim::read_pool(pool, back), "");
	EXPECT_EQ(back.size(), 2000u);
	EXPECT_EQ(back.states[0 * sim::kFeatureCount], 0.0f); // the first sample: a Classic packet
	EXPECT_EQ(back.states[100 * sim::kFeatureCount], 1.0f); // an L4S one
}

// pool_rotate: the policy worker keeps a pool per egress port and writes
// each full one into the pool_out directory while it runs (64kb: 1715
// entries), the rest at exit; names say the router, the port and the time.
TEST_F(RouterRing, RotatedPoolsAreWrittenPerPortWhileRunning)
{
	const std::string dir = ::testing::TempDir() + "/router_pools_" + std::to_string(::getpid());
	std::filesystem::remove_all(dir);
	ASSERT_EQ(start_toml(policy_toml("shadow", "pool_out = \"" + dir + "\"\npool_rotate = \"64kb\"\n")), "");
	PolicyWorker policy;
	policy.init(router.config().policy, router, leaning_model(0, 20));
	ASSERT_EQ(policy.error(), "");
	uint64_t now = 1000;
	for (int round = 0; round < 20; round++) {
		push_through(router, west, east, ipv4_frame(Ecn::ect1), 100, now);
		policy.poll(now);
		now += 100000;
	}
	ASSERT_EQ(policy.finish(), "");
	EXPECT_EQ(policy.stats().pool_files, 2u);
	std::vector<size_t> sizes;
	for (const auto &e : std::filesystem::directory_iterator(dir)) {
		const std::string name = e.path().filename().string();
		EXPECT_EQ(name.rfind(router.config().name + "-port1-", 0), 0u) << name;
		sim::Pool back;
		ASSERT_EQ(sim::read_pool(e.path().string(), back), "") << name;
		sizes.push_back(back.size());
	}
	std::sort(sizes.begin(), sizes.end());
	EXPECT_EQ(sizes, (std::vector<size_t>{285, 1715}));
	std::filesystem::remove_all(dir);
}

// backend "gpu" where the engine cannot start (no GPU here, or a build
// without CUDA): said once, and the cpu backend runs the same model; with
// gpu_fallback "none" the AQMs decide alone. Where a GPU is present the gpu
// backend runs and publishes the same way.
class RouterRingGpu : public RouterRing {
protected:
	void gpu_unavailable(const std::string &fallback)
	{
		const std::string model = ::testing::TempDir() + "/router_gpu_model.dpm";
		ASSERT_EQ(policy::write_model(leaning_weights(1, 20), model), "");
		ASSERT_EQ(start_toml(policy_toml("enforce", "backend = \"gpu\"\ngpu_fallback = \"" + fallback + "\"\n",
						 model)),
			  "");
		PolicyWorker policy;
		policy.init(router.config().policy, router);
		if (std::string(policy.backend_name()) == "gpu") {
			EXPECT_EQ(policy.error(), "");
		} else if (fallback == "cpu") {
			EXPECT_EQ(std::string(policy.backend_name()), "cpu");
			EXPECT_EQ(policy.mode(), PolicyMode::enforce);
			EXPECT_NE(policy.error().find("backend gpu unavailable ("), std::string::npos) << policy.error();
			EXPECT_NE(policy.error().find("): the cpu backend runs the policy"), std::string::npos);
		} else {
			EXPECT_EQ(policy.mode(), PolicyMode::off);
			EXPECT_NE(policy.error().find("policy off, the AQMs decide alone: backend gpu unavailable"),
				  std::string::npos)
				<< policy.error();
		}
		EXPECT_EQ(push_through(router, west, east, ipv4_frame(Ecn::not_ect), 64, 1000), 64u);
		policy.poll(1000);
		policy.flush(1000);
		EXPECT_EQ(policy.stats().published > 0, policy.mode() == PolicyMode::enforce);
	}

	void fails_mid_run(const std::string &fallback);
};

TEST_F(RouterRingGpu, AGpuBackendThatCannotStartHandsThePolicyToTheCpuBackend) { gpu_unavailable("cpu"); }
TEST_F(RouterRingGpu, AGpuBackendThatCannotStartLeavesTheAqmsAloneWithoutAFallback) { gpu_unavailable("none"); }

// A backend that works for two passes and then fails as a lost GPU would.
class FailingBackend final : public policy::Backend {
public:
	explicit FailingBackend(const policy::Model &m) : model_(m), cpu_(m) {}
	const char *name() const override { return "gpu"; }
	const policy::ModelConfig &config() const override { return cpu_.config(); }
	size_t pass_slots() const override { return 2; }
	bool submit(const policy::Window *w, size_t n) override
	{
		if (++passes_ > 2) {
			error_ = "cudaGraphLaunch: unspecified launch failure";
			return false;
		}
		return cpu_.submit(w, n);
	}
	bool collect(policy::Probs *out) override { return cpu_.collect(out); }
	std::unique_ptr<policy::Backend> fallback() const override { return std::make_unique<policy::CpuBackend>(model_); }

private:
	policy::Model model_;
	policy::CpuBackend cpu_;
	int passes_ = 0;
};

// The backend fails mid-run: reported once, the fallback decides from then
// on (the queues of the lost pass included), and with gpu_fallback "none"
// the AQMs alone decide once the overrides expire; the router forwards
// every packet throughout.
void RouterRingGpu::fails_mid_run(const std::string &fallback)
{
	ASSERT_EQ(start_toml(policy_toml("enforce", "gpu_fallback = \"" + fallback + "\"\n")), "");
	PolicyWorker policy;
	policy.init(router.config().policy, router, std::make_unique<FailingBackend>(leaning_weights(1, 20)));
	uint64_t now = 1000, forwarded = 0;
	for (int round = 0; round < 6; round++) {
		forwarded += push_through(router, west, east, ipv4_frame(Ecn::ect1), 32, now);
		policy.poll(now);
		now += 1000000;
	}
	const PolicyStats s = policy.stats();
	EXPECT_EQ(s.backend_failures, 1u);
	EXPECT_NE(s.backend_failure.find("backend gpu failed (cudaGraphLaunch: unspecified launch failure)"),
		  std::string::npos)
		<< s.backend_failure;
	EXPECT_EQ(forwarded, 6u * 32); // L4S: marked, never dropped
	if (fallback == "cpu") {
		EXPECT_EQ(std::string(s.backend), "cpu");
		EXPECT_EQ(policy.mode(), PolicyMode::enforce);
		EXPECT_EQ(s.forward_passes, 6u); // two on the failing backend, four on the cpu one
		EXPECT_NE(policy.summary().find("policy backend failures: 1; backend gpu failed"), std::string::npos);
	} else {
		EXPECT_EQ(std::string(s.backend), "none");
		EXPECT_EQ(policy.mode(), PolicyMode::off);
		EXPECT_EQ(s.forward_passes, 2u);
		// 25 ms on, the last override has expired: DualPI2 alone marks nothing at this load.
		const PortStats before = router.port_stats(1);
		EXPECT_EQ(push_through(router, west, east, ipv4_frame(Ecn::ect1), 1000, now + 25000000), 1000u);
		EXPECT_EQ(router.port_stats(1).overridden, before.overridden);
	}
}

TEST_F(RouterRingGpu, ABackendThatFailsMidRunIsReplacedByTheCpuBackend) { fails_mid_run("cpu"); }
TEST_F(RouterRingGpu, ABackendThatFailsMidRunLeavesTheAqmsAloneWithoutAFallback) { fails_mid_run("none"); }

// A model file that cannot be used leaves the router to its AQMs.
TEST_F(RouterRing, ABadModelFileLeavesTheAqmsInCharge)
{
	ASSERT_EQ(start_toml(policy_toml("enforce")), "");
	PolicyWorker policy;
	policy.init(router.config().policy, router);
	EXPECT_EQ(policy.mode(), PolicyMode::off);
	EXPECT_EQ(policy.error(), "policy off, the AQMs decide alone: in-memory.dpm: cannot open");
	EXPECT_EQ(push_through(router, west, east, ipv4_frame(Ecn::not_ect), 1000, 1000), 1000u);
}

TEST_F(RouterRing, BadPortsAreRefusedWithTheirName)
{
	RouterConfig cfg;
	ASSERT_EQ(parse_router_config("[[ports]]\nname = \"a\"\ndevice = \"net_nosuch0\"\npeer = \"b\"\n"
				      "[[ports]]\nname = \"b\"\ndevice = \"" + east_name + "\"\npeer = \"a\"\n",
				      "t.toml", cfg),
		  "");
	cfg.mbufs = 4096;
	const std::string err = router.init(cfg);
	EXPECT_NE(err.find("port 'a': device 'net_nosuch0': cannot probe it"), std::string::npos) << err;
}

} // namespace
} // namespace dualpilot::dataplane

// EAL comes up once per process, without hugepages or PCI; where it cannot
// (a sandbox without the rights), the suite is skipped, not failed.
int main(int argc, char **argv)
{
	::testing::InitGoogleTest(&argc, argv);
	const std::string prefix = "--file-prefix=dualpilot_test_" + std::to_string(getpid());
	const char *eal[] = {"test", "--no-huge", "-m", "512", "--no-pci", "-l", "0", "--log-level=lib.eal:error",
			     prefix.c_str()};
	if (rte_eal_init(static_cast<int>(sizeof(eal) / sizeof(eal[0])), const_cast<char **>(eal)) < 0) {
		std::fprintf(stderr, "skipped: DPDK EAL cannot start here (%s)\n", rte_strerror(rte_errno));
		return 77;
	}
	dualpilot::dataplane::test_pool = rte_pktmbuf_pool_create("test_pool", 32768, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
								   static_cast<int>(rte_socket_id()));
	if (!dualpilot::dataplane::test_pool) {
		std::fprintf(stderr, "skipped: no memory for the test's mbuf pool\n");
		return 77;
	}
	const int rc = RUN_ALL_TESTS();
	rte_eal_cleanup();
	return rc;
}
