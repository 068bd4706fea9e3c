// dualpilot-trafficgen through dualpilot-router in one process, over net_ring
// ports: the generator sends into the router's west port, the router's
// shaped east port (DualPI2) delivers to the receiver. Every frame sent is
// either received or one of the router's counted drops, and what the
// receiver reports per class (CE marks, losses) is what DualPI2's L4S and
// Classic queues did.
#include <gtest/gtest.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <filesystem>
#include <unistd.h>

#include "common/eal_args.hpp"
#include "dataplane/router.hpp"
#include "perf/trafficgen/generator.hpp"
#include "perf/trafficgen/port.hpp"
#include "perf/trafficgen/receiver.hpp"
#include "perf/trafficgen/report.hpp"

namespace dualpilot::trafficgen {
namespace {

rte_mempool *tx_pool = nullptr;
rte_mempool *rx_pool = nullptr;

rte_ring *ring(const std::string &name)
{
	rte_ring *r = rte_ring_create(name.c_str(), 16384, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	EXPECT_NE(r, nullptr) << name;
	return r;
}

uint16_t ring_port(const std::string &name, rte_ring *rx, rte_ring *tx)
{
	EXPECT_GE(rte_eth_from_rings(name.c_str(), &rx, 1, &tx, 1, static_cast<unsigned>(rte_socket_id())), 0);
	uint16_t id = 0;
	EXPECT_EQ(rte_eth_dev_get_port_by_name(("net_ring_" + name).c_str(), &id), 0);
	return id;
}

// generator -> [to_router] -> west | router | east -> [to_receiver] -> receiver
struct Bed {
	uint16_t gen_port = 0, rx_port = 0;
	dataplane::Router router;
	std::string west, east;

	explicit Bed(const std::string &id)
	{
		rte_ring *to_router = ring("tr" + id), *to_receiver = ring("trv" + id);
		gen_port = ring_port("tg_tx" + id, ring("tgi" + id), to_router);
		rx_port = ring_port("tg_rx" + id, to_receiver, ring("tgo" + id));
		west = "net_ring_w" + id;
		east = "net_ring_e" + id;
		ring_port("w" + id, to_router, ring("wo" + id));
		ring_port("e" + id, ring("ei" + id), to_receiver);
	}
	~Bed()
	{
		router.shutdown();
		for (uint16_t p : {gen_port, rx_port}) {
			rte_eth_dev_stop(p);
			rte_eth_dev_close(p);
		}
	}
	std::string start(const std::string &east_rate)
	{
		const std::string toml = "[router]\nmbufs = 8192\n[[ports]]\nname = \"west\"\ndevice = \"" + west +
					 "\"\npeer = \"east\"\naqm = \"fifo\"\n[[ports]]\nname = \"east\"\ndevice = \"" + east +
					 "\"\npeer = \"west\"\nrate = \"" + east_rate + "\"\naqm = \"dualpi2\"\n";
		dataplane::RouterConfig cfg;
		if (std::string err = dataplane::parse_router_config(toml, "bed.toml", cfg); !err.empty())
			return err;
		if (std::string err = router.init(cfg); !err.empty())
			return err;
		if (std::string err = start_port(gen_port, nullptr, 1000); !err.empty())
			return err;
		return start_port(rx_port, rx_pool, 1000);
	}
	// Sends spec through the router: generator, router and receiver take turns
	// on this thread until the generator is done and the router's queues are
	// empty. Error text or empty.
	std::string run(const TrafficSpec &spec)
	{
		clock = Clock::anchored();
		if (std::string err = gen.init(spec, gen_port, 0, tx_pool, clock); !err.empty())
			return err;
		rx.init(rx_port, 0, 32, clock);
		gen.start(rte_rdtsc());
		bool done = false;
		uint64_t idle_since = 0;
		for (;;) {
			const uint64_t now = rte_rdtsc();
			if (!done && gen.finished(now)) {
				gen.stop();
				done = true;
			}
			if (!done)
				gen.poll(now);
			const uint32_t moved = router.poll(router.now_ns());
			const uint16_t got = rx.poll();
			if (done && !moved && !got && router.queued_pkts() == 0) {
				if (!idle_since)
					idle_since = now;
				else if (now - idle_since > clock.tsc_of_ns(20000000))
					return {};
			} else {
				idle_since = 0;
			}
		}
	}

	Clock clock;
	Generator gen;
	Receiver rx;
};

TEST(TrafficgenThroughRouter, EveryFrameIsReceivedOrACountedDrop)
{
	Bed bed("a");
	ASSERT_EQ(bed.start("10mbit"), "");
	// 16 Mbit/s offered to a 10 Mbit/s bottleneck for 1.5 s: DualPI2 marks
	// the L4S flow, marks the Classic ECN flow and drops the Not-ECT one.
	TrafficSpec spec;
	for (const char *f : {"name=l4s,size=1000,rate=6mbit,ecn=ect1", "name=classic-ecn,size=1000,rate=4mbit,ecn=ect0",
			      "name=classic,size=imix,rate=6mbit,ecn=not-ect,dst=[2001:db8::9]:80"})
		ASSERT_EQ(parse_flow_shorthand(f, spec), "");
	spec.duration_ns = 1500000000;
	ASSERT_EQ(bed.run(spec), "");
	const Generator &gen = bed.gen;
	const Receiver &rx = bed.rx;

	const Report r = make_report(spec, &gen, &rx, 1.5);
	const dataplane::PortStats west = bed.router.port_stats(0), east = bed.router.port_stats(1);
	const uint64_t sent = gen.counters().pkts;
	ASSERT_GT(sent, 2000u);
	EXPECT_EQ(gen.counters().unsent, 0u);
	// The router saw every frame sent, and every one is received or a drop it counted.
	EXPECT_EQ(west.rx_pkts, sent);
	EXPECT_EQ(sent, r.total.received + west.dropped() + east.dropped());
	EXPECT_GT(east.dropped(), 0u);
	EXPECT_EQ(rx.counters().foreign + rx.counters().malformed, 0u);

	// Per class, as the receiver saw it, against DualPI2's own queue counters.
	const auto q = aqm::counters(*bed.router.queue(1).aqm);
	const auto &classes = rx.classes();
	const int l4s = static_cast<int>(aqm::Ecn::ect1), ect0 = static_cast<int>(aqm::Ecn::ect0),
		  not_ect = static_cast<int>(aqm::Ecn::not_ect);
	EXPECT_EQ(classes[l4s].pkts, q[1].forwarded_pkts);
	EXPECT_EQ(classes[l4s].ce, q[1].ce_marks);
	EXPECT_EQ(classes[ect0].pkts + classes[not_ect].pkts, q[0].forwarded_pkts);
	EXPECT_EQ(classes[ect0].ce, q[0].ce_marks);
	EXPECT_EQ(classes[not_ect].ce, 0u);       // never marked: dropped instead
	EXPECT_GT(classes[l4s].ce, classes[l4s].pkts / 2); // L4S: marked at a shallow threshold
	EXPECT_GT(classes[ect0].ce, 0u);
	for (const ClassRxStats &c : classes)
		EXPECT_EQ(c.bleached + c.changed, 0u);
	// Losses per class are the queues' drops: L4S's in the L queue, the rest in the Classic one.
	for (const ClassReport &c : r.classes) {
		ASSERT_TRUE(c.lost.has_value());
		if (c.name == std::string("ect1")) {
			EXPECT_EQ(static_cast<uint64_t>(*c.lost), q[1].aqm_drops + q[1].overflow_drops);
		}
	}
	int64_t classic_lost = 0;
	for (const ClassReport &c : r.classes)
		if (c.name != std::string("ect1"))
			classic_lost += *c.lost;
	EXPECT_EQ(static_cast<uint64_t>(classic_lost), q[0].aqm_drops + q[0].overflow_drops);
	// Per flow: sequence numbers arrive in order (one path, FIFO within a queue).
	for (const FlowRxStats &f : rx.flows())
		EXPECT_EQ(f.late, 0u);
	// The bottleneck's rate is what came out, within the shaper's burst.
	EXPECT_NEAR(static_cast<double>(r.total.bytes) * 8 / 1.5 / 1e6, 10.0, 1.5);
}

TEST(TrafficgenThroughRouter, UnshapedNothingIsLostAndLatencyIsMeasured)
{
	Bed bed("b");
	ASSERT_EQ(bed.start("line"), "");
	TrafficSpec spec;
	ASSERT_EQ(parse_flow_shorthand("size=imix,rate=20kpps,ecn=ect1:1/ect0:1/not-ect:2,count=9600", spec), "");
	ASSERT_EQ(parse_flow_shorthand("dst=[2001:db8::1]:9,size=200,rate=5kpps,ecn=ce,count=2000", spec), "");
	spec.duration_ns = 3000000000;
	ASSERT_EQ(bed.run(spec), "");
	const Generator &gen = bed.gen;
	const Receiver &rx = bed.rx;
	const Report r = make_report(spec, &gen, &rx, 0.4);
	EXPECT_EQ(gen.counters().pkts, 11600u);
	EXPECT_EQ(r.total.received, 11600u);
	EXPECT_EQ(*r.total.lost, 0);
	// The mix is exact over whole cycles (IMIX 12 x ECN 4 = 48 frames; 9600
	// is 200 of them): 2400 ECT(1), 2400 ECT(0), 4800 Not-ECT; 2000 sent CE.
	EXPECT_EQ(rx.classes()[static_cast<int>(aqm::Ecn::ect1)].pkts, 2400u);
	EXPECT_EQ(rx.classes()[static_cast<int>(aqm::Ecn::ect0)].pkts, 2400u);
	EXPECT_EQ(rx.classes()[static_cast<int>(aqm::Ecn::not_ect)].pkts, 4800u);
	EXPECT_EQ(rx.classes()[static_cast<int>(aqm::Ecn::ce)].pkts, 2000u);
	EXPECT_EQ(rx.classes()[static_cast<int>(aqm::Ecn::ce)].ce, 0u); // sent CE, not marked on the way
	EXPECT_EQ(rx.counters().negative_latency, 0u);
	EXPECT_GT(r.total.latency.samples, 0u);
	EXPECT_GT(r.total.latency.max_us, 0.0);
	const nlohmann::json j = to_json(r);
	EXPECT_EQ(j["total"]["received"], 11600);
	EXPECT_EQ(j["flows"].size(), 2u);
	EXPECT_TRUE(j["flows"][0]["loss_exact"].get<bool>());
}

TEST(TrafficgenThroughRouter, LossIsEstimatedFromSequenceNumbersWithoutTheSender)
{
	// A receiver on its own (another host) sees only the frames: loss comes
	// from the gaps in each flow's sequence numbers.
	const TrafficSpec none;
	Receiver rx;
	const Clock clock{};
	rx.init(0, 0, 32, clock);
	TrafficSpec spec;
	ASSERT_EQ(parse_flow_shorthand("size=100", spec), "");
	const FrameTemplate t = build_templates(spec.flows[0], 0)[0];
	std::vector<uint8_t> frame(128);
	for (uint32_t seq : {0u, 1u, 2u, 5u, 4u, 9u}) { // 3, 6, 7, 8 lost; 4 late
		write_frame(frame.data(), t, seq, 10);
		rx.account(frame.data(), t.frame_len, 20);
	}
	const Report r = make_report(none, nullptr, &rx, 1);
	ASSERT_EQ(r.flows.size(), 1u);
	EXPECT_FALSE(r.flows[0].sent.has_value());
	EXPECT_EQ(r.flows[0].received, 6u);
	EXPECT_EQ(r.flows[0].lost, 4);
	EXPECT_EQ(r.flows[0].late, 1u);
	EXPECT_FALSE(r.total.lost.has_value());
}

} // namespace
} // namespace dualpilot::trafficgen

int main(int argc, char **argv)
{
	::testing::InitGoogleTest(&argc, argv);
	const std::string prefix =
		dualpilot::common::eal_private_files_arg("dualpilot_test_tg_" + std::to_string(getpid()));
	const char *eal[] = {"test", "--no-huge", "-m", "512", "--no-pci", "-l", "0", "--log-level=lib.eal:error",
			     "--no-telemetry", prefix.c_str()};
	if (rte_eal_init(static_cast<int>(std::size(eal)), const_cast<char **>(eal)) < 0) {
		std::fprintf(stderr, "skipped: DPDK EAL cannot start here (%s)\n", rte_strerror(rte_errno));
		return 77;
	}
	using namespace dualpilot::trafficgen;
	tx_pool = rte_pktmbuf_pool_create("tg_test_tx", 16384, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					  static_cast<int>(rte_socket_id()));
	rx_pool = rte_pktmbuf_pool_create("tg_test_rx", 4096, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					  static_cast<int>(rte_socket_id()));
	if (!tx_pool || !rx_pool) {
		std::fprintf(stderr, "skipped: no memory for the test's mbuf pools\n");
		return 77;
	}
	const int rc = RUN_ALL_TESTS();
	// The EAL's runtime directory goes with it: nothing left behind.
	const std::string dir = rte_eal_get_runtime_dir();
	rte_eal_cleanup();
	std::error_code ec;
	if (dir.find("dualpilot") != std::string::npos)
		std::filesystem::remove_all(dir, ec);
	return rc;
}
