// dualpilot-trafficgen's traffic files and frames, without an EAL: what a
// user writes is read as meant or refused with its line and key, and every
// frame it implies is a valid packet whose stamp reads back.
#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "common/eal_args.hpp"
#include "perf/trafficgen/frames.hpp"
#include "perf/trafficgen/spec.hpp"
#include "frame_builders.hpp"

namespace dualpilot::trafficgen {
namespace {

TrafficSpec parse_ok(const std::string &toml)
{
	TrafficSpec spec;
	const std::string err = parse_traffic_spec(toml, "t.toml", spec);
	EXPECT_EQ(err, "");
	return spec;
}

std::string parse_error(const std::string &toml)
{
	TrafficSpec spec;
	return parse_traffic_spec(toml, "t.toml", spec);
}

TEST(TrafficSpec, ReadsEveryKeyOfAFlow)
{
	const TrafficSpec s = parse_ok(R"(
[traffic]
duration = "3s"
burst = 16
seed = 7
[[flows]]
name = "l4s"
src = "192.168.1.10:4000"
dst = "192.168.2.20:5000"
src_mac = "02:00:00:00:00:0a"
vlan = 100
dscp = 46
size = [200, 1500]
size_weights = [3, 1]
rate = "20mbit"
ecn = { ect1 = 0.75, not-ect = 0.25 }
start = "100ms"
stop = "2s"
count = 5000
on = "10ms"
off = "30ms"
)");
	EXPECT_EQ(s.duration_ns, 3000000000u);
	EXPECT_EQ(s.burst, 16u);
	EXPECT_EQ(s.seed, 7u);
	ASSERT_EQ(s.flows.size(), 1u);
	const FlowSpec &f = s.flows[0];
	EXPECT_EQ(f.name, "l4s");
	EXPECT_FALSE(f.ipv6);
	EXPECT_EQ(format_endpoint(false, f.src_ip, f.src_port), "192.168.1.10:4000");
	EXPECT_EQ(format_endpoint(false, f.dst_ip, f.dst_port), "192.168.2.20:5000");
	EXPECT_EQ(f.src_mac[5], 0x0a);
	EXPECT_EQ(f.vlan, 100);
	EXPECT_EQ(f.dscp, 46);
	EXPECT_EQ(f.sizes, (std::vector<uint16_t>{200, 1500}));
	EXPECT_EQ(f.size_weights, (std::vector<uint32_t>{3, 1}));
	EXPECT_EQ(f.rate_kind, RateKind::bps);
	EXPECT_EQ(f.rate, 20e6);
	// 0.75 : 0.25 as the smallest integers: ECT(1) 3, Not-ECT 1.
	EXPECT_EQ(f.ecn_weights[static_cast<int>(aqm::Ecn::ect1)], 3u);
	EXPECT_EQ(f.ecn_weights[static_cast<int>(aqm::Ecn::not_ect)], 1u);
	EXPECT_EQ(f.start_ns, 100000000u);
	EXPECT_EQ(f.stop_ns, 2000000000u);
	EXPECT_EQ(f.count, 5000u);
	EXPECT_EQ(f.on_ns, 10000000u);
	EXPECT_EQ(f.off_ns, 30000000u);
}

TEST(TrafficSpec, RatesImixIpv6AndStreams)
{
	const TrafficSpec s = parse_ok(R"(
[[flows]]
rate = "250kpps"
size = "imix"
[[flows]]
dst = "[2001:db8::2]:9000"
rate = "max"
size = "imix"
[[flows]]
name = "many"
rate = "30mbit"
count = 10
streams = 3
)");
	ASSERT_EQ(s.flows.size(), 5u);
	EXPECT_EQ(s.flows[0].rate_kind, RateKind::pps);
	EXPECT_EQ(s.flows[0].rate, 250000);
	EXPECT_EQ(s.flows[0].sizes, (std::vector<uint16_t>{60, 590, 1514}));
	EXPECT_EQ(s.flows[0].size_weights, (std::vector<uint32_t>{7, 4, 1}));
	// IPv6: the source defaults to IPv6 too, and the smallest IMIX frame holds the headers.
	EXPECT_TRUE(s.flows[1].ipv6);
	EXPECT_EQ(s.flows[1].dst_port, 9000);
	EXPECT_EQ(s.flows[1].sizes[0], 78);
	EXPECT_EQ(s.flows[1].rate_kind, RateKind::max);
	// Streams: one flow per source port, rate and count shared.
	EXPECT_EQ(s.flows[2].name, "many.0");
	EXPECT_EQ(s.flows[4].src_port, s.flows[2].src_port + 2);
	EXPECT_DOUBLE_EQ(s.flows[3].rate, 10e6);
	EXPECT_EQ(s.flows[2].count + s.flows[3].count + s.flows[4].count, 10u);
}

TEST(TrafficSpec, MistakesAreRefusedWithTheirLineAndKey)
{
	EXPECT_EQ(parse_error("[[flows]]\nrate = \"fast\"\n").rfind("t.toml:2: rate:", 0), 0u);
	EXPECT_NE(parse_error("[[flows]]\nsize = 40\n").find("t.toml:2: size: 40 bytes"), std::string::npos);
	EXPECT_NE(parse_error("[[flows]]\ndst = \"[2001:db8::1]:1\"\nsize = 64\n").find("78 bytes for IPv6"),
		  std::string::npos);
	EXPECT_NE(parse_error("[[flows]]\nsize = 10000\n").find("at most 9014"), std::string::npos);
	EXPECT_NE(parse_error("[[flows]]\necn = \"ect2\"\n").find("unknown codepoint 'ect2'"), std::string::npos);
	EXPECT_NE(parse_error("[[flows]]\necn = { ect1 = 0 }\n").find("not all zero"), std::string::npos);
	EXPECT_NE(parse_error("[[flows]]\necn = { ect1 = -1 }\n").find("non-negative"), std::string::npos);
	const std::string mixed = parse_error("[[flows]]\nsrc = \"10.0.0.1\"\ndst = \"[::1]:5\"\n");
	EXPECT_NE(mixed.find("t.toml:1: dst: src and dst must both be IPv4 or both IPv6"), std::string::npos) << mixed;
	EXPECT_NE(parse_error("[[flows]]\ndst = \"10.0.0.300:5\"\n").find("not an IPv4 or IPv6 address"),
		  std::string::npos);
	EXPECT_NE(parse_error("[[flows]]\ndst = \"10.0.0.3:70000\"\n").find("port must be 0..65535"), std::string::npos);
	EXPECT_NE(parse_error("[[flows]]\nstart = \"2s\"\nstop = \"1s\"\n").find("t.toml:3: stop: must be after start"),
		  std::string::npos);
	EXPECT_NE(parse_error("[[flows]]\noff = \"1s\"\n").find("an off time needs an on time"), std::string::npos);
	EXPECT_NE(parse_error("[[flows]]\nsize = [60, 100]\nsize_weights = [1]\n").find("2 weights"), std::string::npos);
	EXPECT_NE(parse_error("[[flows]]\nrat = \"1mbit\"\n").find("unknown key in [[flows]]"), std::string::npos);
	EXPECT_NE(parse_error("[traffic]\nduration = \"0s\"\n").find("must be above 0"), std::string::npos);
	EXPECT_NE(parse_error("[[flows]\n").find("t.toml:1"), std::string::npos);
	TrafficSpec spec;
	EXPECT_NE(load_traffic_spec("/nonexistent/traffic.toml", spec), "");
}

TEST(TrafficSpec, CommandLineShorthandIsAFlowTable)
{
	TrafficSpec s;
	ASSERT_EQ(parse_flow_shorthand("dst=10.1.1.1:7,size=1000,rate=5mbit,ecn=ect1:3/ect0:1,count=99", s), "");
	ASSERT_EQ(s.flows.size(), 1u);
	EXPECT_EQ(s.flows[0].sizes[0], 1000);
	EXPECT_EQ(s.flows[0].count, 99u);
	EXPECT_EQ(s.flows[0].ecn_weights[static_cast<int>(aqm::Ecn::ect1)], 3u);
	EXPECT_EQ(s.flows[0].ecn_weights[static_cast<int>(aqm::Ecn::ect0)], 1u);
	const std::string err = parse_flow_shorthand("rate=lots", s);
	EXPECT_EQ(err.rfind("--flow 'rate=lots': rate:", 0), 0u) << err;
	EXPECT_NE(parse_flow_shorthand("ratemax", s), "");
	EXPECT_EQ(s.flows.size(), 1u); // a refused flow adds nothing
}

TEST(TrafficSpec, TheMixHoldsExactlyOverEveryCycle)
{
	const TrafficSpec s = parse_ok("[[flows]]\nsize = \"imix\"\necn = { ect1 = 1, not-ect = 2, ect0 = 1 }\n");
	const std::vector<uint16_t> cycle = variant_cycle(s.flows[0], 3);
	ASSERT_EQ(cycle.size(), 12u * 4u);
	std::map<uint16_t, int> seen;
	for (uint16_t v : cycle)
		seen[v]++;
	const int ect1 = static_cast<int>(aqm::Ecn::ect1), not_ect = static_cast<int>(aqm::Ecn::not_ect);
	EXPECT_EQ(seen[0 * 4 + not_ect], 7 * 2); // 60-byte Not-ECT: size weight 7 x ECN weight 2
	EXPECT_EQ(seen[2 * 4 + ect1], 1 * 1);   // 1514-byte ECT(1)
	EXPECT_NE(cycle, variant_cycle(s.flows[0], 4)); // another seed, another order
}

TEST(TrafficFrames, EveryTemplateIsAValidPacketWhoseStampReadsBack)
{
	const TrafficSpec s = parse_ok(R"(
[[flows]]
size = [60, 1000]
dscp = 10
[[flows]]
src = "[2001:db8::5]:1234"
dst = "[2001:db8:1::7]:80"
size = [82, 1514]
vlan = 7
)");
	for (uint16_t id = 0; id < 2; id++) {
		const FlowSpec &f = s.flows[id];
		const std::vector<FrameTemplate> templates = build_templates(f, id);
		ASSERT_EQ(templates.size(), f.sizes.size() * kEcnCodepoints);
		for (const FrameTemplate &t : templates) {
			std::vector<uint8_t> frame(std::max<size_t>(t.frame_len, 96), 0xee);
			write_frame(frame.data(), t, 0xfffffff0u, 123456789012345ull);
			frame.resize(t.frame_len);
			const dataplane::FrameInfo info = dataplane::parse_frame(frame.data(), t.frame_len);
			ASSERT_EQ(info.kind, f.ipv6 ? dataplane::FrameKind::ipv6 : dataplane::FrameKind::ipv4);
			EXPECT_EQ(static_cast<uint8_t>(info.ecn), t.ecn);
			EXPECT_EQ(info.vlan_tags, f.vlan ? 1 : 0);
			const uint8_t *ip = frame.data() + info.l3_offset;
			if (!f.ipv6) {
				EXPECT_EQ(dataplane::testing::ipv4_checksum(ip, 20), 0); // a valid header sums to 0
				EXPECT_EQ(ip[1] >> 2, 10);
			} else {
				// The UDP checksum over the pseudo-header and the whole datagram verifies.
				const uint32_t udp_len = t.frame_len - info.l3_offset - 40u;
				std::vector<uint8_t> pseudo(40 + udp_len, 0);
				std::memcpy(pseudo.data(), ip + 8, 32); // source and destination
				pseudo[34] = static_cast<uint8_t>(udp_len >> 8);
				pseudo[35] = static_cast<uint8_t>(udp_len);
				pseudo[39] = 17;
				std::memcpy(pseudo.data() + 40, ip + 40, udp_len);
				if (pseudo.size() & 1)
					pseudo.push_back(0);
				EXPECT_EQ(dataplane::testing::ipv4_checksum(pseudo.data(), pseudo.size()), 0);
			}
			const StampRead r = read_stamp(frame.data(), t.frame_len);
			ASSERT_TRUE(r.ours);
			EXPECT_EQ(r.flow, id);
			EXPECT_EQ(r.sent_ecn, t.ecn);
			EXPECT_EQ(r.ecn, t.ecn);
			EXPECT_EQ(r.seq, 0xfffffff0u);
			EXPECT_EQ(r.tx_ns, 123456789012345ull);
		}
	}
}

TEST(TrafficFrames, OtherFramesAreNotTakenForOurs)
{
	using namespace dataplane::testing;
	EXPECT_FALSE(read_stamp(arp_frame().data(), static_cast<uint32_t>(arp_frame().size())).ours);
	const std::vector<uint8_t> udp = ipv4_frame(aqm::Ecn::ect1, 0, 0, 100); // UDP, payload zeros
	EXPECT_FALSE(read_stamp(udp.data(), static_cast<uint32_t>(udp.size())).ours);
	// A stamped frame cut short of its stamp.
	const TrafficSpec s = parse_ok("[[flows]]\nsize = 100\n");
	const FrameTemplate t = build_templates(s.flows[0], 0)[0];
	std::vector<uint8_t> frame(128);
	write_frame(frame.data(), t, 1, 2);
	EXPECT_TRUE(read_stamp(frame.data(), 100).ours);
	EXPECT_FALSE(read_stamp(frame.data(), 50).ours);
}

// The command line (common/eal_args.hpp) as dualpilot-trafficgen and
// dualpilot-router split it.
common::CommandLine split(std::vector<std::string> &words)
{
	std::vector<char *> argv; // own points into words, not into this
	for (std::string &w : words)
		argv.push_back(w.data());
	return common::split_command_line(static_cast<int>(argv.size()), argv.data());
}

const std::vector<std::string> kOwnOptions = {"--flows", "--flow", "--tx-port", "--duration"};

TEST(TrafficgenCommandLine, TheToolsOptionsComeBeforeTheDashesAndTheEalsAfter)
{
	std::vector<std::string> words = {"tg", "--flows", "f.toml", "--", "-l", "0-2", "--vdev", "net_null0"};
	const common::CommandLine cl = split(words);
	EXPECT_EQ(std::vector<std::string>(cl.own.begin(), cl.own.end()),
		  (std::vector<std::string>{"tg", "--flows", "f.toml"}));
	EXPECT_EQ(cl.eal, (std::vector<std::string>{"-l", "0-2", "--vdev", "net_null0"}));
	EXPECT_EQ(common::reordered_command(cl, kOwnOptions), "");

	std::vector<std::string> no_eal = {"tg", "--flows", "f.toml"};
	const common::CommandLine alone = split(no_eal);
	EXPECT_EQ(alone.own.size(), 3u);
	EXPECT_TRUE(alone.eal.empty());
	EXPECT_EQ(common::reordered_command(alone, kOwnOptions), "");
}

// The order the tool once took: EAL arguments first, its own after "--".
TEST(TrafficgenCommandLine, TheOldOrderIsRecognisedAndRewrittenInTheNewOne)
{
	std::vector<std::string> words = {"tg", "-l", "0", "--vdev", "net_pcap0,rx_pcap=/tmp/a b.pcap", "--",
					  "--flow", "size=64,rate=1kpps", "--duration=1s"};
	EXPECT_EQ(common::reordered_command(split(words), kOwnOptions),
		  "tg --flow size=64,rate=1kpps --duration=1s -- -l 0 --vdev 'net_pcap0,rx_pcap=/tmp/a b.pcap'");

	std::vector<std::string> no_eal = {"tg", "--", "--flows", "it's.toml"};
	EXPECT_EQ(common::reordered_command(split(no_eal), kOwnOptions), "tg --flows 'it'\\''s.toml'");
}

} // namespace
} // namespace dualpilot::trafficgen
