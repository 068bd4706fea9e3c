// dualpilot-prague's datagrams, little-endian, over UDP.
//   data  magic "DPPR", kind 1, flow id, sequence number, the sender's
//         clock at sending (echoed back for the round trip), then padding
//         to the packet size;
//   ack   magic "DPPR", kind 2, flow id, the echoed sequence number and send
//         time, and the receiver's running counts for the flow: packets and
//         bytes received, CE-marked packets and bytes, the highest sequence
//         number seen. Running counts make acks idempotent: a lost ack costs
//         nothing but its round-trip sample.
#pragma once

#include <cstdint>
#include <cstring>

namespace dualpilot::prague {

inline constexpr uint32_t kMagic = 0x52505044; // "DPPR"
inline constexpr uint8_t kData = 1, kAck = 2;

struct DataHeader {
	uint32_t magic;
	uint8_t kind;
	uint8_t pad[3];
	uint32_t flow;
	uint32_t pad2;
	uint64_t seq;
	uint64_t send_ns;
};
static_assert(sizeof(DataHeader) == 32);

struct Ack {
	uint32_t magic;
	uint8_t kind;
	uint8_t pad[3];
	uint32_t flow;
	uint32_t pad2;
	uint64_t seq_echo;
	uint64_t send_ns_echo;
	uint64_t packets, bytes, ce_packets, ce_bytes, highest_seq;
};
static_assert(sizeof(Ack) == 72);

// Reads a T from a datagram of len bytes, checking its size, magic and kind.
template <typename T>
bool parse(const void *buf, size_t len, uint8_t kind, T &out)
{
	if (len < sizeof(T))
		return false;
	std::memcpy(&out, buf, sizeof(T));
	return out.magic == kMagic && out.kind == kind;
}

} // namespace dualpilot::prague
