// The frames dualpilot-trafficgen sends and how its receiver reads them back.
// Each flow has one template per (size, ECN codepoint): Ethernet (optionally
// one 802.1Q tag), IPv4 or IPv6, UDP and a 16-byte stamp, with every length
// and the IPv4 header checksum already right, so the fast path copies a
// template and writes the stamp's sequence number and send time.
//
// The stamp opens the UDP payload, little-endian (both ends of a run are
// the same architecture):
//   magic u16 (0xd7a6) | sent codepoint << 14 | flow id u16 | seq u32 | tx time ns u64
// The sent codepoint tells the receiver which class a frame was sent in when
// it arrives CE-marked.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "dataplane/parse.hpp"
#include "perf/trafficgen/spec.hpp"

namespace dualpilot::trafficgen {

inline constexpr uint16_t kStampMagic = 0xd7a6;
inline constexpr uint16_t kStampBytes = 16;

struct FrameTemplate {
	std::array<uint8_t, 96> bytes{}; // headers and the stamp's constant half
	uint16_t frame_len = 0;          // the whole frame
	uint16_t stamp_offset = 0;       // where the stamp starts (= bytes written from the template + 16)
	uint16_t udp_offset = 0;
	uint32_t udp_sum = 0;            // IPv6: one's-complement sum of everything but seq and time
	bool ipv6 = false;
	uint8_t ecn = 0;
};

// Templates of flow f (its id in the stamp), indexed size_index * 4 + codepoint.
std::vector<FrameTemplate> build_templates(const FlowSpec &f, uint16_t flow_id);

inline uint32_t add_words(uint32_t sum, uint64_t v)
{
	for (int i = 0; i < 4; i++, v >>= 16)
		sum += static_cast<uint32_t>(v & 0xffff);
	return sum;
}

// Writes a frame from t into dst (at least max(frame_len, 96) bytes of room) with seq and tx_ns.
// IPv4 leaves the UDP checksum 0 (RFC 768: none) and the payload after the
// stamp as dst held it, as dpdk-testpmd's txonly does; IPv6, whose UDP
// checksum is mandatory (RFC 8200), zeroes the payload and fills the checksum.
//
// The template is copied in whole 64- or 96-byte blocks (fixed-size copies
// the compiler turns into a few vector moves); bytes past the stamp it
// overwrites are payload, where the template holds zeros.
inline void write_frame(uint8_t *dst, const FrameTemplate &t, uint32_t seq, uint64_t tx_ns)
{
	if (t.stamp_offset + kStampBytes <= 64)
		std::memcpy(dst, t.bytes.data(), 64);
	else
		std::memcpy(dst, t.bytes.data(), 96);
	uint8_t *stamp = dst + t.stamp_offset;
	std::memcpy(stamp + 4, &seq, 4);
	std::memcpy(stamp + 8, &tx_ns, 8);
	if (t.ipv6) {
		std::memset(stamp + kStampBytes, 0, t.frame_len - t.stamp_offset - kStampBytes);
		// The stamp's words in network order, as the checksum reads them.
		uint32_t sum = t.udp_sum;
		for (int i = 4; i < kStampBytes; i += 2)
			sum += static_cast<uint32_t>(stamp[i] << 8 | stamp[i + 1]);
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		uint16_t csum = static_cast<uint16_t>(~sum);
		if (csum == 0)
			csum = 0xffff;
		dst[t.udp_offset + 6] = static_cast<uint8_t>(csum >> 8);
		dst[t.udp_offset + 7] = static_cast<uint8_t>(csum);
	}
}

// What the receiver reads off one frame.
struct StampRead {
	bool ours = false;       // a trafficgen frame with a stamp
	uint8_t sent_ecn = 0;    // the codepoint it left with
	uint8_t ecn = 0;         // the codepoint it arrived with
	uint16_t flow = 0;
	uint32_t seq = 0;
	uint64_t tx_ns = 0;
	dataplane::FrameKind kind = dataplane::FrameKind::truncated;
};

inline StampRead read_stamp(const uint8_t *frame, uint32_t len)
{
	StampRead s;
	const dataplane::FrameInfo info = dataplane::parse_frame(frame, len);
	s.kind = info.kind;
	if (info.kind != dataplane::FrameKind::ipv4 && info.kind != dataplane::FrameKind::ipv6)
		return s;
	const uint8_t *ip = frame + info.l3_offset;
	uint32_t udp;
	if (info.kind == dataplane::FrameKind::ipv4) {
		if (ip[9] != 17 || (dataplane::load_be16(ip + 6) & 0x3fff) != 0) // UDP, not a fragment
			return s;
		udp = info.l3_offset + (ip[0] & 0x0fu) * 4;
	} else {
		if (ip[6] != 17) // UDP straight after the fixed header (no extension headers)
			return s;
		udp = info.l3_offset + 40u;
	}
	if (len < udp + 8 + kStampBytes)
		return s;
	const uint8_t *stamp = frame + udp + 8;
	uint16_t magic, flow_ecn;
	std::memcpy(&magic, stamp, 2);
	std::memcpy(&flow_ecn, stamp + 2, 2);
	if (magic != kStampMagic)
		return s;
	s.ours = true;
	s.sent_ecn = static_cast<uint8_t>(flow_ecn >> 14);
	s.flow = flow_ecn & (kMaxFlows - 1);
	s.ecn = static_cast<uint8_t>(info.ecn);
	std::memcpy(&s.seq, stamp + 4, 4);
	std::memcpy(&s.tx_ns, stamp + 8, 8);
	return s;
}

} // namespace dualpilot::trafficgen
