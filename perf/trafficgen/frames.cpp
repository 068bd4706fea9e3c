#include "perf/trafficgen/frames.hpp"

namespace dualpilot::trafficgen {

namespace {

void put16(uint8_t *p, uint32_t v)
{
	p[0] = static_cast<uint8_t>(v >> 8);
	p[1] = static_cast<uint8_t>(v);
}

uint32_t sum_words(const uint8_t *p, size_t n, uint32_t sum = 0)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += static_cast<uint32_t>(p[n - 1] << 8);
	return sum;
}

uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return static_cast<uint16_t>(sum);
}

} // namespace

std::vector<FrameTemplate> build_templates(const FlowSpec &f, uint16_t flow_id)
{
	std::vector<FrameTemplate> out;
	for (uint16_t size : f.sizes) {
		for (int ecn = 0; ecn < kEcnCodepoints; ecn++) {
			FrameTemplate t;
			t.frame_len = size;
			t.ipv6 = f.ipv6;
			t.ecn = static_cast<uint8_t>(ecn);
			uint8_t *b = t.bytes.data();
			std::memcpy(b, f.dst_mac.data(), 6);
			std::memcpy(b + 6, f.src_mac.data(), 6);
			size_t at = 12;
			if (f.vlan) {
				put16(b + at, dataplane::kEtherVlan);
				put16(b + at + 2, f.vlan);
				at += 4;
			}
			put16(b + at, f.ipv6 ? dataplane::kEtherIpv6 : dataplane::kEtherIpv4);
			at += 2;
			uint8_t *ip = b + at;
			const uint8_t tos = static_cast<uint8_t>(f.dscp << 2 | ecn);
			uint32_t udp_len;
			if (!f.ipv6) {
				udp_len = size - static_cast<uint32_t>(at) - 20;
				ip[0] = 0x45;
				ip[1] = tos;
				put16(ip + 2, size - static_cast<uint32_t>(at));
				put16(ip + 6, 0x4000); // DF
				ip[8] = 64;
				ip[9] = 17;
				std::memcpy(ip + 12, f.src_ip.data(), 4);
				std::memcpy(ip + 16, f.dst_ip.data(), 4);
				put16(ip + 10, static_cast<uint16_t>(~fold(sum_words(ip, 20))));
				at += 20;
			} else {
				udp_len = size - static_cast<uint32_t>(at) - 40;
				ip[0] = static_cast<uint8_t>(0x60 | tos >> 4);
				ip[1] = static_cast<uint8_t>((tos & 0x0f) << 4 | (flow_id >> 16 & 0x0f));
				put16(ip + 2, flow_id); // the flow label: the stamp's flow id
				put16(ip + 4, udp_len);
				ip[6] = 17;
				ip[7] = 64;
				std::memcpy(ip + 8, f.src_ip.data(), 16);
				std::memcpy(ip + 24, f.dst_ip.data(), 16);
				at += 40;
			}
			uint8_t *udp = b + at;
			t.udp_offset = static_cast<uint16_t>(at);
			put16(udp, f.src_port);
			put16(udp + 2, f.dst_port);
			put16(udp + 4, udp_len);
			t.stamp_offset = static_cast<uint16_t>(at + 8);
			const uint16_t magic = kStampMagic;
			const auto flow_ecn = static_cast<uint16_t>(ecn << 14 | flow_id);
			std::memcpy(udp + 8, &magic, 2);
			std::memcpy(udp + 10, &flow_ecn, 2);
			if (f.ipv6) {
				// Pseudo-header (RFC 8200 8.1), the UDP header, the stamp's first word.
				uint32_t sum = sum_words(f.src_ip.data(), 16);
				sum = sum_words(f.dst_ip.data(), 16, sum);
				sum += udp_len + 17;
				sum = sum_words(udp, 8 + 4, sum);
				t.udp_sum = fold(sum);
			}
			out.push_back(t);
		}
	}
	return out;
}

} // namespace dualpilot::trafficgen
