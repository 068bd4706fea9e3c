// The header edits of an l3 hop, on raw bytes like parse.hpp: the TTL or hop
// limit goes down by one (RFC 791, RFC 8200), the IPv4 header checksum
// follows incrementally (RFC 1624), and the Ethernet addresses become the
// egress port's and the next hop's. VLAN tags are left as they are.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

#include "dataplane/ecn_mark.hpp"
#include "dataplane/parse.hpp"

namespace dualpilot::dataplane {

using MacAddress = std::array<uint8_t, 6>;

// Decrements the TTL / hop limit of a frame parsed as IPv4 or IPv6. Returns
// false, leaving the frame alone, when the packet has no hop left (TTL 0 or
// 1): the router drops it and counts it; it sends no ICMP time-exceeded, as it
// has no control plane of its own.
[[nodiscard]] inline bool decrement_hop_limit(uint8_t *frame, const FrameInfo &info)
{
	uint8_t *ip = frame + info.l3_offset;
	if (info.kind == FrameKind::ipv4) {
		if (ip[8] <= 1)
			return false;
		// TTL is the high byte of the 16-bit word at offset 8 (TTL, protocol).
		const uint16_t old_word = load_be16(ip + 8);
		ip[8]--;
		const uint16_t hc = checksum_update16(load_be16(ip + 10), old_word, load_be16(ip + 8));
		ip[10] = static_cast<uint8_t>(hc >> 8);
		ip[11] = static_cast<uint8_t>(hc);
		return true;
	}
	if (info.kind == FrameKind::ipv6) {
		if (ip[7] <= 1)
			return false;
		ip[7]--;
		return true;
	}
	return false;
}

inline void write_ether_addresses(uint8_t *frame, const MacAddress &dst, const MacAddress &src)
{
	std::memcpy(frame, dst.data(), 6);
	std::memcpy(frame + 6, src.data(), 6);
}

} // namespace dualpilot::dataplane
