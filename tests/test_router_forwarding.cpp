// The router forwarding between two net_ring ports: each frame to the queue
// its ECN codepoint says, CE marks with a valid checksum, the delay line,
// malformed frames counted and dropped, l3 routing, tx byte counts, and
// ports that cannot be probed refused by name.
#include "names.hpp"
#include "ring_bed.hpp"

namespace dualpilot::dataplane::bed {
namespace {

TEST_F(RouterRing, FramesLandInTheQueueTheirEcnSays)
{
	ASSERT_EQ(start("aqm = \"dualpi2\"\n"), "");
	inject(west, {ipv4_frame(Ecn::not_ect, 0, 0x2e, 1000), ipv4_frame(Ecn::ect0, 0, 0x2e, 1000), ipv4_frame(Ecn::ect1, 0, 0x2e, 1000), ipv4_frame(Ecn::ce, 0, 0x2e, 1000), ipv6_frame(Ecn::ect1, 0, 1000),
		      ipv6_frame(Ecn::not_ect, 0, 1000), ipv4_frame(Ecn::ect1, 1, 0x2e, 100), arp_frame()});
	router.poll(1000);
	const auto c = aqm::counters(*router.queue(1).aqm);
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
	const aqm::DelayHistogram &l = router.queue(1).sojourn[static_cast<int>(aqm::QueueId::l4s)];
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
	EXPECT_LT(router.queue(1).sojourn[0].max_ns(), 1000000u);
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
	ASSERT_EQ(start_toml(dualpi2_pair_toml(a + ",size=64", b + ",size=1000", "1gbit")), "");
	uint64_t now = 1000;
	for (int i = 0; i < 50000; i++) { // 100 ms of virtual time: 12,500 1000-byte frames at 1 Gbit/s
		now += 2000;
		router.poll(now);
	}
	for (size_t p = 0; p < 2; p++) {
		const PortStats s = router.port_stats(p);
		const auto c = aqm::counters(*router.queue(p).aqm);
		EXPECT_GT(s.tx_pkts, 5000u);
		EXPECT_EQ(s.tx_pkts, c[0].forwarded_pkts + c[1].forwarded_pkts);
		EXPECT_EQ(s.tx_bytes, c[0].forwarded_bytes + c[1].forwarded_bytes) << "port " << p;
		EXPECT_EQ(s.tx_bytes, s.tx_pkts * (p == 0 ? 1000u : 64u)); // east's frames leave by west
	}
	router.shutdown();
	close_ethdev(a);
	close_ethdev(b);
}

TEST_F(RouterRing, BadPortsAreRefusedWithTheirName)
{
	RouterConfig cfg;
	ASSERT_EQ(parse_router_config("[[ports]]\nname = \"a\"\ndevice = \"net_nosuch0\"\npeer = \"b\"\n"
				      "[[ports]]\nname = \"b\"\ndevice = \"" + east.ethdev + "\"\npeer = \"a\"\n",
				      "t.toml", cfg),
		  "");
	cfg.mbufs = 4096;
	const std::string err = router.init(cfg);
	EXPECT_TRUE(names(err, {"port 'a'", "device 'net_nosuch0'"}));
}
} // namespace
} // namespace dualpilot::dataplane::bed

int main(int argc, char **argv) { return dualpilot::dataplane::bed::run_with_eal(argc, argv, false); }
