#include "aqm/units.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace dualpilot::aqm {

namespace {

// Splits "15ms" into 15.0 and "ms". The number must be finite and >= 0.
[[nodiscard]] bool split_number(std::string_view text, double &number, std::string_view &suffix)
{
	while (!text.empty() && text.front() == ' ')
		text.remove_prefix(1);
	while (!text.empty() && text.back() == ' ')
		text.remove_suffix(1);
	if (text.empty())
		return false;
	size_t digits = 0;
	while (digits < text.size() &&
	       ((text[digits] >= '0' && text[digits] <= '9') || text[digits] == '.'))
		digits++;
	if (digits == 0)
		return false;
	const std::string number_text(text.substr(0, digits));
	char *end = nullptr;
	errno = 0;
	number = std::strtod(number_text.c_str(), &end);
	if (errno != 0 || end != number_text.c_str() + number_text.size() || !std::isfinite(number))
		return false;
	suffix = text.substr(digits);
	return true;
}

std::string quoted(std::string_view text)
{
	std::string out;
	out.reserve(text.size() + 2);
	out.push_back('\'');
	out.append(text);
	out.push_back('\'');
	return out;
}

} // namespace

std::string parse_time_ns(std::string_view text, uint64_t &out_ns)
{
	double number = 0;
	std::string_view unit;
	if (!split_number(text, number, unit))
		return "not a time: " + quoted(text) + " (expected e.g. 15ms, 500us, 1s)";
	double scale = 0;
	if (unit.empty() || unit == "us" || unit == "usec" || unit == "usecs")
		scale = 1e3;
	else if (unit == "ns" || unit == "nsec" || unit == "nsecs")
		scale = 1;
	else if (unit == "ms" || unit == "msec" || unit == "msecs")
		scale = 1e6;
	else if (unit == "s" || unit == "sec" || unit == "secs")
		scale = 1e9;
	else
		return "unknown time unit in " + quoted(text) + " (use ns, us, ms or s)";
	const double ns = number * scale;
	if (ns > 1e18)
		return "time out of range: " + quoted(text);
	out_ns = static_cast<uint64_t>(std::llround(ns));
	return {};
}

std::string parse_rate_bps(std::string_view text, uint64_t &out_bps)
{
	double number = 0;
	std::string_view unit;
	if (!split_number(text, number, unit))
		return "not a rate: " + quoted(text) + " (expected e.g. 8mbit, 1gbit)";
	double scale = 0;
	if (unit == "bit" || unit.empty())
		scale = 1;
	else if (unit == "kbit")
		scale = 1e3;
	else if (unit == "mbit")
		scale = 1e6;
	else if (unit == "gbit")
		scale = 1e9;
	else if (unit == "tbit")
		scale = 1e12;
	else if (unit == "bps")
		scale = 8;
	else if (unit == "kbps")
		scale = 8e3;
	else if (unit == "mbps")
		scale = 8e6;
	else if (unit == "gbps")
		scale = 8e9;
	else
		return "unknown rate unit in " + quoted(text) + " (use bit, kbit, mbit, gbit or kbps, mbps, gbps)";
	const double bps = number * scale;
	if (bps < 1 || bps > 1e15)
		return "rate out of range: " + quoted(text);
	out_bps = static_cast<uint64_t>(std::llround(bps));
	return {};
}

std::string parse_size_bytes(std::string_view text, uint64_t &out_bytes)
{
	double number = 0;
	std::string_view unit;
	if (!split_number(text, number, unit))
		return "not a size: " + quoted(text) + " (expected e.g. 1514, 64kb, 10mb)";
	double scale = 0;
	if (unit.empty() || unit == "b")
		scale = 1;
	else if (unit == "k" || unit == "kb")
		scale = 1024.0;
	else if (unit == "m" || unit == "mb")
		scale = 1024.0 * 1024;
	else if (unit == "g" || unit == "gb")
		scale = 1024.0 * 1024 * 1024;
	else
		return "unknown size unit in " + quoted(text) + " (use b, kb, mb or gb)";
	const double bytes = number * scale;
	if (bytes > 1e18 || bytes != std::floor(bytes))
		return "size out of range or fractional: " + quoted(text);
	out_bytes = static_cast<uint64_t>(bytes);
	return {};
}

std::string parse_u64(std::string_view text, uint64_t &out)
{
	uint64_t value = 0;
	const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
	if (ec != std::errc() || end != text.data() + text.size() || text.empty())
		return "not a non-negative integer: " + quoted(text);
	out = value;
	return {};
}

std::string parse_u32(std::string_view text, uint32_t &out)
{
	uint64_t value = 0;
	if (auto err = parse_u64(text, value); !err.empty())
		return err;
	if (value > UINT32_MAX)
		return "integer out of range (max 4294967295): " + quoted(text);
	out = static_cast<uint32_t>(value);
	return {};
}

std::string parse_packets(std::string_view text, uint32_t &out_pkts)
{
	for (std::string_view suffix : {"packets", "pkts", "pkt", "p"}) {
		if (text.size() > suffix.size() && text.ends_with(suffix)) {
			text.remove_suffix(suffix.size());
			break;
		}
	}
	return parse_u32(text, out_pkts);
}

std::string parse_double(std::string_view text, double &out)
{
	double number = 0;
	std::string_view suffix;
	if (!split_number(text, number, suffix) || !suffix.empty())
		return "not a non-negative number: " + quoted(text);
	out = number;
	return {};
}

std::string parse_percent(std::string_view text, uint32_t &out_pct)
{
	if (text.ends_with('%'))
		text.remove_suffix(1);
	uint32_t pct = 0;
	if (!parse_u32(text, pct).empty() || pct > 100)
		return "not a percentage 0..100: " + quoted(text);
	out_pct = pct;
	return {};
}

std::string parse_bool(std::string_view text, bool &out)
{
	if (text.empty() || text == "true" || text == "yes" || text == "on" || text == "1")
		out = true;
	else if (text == "false" || text == "no" || text == "off" || text == "0")
		out = false;
	else
		return "not a boolean: " + quoted(text) + " (use true or false)";
	return {};
}

std::string format_time(uint64_t ns)
{
	char buf[32];
	if (ns >= 1000000000ull && ns % 1000000ull == 0)
		std::snprintf(buf, sizeof(buf), "%gs", static_cast<double>(ns) / 1e9);
	else if (ns >= 1000000ull)
		std::snprintf(buf, sizeof(buf), "%gms", static_cast<double>(ns) / 1e6);
	else if (ns >= 1000ull)
		std::snprintf(buf, sizeof(buf), "%gus", static_cast<double>(ns) / 1e3);
	else
		std::snprintf(buf, sizeof(buf), "%lluns", static_cast<unsigned long long>(ns));
	return buf;
}

std::string limit_error(std::string_view aqm, uint32_t limit_pkts)
{
	if (limit_pkts == 0)
		return std::string(aqm) + ": limit must be at least 1 packet";
	if (limit_pkts > kMaxLimitPkts)
		return std::string(aqm) + ": limit above " + std::to_string(kMaxLimitPkts) + " packets";
	return {};
}

std::string mtu_error(std::string_view aqm, uint32_t mtu_bytes)
{
	if (mtu_bytes < 68 || mtu_bytes > 65535)
		return std::string(aqm) + ": mtu must be between 68 and 65535 bytes";
	return {};
}

} // namespace dualpilot::aqm
