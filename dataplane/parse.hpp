// Frame parsing for the fast path: Ethernet, up to two VLAN tags (802.1Q /
// 802.1ad), IPv4 and IPv6, on raw bytes so it is the same code on an mbuf's
// data and in tests. It reads only the headers, validates what the AQM and
// the CE marker rely on, and says why a frame is refused.
#pragma once

#include <cstdint>

#include "aqm/packet.hpp"

namespace dualpilot::dataplane {

enum class FrameKind : uint8_t {
	ipv4,
	ipv6,
	non_ip,            // ARP, LLDP, ...: forwarded through the Classic queue untouched
	// Malformed, counted and dropped:
	truncated,         // shorter than the headers it announces
	bad_ipv4_ihl,      // IHL < 5, or header longer than the frame
	bad_ip_version,    // ethertype and IP version disagree
	bad_ip_length,     // IP total / payload length beyond the frame or below the header
};
inline constexpr int kFrameKinds = 7;

inline constexpr bool is_malformed(FrameKind k) { return k >= FrameKind::truncated; }

struct FrameInfo {
	FrameKind kind;
	aqm::Ecn ecn;        // Not-ECT for non-IP frames
	uint16_t l3_offset;  // where the IP header starts
	uint16_t ethertype;  // innermost
	uint8_t vlan_tags;
};

inline constexpr uint16_t kEtherIpv4 = 0x0800;
inline constexpr uint16_t kEtherIpv6 = 0x86dd;
inline constexpr uint16_t kEtherVlan = 0x8100;
inline constexpr uint16_t kEtherQinQ = 0x88a8;

inline uint16_t load_be16(const uint8_t *p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

inline FrameInfo parse_frame(const uint8_t *frame, uint32_t len)
{
	FrameInfo info{FrameKind::truncated, aqm::Ecn::not_ect, 0, 0, 0};
	if (len < 14)
		return info;
	uint32_t off = 12;
	uint16_t type = load_be16(frame + off);
	while ((type == kEtherVlan || type == kEtherQinQ) && info.vlan_tags < 2) {
		if (len < off + 6)
			return info;
		off += 4;
		info.vlan_tags++;
		type = load_be16(frame + off);
	}
	off += 2;
	info.ethertype = type;
	info.l3_offset = static_cast<uint16_t>(off);
	if (type == kEtherIpv4) {
		if (len < off + 20)
			return info;
		const uint8_t *ip = frame + off;
		if ((ip[0] >> 4) != 4) {
			info.kind = FrameKind::bad_ip_version;
			return info;
		}
		const uint32_t ihl_bytes = (ip[0] & 0x0fu) * 4;
		if (ihl_bytes < 20 || len < off + ihl_bytes) {
			info.kind = FrameKind::bad_ipv4_ihl;
			return info;
		}
		const uint32_t total = load_be16(ip + 2);
		if (total < ihl_bytes || total > len - off) {
			info.kind = FrameKind::bad_ip_length;
			return info;
		}
		info.kind = FrameKind::ipv4;
		info.ecn = static_cast<aqm::Ecn>(ip[1] & 0x03);
		return info;
	}
	if (type == kEtherIpv6) {
		if (len < off + 40)
			return info;
		const uint8_t *ip = frame + off;
		if ((ip[0] >> 4) != 6) {
			info.kind = FrameKind::bad_ip_version;
			return info;
		}
		if (load_be16(ip + 4) > len - off - 40) {
			info.kind = FrameKind::bad_ip_length;
			return info;
		}
		// Traffic class: the low nibble of byte 0 and the high one of byte 1;
		// ECN is its low two bits, bits 4-5 of byte 1.
		info.kind = FrameKind::ipv6;
		info.ecn = static_cast<aqm::Ecn>((ip[1] >> 4) & 0x03);
		return info;
	}
	info.kind = FrameKind::non_ip;
	return info;
}

} // namespace dualpilot::dataplane
