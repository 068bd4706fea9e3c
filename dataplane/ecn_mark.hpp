// Setting CE on a frame the AQM marked. IPv4: the TOS byte changes, so the
// header checksum is updated incrementally (RFC 1624 eqn. 3,
// HC' = ~(~HC + ~m + m')) instead of being recomputed. IPv6: the traffic
// class has no checksum.
#pragma once

#include <cstdint>

#include "dataplane/parse.hpp"

namespace dualpilot::dataplane {

// One's-complement sum of a 16-bit checksum update.
inline uint16_t checksum_update16(uint16_t hc, uint16_t old_word, uint16_t new_word)
{
	uint32_t sum = static_cast<uint16_t>(~hc) + static_cast<uint16_t>(~old_word) + uint32_t{new_word};
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return static_cast<uint16_t>(~sum);
}

// Sets CE (0b11) on an IP frame parsed as info. Returns false (and leaves the
// frame alone) when the frame is not ECN-capable: the caller drops it instead.
[[nodiscard]] inline bool set_ce(uint8_t *frame, const FrameInfo &info)
{
	uint8_t *ip = frame + info.l3_offset;
	if (info.kind == FrameKind::ipv4) {
		if ((ip[1] & 0x03) == 0)
			return false;
		const uint16_t old_word = load_be16(ip);
		ip[1] |= 0x03;
		const uint16_t new_word = load_be16(ip);
		const uint16_t hc = checksum_update16(load_be16(ip + 10), old_word, new_word);
		ip[10] = static_cast<uint8_t>(hc >> 8);
		ip[11] = static_cast<uint8_t>(hc);
		return true;
	}
	if (info.kind == FrameKind::ipv6) {
		if (((ip[1] >> 4) & 0x03) == 0)
			return false;
		ip[1] |= 0x30;
		return true;
	}
	return false;
}

} // namespace dualpilot::dataplane
