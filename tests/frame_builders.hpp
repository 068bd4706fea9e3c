// Crafted frames for the dataplane tests: Ethernet with 0-2 VLAN tags,
// IPv4 (valid header checksum) and IPv6 with a chosen ECN codepoint, ARP.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "aqm/packet.hpp"
#include "dataplane/parse.hpp"

namespace dualpilot::dataplane::testing {

using aqm::Ecn;

inline void put16(std::vector<uint8_t> &f, size_t at, uint16_t v)
{
	f[at] = static_cast<uint8_t>(v >> 8);
	f[at + 1] = static_cast<uint8_t>(v);
}

// The full RFC 791 header checksum over an IPv4 header.
inline uint16_t ipv4_checksum(const uint8_t *ip, size_t ihl_bytes)
{
	uint32_t sum = 0;
	for (size_t i = 0; i < ihl_bytes; i += 2)
		sum += static_cast<uint32_t>(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return static_cast<uint16_t>(~sum);
}

inline std::vector<uint8_t> ethernet(uint16_t type, int vlans = 0)
{
	std::vector<uint8_t> f(12, 0xaa);
	for (int i = 0; i < vlans; i++) {
		f.push_back(i == 0 && vlans == 2 ? 0x88 : 0x81);
		f.push_back(i == 0 && vlans == 2 ? 0xa8 : 0x00);
		f.push_back(0x00);
		f.push_back(0x05);
	}
	f.push_back(static_cast<uint8_t>(type >> 8));
	f.push_back(static_cast<uint8_t>(type));
	return f;
}

inline std::vector<uint8_t> ipv4_frame(Ecn ecn, int vlans = 0, uint8_t tos_dscp = 0x28, size_t payload = 100)
{
	std::vector<uint8_t> f = ethernet(kEtherIpv4, vlans);
	const size_t ip = f.size();
	f.resize(ip + 20 + payload, 0);
	f[ip] = 0x45;
	f[ip + 1] = static_cast<uint8_t>(tos_dscp << 2 | static_cast<uint8_t>(ecn));
	put16(f, ip + 2, static_cast<uint16_t>(20 + payload));
	f[ip + 8] = 64;
	f[ip + 9] = 17;
	for (int i = 12; i < 20; i++)
		f[ip + i] = static_cast<uint8_t>(10 + i);
	put16(f, ip + 10, ipv4_checksum(&f[ip], 20));
	return f;
}

inline std::vector<uint8_t> ipv6_frame(Ecn ecn, int vlans = 0, size_t payload = 100)
{
	std::vector<uint8_t> f = ethernet(kEtherIpv6, vlans);
	const size_t ip = f.size();
	f.resize(ip + 40 + payload, 0);
	// Version 6, traffic class DSCP 0x2e (EF) with the ECN bits, flow label 0x12345.
	const uint8_t tc = static_cast<uint8_t>(0x2e << 2 | static_cast<uint8_t>(ecn));
	f[ip] = static_cast<uint8_t>(0x60 | tc >> 4);
	f[ip + 1] = static_cast<uint8_t>((tc & 0x0f) << 4 | 0x1);
	f[ip + 2] = 0x23;
	f[ip + 3] = 0x45;
	put16(f, ip + 4, static_cast<uint16_t>(payload));
	f[ip + 6] = 17;
	f[ip + 7] = 64;
	return f;
}

inline std::vector<uint8_t> arp_frame()
{
	std::vector<uint8_t> f = ethernet(0x0806);
	f.resize(60, 0x01);
	return f;
}

// The IP header's offset in a frame these builders made.
inline size_t ip_offset(const std::vector<uint8_t> &f) { return f.size() >= 14 && f[12] == 0x81 ? 18 : f[12] == 0x88 ? 22 : 14; }

// An IPv4 frame with destination dst and TTL ttl, its checksum recomputed.
inline std::vector<uint8_t> ipv4_to(std::array<uint8_t, 4> dst, uint8_t ttl = 64, Ecn ecn = Ecn::ect0, int vlans = 0)
{
	std::vector<uint8_t> f = ipv4_frame(ecn, vlans);
	const size_t ip = ip_offset(f);
	std::copy(dst.begin(), dst.end(), f.begin() + static_cast<long>(ip + 16));
	f[ip + 8] = ttl;
	put16(f, ip + 10, 0);
	put16(f, ip + 10, ipv4_checksum(&f[ip], 20));
	return f;
}

// An IPv6 frame to dst (16 bytes) with hop limit hops.
inline std::vector<uint8_t> ipv6_to(std::array<uint8_t, 16> dst, uint8_t hops = 64, Ecn ecn = Ecn::ect1)
{
	std::vector<uint8_t> f = ipv6_frame(ecn);
	std::copy(dst.begin(), dst.end(), f.begin() + 14 + 24);
	f[14 + 7] = hops;
	return f;
}

} // namespace dualpilot::dataplane::testing
