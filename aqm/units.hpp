// Parsing of the values operators type, with tc's spellings: times ("15ms",
// "500us", "1s"; a bare number is microseconds, as tc reads it), sizes
// ("1514", "64kb", "10mb"; k/m/g are powers of 1024, as tc reads them),
// packet counts ("100", "100p", "100pkt"), percentages ("10", "10%").
// Each parser returns an error message, empty on success.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dualpilot::aqm {

[[nodiscard]] std::string parse_time_ns(std::string_view text, uint64_t &out_ns);
// Rates as tc writes them: "8mbit", "1gbit", "500kbit", "100bit", or bytes per
// second as "1mbps" (decimal prefixes, as tc uses for rates).
[[nodiscard]] std::string parse_rate_bps(std::string_view text, uint64_t &out_bps);
[[nodiscard]] std::string parse_size_bytes(std::string_view text, uint64_t &out_bytes);
[[nodiscard]] std::string parse_packets(std::string_view text, uint32_t &out_pkts);
[[nodiscard]] std::string parse_u32(std::string_view text, uint32_t &out);
[[nodiscard]] std::string parse_u64(std::string_view text, uint64_t &out);
[[nodiscard]] std::string parse_double(std::string_view text, double &out);
[[nodiscard]] std::string parse_percent(std::string_view text, uint32_t &out_pct);
// "true"/"false"/"yes"/"no"/"on"/"off"/"1"/"0"; an empty value means true,
// so a bare tc flag ("overflow") reads as set.
[[nodiscard]] std::string parse_bool(std::string_view text, bool &out);

// Renders a nanosecond time the way tc prints one: "15ms", "1.5ms", "500us".
std::string format_time(uint64_t ns);

// The checks every AQM's finalize makes of its queue limit (1 packet to
// 2^26, where the queue is allocated once) and of its MTU (68, IPv4's
// minimum, to 65535), written once: "aqm: ..." or empty.
inline constexpr uint32_t kMaxLimitPkts = 1u << 26;
[[nodiscard]] std::string limit_error(std::string_view aqm, uint32_t limit_pkts);
[[nodiscard]] std::string mtu_error(std::string_view aqm, uint32_t mtu_bytes);

} // namespace dualpilot::aqm
