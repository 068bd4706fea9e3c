// What dualpilot-trafficgen sends: the flows of a TOML file (or of --flow
// shorthands), checked before any port is touched. An error names the file,
// the line and the key. No DPDK here: the spec and the frames it implies are
// plain data, tested without an EAL.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace dualpilot::trafficgen {

// ECN codepoints in their IP header order (RFC 3168): Not-ECT, ECT(1), ECT(0), CE.
inline constexpr int kEcnCodepoints = 4;
inline constexpr std::array<const char *, kEcnCodepoints> kEcnNames{"not-ect", "ect1", "ect0", "ce"};

// Frame sizes are the bytes handed to the port: Ethernet header to the end of
// the payload, no FCS (as dpdk-testpmd --txpkts counts them). Simple IMIX is
// 64/594/1518 on the wire with FCS, 7:4:1.
inline constexpr std::array<uint16_t, 3> kImixSizes{60, 590, 1514};
inline constexpr std::array<uint32_t, 3> kImixWeights{7, 4, 1};
inline constexpr uint16_t kMaxFrameBytes = 9014;

// The most flows one run can name: the stamp carries a 14-bit flow id.
inline constexpr uint32_t kMaxFlows = 16384;

enum class RateKind : uint8_t { max, pps, bps };

struct FlowSpec {
	std::string name;
	bool ipv6 = false;
	std::array<uint8_t, 16> src_ip{}, dst_ip{}; // network order; IPv4 in the first four bytes
	uint16_t src_port = 1024, dst_port = 5001;
	std::array<uint8_t, 6> src_mac{0x02, 0, 0, 0, 0, 1}, dst_mac{0x02, 0, 0, 0, 0, 2};
	uint16_t vlan = 0;                   // 802.1Q tag; 0 = untagged
	uint8_t dscp = 0;
	std::vector<uint16_t> sizes{60};     // frame bytes, drawn by size_weights
	std::vector<uint32_t> size_weights{1};
	RateKind rate_kind = RateKind::max;
	double rate = 0;                     // packets or bits (frame bytes * 8) per second
	std::array<uint32_t, kEcnCodepoints> ecn_weights{1, 0, 0, 0}; // by codepoint
	uint64_t start_ns = 0;               // from the start of the run
	uint64_t stop_ns = 0;                // 0 = the end of the run
	uint64_t count = 0;                  // packets; 0 = no limit
	uint64_t on_ns = 0, off_ns = 0;      // on/off bursts; off_ns 0 = always on
};

struct TrafficSpec {
	uint64_t duration_ns = 5000000000ull;
	uint32_t burst = 32;                 // frames per tx burst
	uint64_t seed = 1;                   // draws the order of sizes and codepoints
	std::vector<FlowSpec> flows;         // streams already expanded: one entry per 5-tuple
};

// A TOML traffic file (configs/traffic/*.toml documents every key). Error text or empty.
[[nodiscard]] std::string load_traffic_spec(const std::string &path, TrafficSpec &out);
[[nodiscard]] std::string parse_traffic_spec(std::string_view text, const std::string &origin, TrafficSpec &out);
// "key=value,key=value": one [[flows]] table on the command line; appended to out.flows.
[[nodiscard]] std::string parse_flow_shorthand(std::string_view text, TrafficSpec &out);

// "10.0.0.1:5000", "[2001:db8::1]:5000", or an address alone (port kept).
[[nodiscard]] std::string parse_endpoint(std::string_view text, bool &ipv6, std::array<uint8_t, 16> &ip,
					 uint16_t &port);
std::string format_endpoint(bool ipv6, const std::array<uint8_t, 16> &ip, uint16_t port);

// The (size, codepoint) sequence a flow cycles through, each entry
// size_index * 4 + codepoint: every pair as often as the product of its
// weights over the cycle, in an order drawn from seed, so the mix holds
// exactly over every cycle and sizes and codepoints do not correlate.
std::vector<uint16_t> variant_cycle(const FlowSpec &f, uint64_t seed);

} // namespace dualpilot::trafficgen
