// The egress queue a frame takes on a port of several (egress_queues): a
// hash of its flow, so that every frame of a flow takes the same queue and
// leaves in the order it came (docs/router.md, "Egress queues").
//
// The device's RSS hash where it supplied one (RTE_MBUF_F_RX_RSS_HASH: a
// Toeplitz hash of the same fields, free to read in the mbuf's first line),
// else a software hash of the IP 5-tuple, or of the 2-tuple for other
// protocols, IPv4 fragments (only the first carries the ports, and the
// fragments of a datagram must stay together) and IPv6 packets whose first
// next header is not TCP or UDP. Frames that are not IP hash to 0.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>
#include <cstring>

#include "dataplane/parse.hpp"

namespace dualpilot::dataplane {

inline constexpr uint8_t kIpProtoTcp = 6;
inline constexpr uint8_t kIpProtoUdp = 17;

// One 64-bit word into the hash (a multiply-xorshift step: each word's bits
// reach the high half, which pick_queue uses).
inline uint64_t hash_word(uint64_t h, uint64_t word)
{
	h = (h ^ word) * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 29);
}

inline uint64_t load_u64(const uint8_t *p)
{
	uint64_t v;
	std::memcpy(&v, p, sizeof v);
	return v;
}

// The L4 ports as one word, where the frame has them (TCP or UDP, not a
// later fragment, the 4 bytes inside the frame), else 0.
inline uint64_t ports_word(const uint8_t *l4, const uint8_t *end, uint8_t proto)
{
	if ((proto != kIpProtoTcp && proto != kIpProtoUdp) || l4 + 4 > end)
		return proto;
	uint32_t ports;
	std::memcpy(&ports, l4, sizeof ports);
	return uint64_t{ports} << 8 | proto;
}

// The software hash of a well-formed frame (parse_frame checked the IP
// header's length against the frame).
inline uint32_t soft_flow_hash(const uint8_t *frame, uint32_t len, const FrameInfo &info)
{
	const uint8_t *ip = frame + info.l3_offset;
	const uint8_t *end = frame + len;
	uint64_t h = 0;
	if (info.kind == FrameKind::ipv4) {
		const uint32_t ihl_bytes = (ip[0] & 0x0fu) * 4;
		const bool fragment = (load_be16(ip + 6) & 0x3fff) != 0; // MF or an offset
		h = hash_word(h, load_u64(ip + 12));                      // source and destination
		h = hash_word(h, fragment ? ip[9] : ports_word(ip + ihl_bytes, end, ip[9]));
	} else if (info.kind == FrameKind::ipv6) {
		for (int w = 0; w < 4; w++)
			h = hash_word(h, load_u64(ip + 8 + 8 * w));
		h = hash_word(h, ports_word(ip + 40, end, ip[6]));
	} else {
		return 0;
	}
	return static_cast<uint32_t>(h >> 32); // the high half: every word's bits reach all of it
}

// len: the bytes at frame, the mbuf's first segment (as parse_frame read
// it): a chained frame whose ports lie past it hashes by its addresses,
// the same for every frame of the flow.
inline uint32_t flow_hash(const rte_mbuf *m, const uint8_t *frame, uint32_t len, const FrameInfo &info)
{
	if (m->ol_flags & RTE_MBUF_F_RX_RSS_HASH)
		return m->hash.rss;
	return soft_flow_hash(frame, len, info);
}

// Queue of n for a 32-bit hash: hash mod n, without a division (Lemire's
// fastmod: m = queue_mod_m(n), once per port). The remainder, not the high
// bits: with the device's RSS hash and its default redirection table (entry
// i to rx queue i mod rx_queues, indexed by the hash's low bits), a port of
// n rx queues, n a power of two, receives a flow on rx queue q exactly when
// hash mod n = q; the router gives that rx queue to the worker that owns its
// peer's egress queue q, so such frames never cross between workers.
inline uint64_t queue_mod_m(uint16_t n) { return n > 1 ? UINT64_MAX / n + 1 : 0; }

inline uint16_t pick_queue(uint32_t hash, uint16_t n, uint64_t m)
{
	const uint64_t low = m * hash;
	return static_cast<uint16_t>((static_cast<unsigned __int128>(low) * n) >> 64);
}

} // namespace dualpilot::dataplane
