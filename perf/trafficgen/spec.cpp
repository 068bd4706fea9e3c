#include "perf/trafficgen/spec.hpp"

#include <arpa/inet.h>
#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <numeric>

#include "aqm/random.hpp"
#include "aqm/units.hpp"
#include "common/toml_reader.hpp"
#include "dataplane/config.hpp"

namespace dualpilot::trafficgen {

namespace {

using common::TomlReader;

// "max", "10mbit" (tc's rate spellings), "100000pps", "250kpps", "1.5mpps".
[[nodiscard]] std::string parse_rate(std::string_view text, RateKind &kind, double &rate)
{
	if (text == "max") {
		kind = RateKind::max;
		rate = 0;
		return {};
	}
	for (auto [suffix, scale] : {std::pair{"mpps", 1e6}, std::pair{"kpps", 1e3}, std::pair{"pps", 1.0}}) {
		const std::string_view s(suffix);
		if (text.size() > s.size() && text.substr(text.size() - s.size()) == s) {
			double v = 0;
			if (std::string err = aqm::parse_double(text.substr(0, text.size() - s.size()), v); !err.empty())
				return "rate '" + std::string(text) + "': " + err;
			if (!(v > 0) || v * scale > 1e10)
				return "rate '" + std::string(text) + "': must be above 0 and at most 10000 Mpps";
			kind = RateKind::pps;
			rate = v * scale;
			return {};
		}
	}
	uint64_t bps = 0;
	if (std::string err = aqm::parse_rate_bps(text, bps); !err.empty())
		return err + " (or \"max\", or packets as \"100kpps\")";
	if (bps == 0)
		return "rate must be above 0 (or \"max\")";
	kind = RateKind::bps;
	rate = static_cast<double>(bps);
	return {};
}

int ecn_index(std::string_view name)
{
	for (int i = 0; i < kEcnCodepoints; i++)
		if (name == kEcnNames[i])
			return i;
	return -1;
}

// Non-negative weights (integers or fractions) as the smallest integers in
// the same ratio, each fraction kept to three decimals.
[[nodiscard]] bool integer_weights(const std::vector<double> &w, std::vector<uint32_t> &out)
{
	bool whole = true;
	double sum = 0;
	for (double v : w) {
		if (!(v >= 0) || v > 1e6)
			return false;
		whole = whole && v == std::floor(v);
		sum += v;
	}
	if (!(sum > 0))
		return false;
	out.clear();
	uint32_t g = 0;
	for (double v : w) {
		const auto n = static_cast<uint32_t>(whole ? v : std::lround(v * 1000));
		out.push_back(n);
		g = std::gcd(g, n);
	}
	if (g == 0)
		return false;
	for (uint32_t &n : out)
		n /= g;
	return true;
}

[[nodiscard]] bool read_ecn(TomlReader &r, const toml::table &t, FlowSpec &f)
{
	const toml::node *n = t.get("ecn");
	if (!n)
		return true;
	const std::string known = "not-ect, ect0, ect1 or ce";
	if (n->is_string()) {
		const int i = ecn_index(n->as_string()->get());
		if (i < 0)
			return r.fail(*n, "ecn", "unknown codepoint '" + n->as_string()->get() + "' (known: " + known + ")");
		f.ecn_weights = {};
		f.ecn_weights[i] = 1;
		return true;
	}
	const toml::table *mix = n->as_table();
	if (!mix)
		return r.fail(*n, "ecn", "expected a codepoint (\"ect1\") or a mix ({ ect1 = 0.5, not-ect = 0.5 })");
	std::vector<double> w(kEcnCodepoints, 0);
	for (const auto &[key, value] : *mix) {
		const int i = ecn_index(key.str());
		if (i < 0)
			return r.fail(value, "ecn", "unknown codepoint '" + std::string(key.str()) + "' (known: " + known + ")");
		if (!value.is_number())
			return r.fail(value, "ecn", "the weight of " + std::string(key.str()) + " must be a number");
		w[i] = value.is_integer() ? static_cast<double>(value.as_integer()->get())
					  : value.as_floating_point()->get();
	}
	std::vector<uint32_t> iw;
	if (!integer_weights(w, iw))
		return r.fail(*n, "ecn", "weights must be non-negative, at most 1e6, and not all zero");
	std::copy(iw.begin(), iw.end(), f.ecn_weights.begin());
	return true;
}

[[nodiscard]] bool read_sizes(TomlReader &r, const toml::table &t, FlowSpec &f)
{
	const toml::node *n = t.get("size");
	auto check = [&](const toml::node &at, int64_t v) {
		const int64_t min = f.ipv6 ? 78 : 60; // IPv6: headers and the stamp; IPv4: Ethernet's minimum
		if (v < min + (f.vlan ? 4 : 0) || v > kMaxFrameBytes)
			return r.fail(at, "size",
				      fmt::format("{} bytes: a frame must hold its headers and the 16-byte stamp ({} bytes "
						  "{}) and be at most {}",
						  v, min + (f.vlan ? 4 : 0), f.ipv6 ? "for IPv6" : "for IPv4", kMaxFrameBytes));
		return true;
	};
	if (n) {
		f.sizes.clear();
		if (n->is_string() && n->as_string()->get() == "imix") {
			f.sizes.assign(kImixSizes.begin(), kImixSizes.end());
			f.size_weights.assign(kImixWeights.begin(), kImixWeights.end());
			if (f.ipv6) // IPv6 headers do not fit 60 bytes: the smallest IMIX frame grows to hold them
				f.sizes[0] = static_cast<uint16_t>(78 + (f.vlan ? 4 : 0));
			return true;
		}
		if (n->is_integer()) {
			if (!check(*n, n->as_integer()->get()))
				return false;
			f.sizes = {static_cast<uint16_t>(n->as_integer()->get())};
			f.size_weights = {1};
			return true;
		}
		const toml::array *arr = n->as_array();
		if (!arr || arr->empty())
			return r.fail(*n, "size", "expected frame bytes (1000), \"imix\" or a list ([60, 1514])");
		for (const toml::node &e : *arr) {
			if (!e.is_integer())
				return r.fail(e, "size", "expected a list of integers");
			if (!check(e, e.as_integer()->get()))
				return false;
			f.sizes.push_back(static_cast<uint16_t>(e.as_integer()->get()));
		}
		f.size_weights.assign(f.sizes.size(), 1);
	} else {
		f.sizes = {static_cast<uint16_t>((f.ipv6 ? 78 : 60) + (f.vlan ? 4 : 0))};
	}
	if (const toml::node *w = t.get("size_weights")) {
		const toml::array *arr = w->as_array();
		if (!arr || arr->size() != f.sizes.size())
			return r.fail(*w, "size_weights", fmt::format("expected a list of {} weights, one per size", f.sizes.size()));
		std::vector<double> dw;
		for (const toml::node &e : *arr) {
			if (!e.is_number())
				return r.fail(e, "size_weights", "expected numbers");
			dw.push_back(e.is_integer() ? static_cast<double>(e.as_integer()->get()) : e.as_floating_point()->get());
		}
		if (!integer_weights(dw, f.size_weights))
			return r.fail(*w, "size_weights", "weights must be non-negative, at most 1e6, and not all zero");
	}
	return true;
}

[[nodiscard]] bool read_endpoint(TomlReader &r, const toml::table &t, std::string_view key, bool &ipv6,
				 std::array<uint8_t, 16> &ip, uint16_t &port)
{
	std::string text;
	if (!r.text(t, key, text) || text.empty())
		return r.error.empty();
	if (std::string err = parse_endpoint(text, ipv6, ip, port); !err.empty())
		return r.fail(*t.get(key), key, err);
	return true;
}

[[nodiscard]] bool read_flow(TomlReader &r, const toml::table &t, size_t index, std::vector<FlowSpec> &out)
{
	if (!r.only_keys(t, "[[flows]]", {"name", "src", "dst", "src_mac", "dst_mac", "vlan", "dscp", "size", "size_weights",
					  "rate", "ecn", "start", "stop", "count", "on", "off", "streams"}))
		return false;
	FlowSpec f;
	f.name = fmt::format("flow{}", index);
	f.src_ip = {10, 0, 0, 1};
	f.dst_ip = {10, 0, 1, 1};
	bool src_v6 = false, dst_v6 = false;
	std::string rate = "max", src_mac, dst_mac;
	uint32_t vlan = 0, dscp = 0, streams = 1;
	if (!r.text(t, "name", f.name) || !read_endpoint(r, t, "src", src_v6, f.src_ip, f.src_port) ||
	    !read_endpoint(r, t, "dst", dst_v6, f.dst_ip, f.dst_port) || !r.text(t, "src_mac", src_mac) ||
	    !r.text(t, "dst_mac", dst_mac) || !r.integer(t, "vlan", vlan, 0, 4094) || !r.integer(t, "dscp", dscp, 0, 63) ||
	    !r.text(t, "rate", rate) || !r.time(t, "start", f.start_ns) || !r.time(t, "stop", f.stop_ns) ||
	    !r.time(t, "on", f.on_ns) || !r.time(t, "off", f.off_ns) || !r.integer(t, "streams", streams, 1, kMaxFlows))
		return false;
	if (src_v6 != dst_v6) {
		// One given as IPv6 and the other left at its IPv4 default: default that one to IPv6 too.
		const bool src_given = t.get("src") != nullptr, dst_given = t.get("dst") != nullptr;
		if (src_given && dst_given)
			return r.fail(t, "dst", "src and dst must both be IPv4 or both IPv6");
		if (!src_given)
			f.src_ip = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
		if (!dst_given)
			f.dst_ip = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	}
	f.ipv6 = src_v6 || dst_v6;
	if (!src_mac.empty())
		if (std::string err = dataplane::parse_mac(src_mac, f.src_mac); !err.empty())
			return r.fail(*t.get("src_mac"), "src_mac", err);
	if (!dst_mac.empty())
		if (std::string err = dataplane::parse_mac(dst_mac, f.dst_mac); !err.empty())
			return r.fail(*t.get("dst_mac"), "dst_mac", err);
	f.vlan = static_cast<uint16_t>(vlan);
	f.dscp = static_cast<uint8_t>(dscp);
	if (std::string err = parse_rate(rate, f.rate_kind, f.rate); !err.empty())
		return r.fail(*t.get("rate"), "rate", err);
	if (const toml::node *c = t.get("count")) {
		if (!c->is_integer() || c->as_integer()->get() < 0)
			return r.fail(*c, "count", "expected a number of packets (0 = no limit)");
		f.count = static_cast<uint64_t>(c->as_integer()->get());
	}
	if (f.stop_ns && f.stop_ns <= f.start_ns)
		return r.fail(*t.get("stop"), "stop", "must be after start");
	if (f.off_ns && !f.on_ns)
		return r.fail(*t.get("off"), "off", "an off time needs an on time");
	if (!read_sizes(r, t, f) || !read_ecn(r, t, f))
		return false;
	// Streams: the same flow over `streams` 5-tuples (source port + i), the
	// rate and the packet count shared between them.
	for (uint32_t s = 0; s < streams; s++) {
		FlowSpec copy = f;
		if (streams > 1) {
			copy.name = fmt::format("{}.{}", f.name, s);
			copy.src_port = static_cast<uint16_t>(f.src_port + s);
			copy.rate = f.rate / streams;
			copy.count = f.count ? (f.count / streams + (s < f.count % streams)) : 0;
		}
		out.push_back(std::move(copy));
	}
	return true;
}

[[nodiscard]] bool read(TomlReader &r, const toml::table &root, TrafficSpec &spec)
{
	if (!r.only_keys(root, "the traffic file", {"traffic", "flows"}))
		return false;
	if (const toml::node *n = root.get("traffic")) {
		const toml::table *t = n->as_table();
		if (!t)
			return r.fail(*n, "traffic", "expected a table");
		uint32_t seed = 1;
		if (!r.only_keys(*t, "[traffic]", {"duration", "burst", "seed"}) || !r.time(*t, "duration", spec.duration_ns) ||
		    !r.integer(*t, "burst", spec.burst, 1, 512) || !r.integer(*t, "seed", seed, 0, INT32_MAX))
			return false;
		spec.seed = seed;
		if (spec.duration_ns == 0)
			return r.fail(*t->get("duration"), "duration", "must be above 0");
	}
	if (const toml::node *n = root.get("flows")) {
		const toml::array *arr = n->as_array();
		if (!arr)
			return r.fail(*n, "flows", "expected [[flows]] tables");
		for (const toml::node &e : *arr) {
			if (!e.is_table())
				return r.fail(e, "flows", "expected [[flows]] tables");
			if (!read_flow(r, *e.as_table(), spec.flows.size(), spec.flows))
				return false;
			if (spec.flows.size() > kMaxFlows)
				return r.fail(e, "flows", fmt::format("more than {} flows (streams count each)", kMaxFlows));
		}
	}
	return true;
}

} // namespace

std::string parse_endpoint(std::string_view text, bool &ipv6, std::array<uint8_t, 16> &ip, uint16_t &port)
{
	std::string addr(text);
	std::string port_text;
	if (!addr.empty() && addr[0] == '[') {
		const size_t close = addr.find(']');
		if (close == std::string::npos)
			return fmt::format("'{}': missing ']'", text);
		if (close + 1 < addr.size()) {
			if (addr[close + 1] != ':')
				return fmt::format("'{}': expected ':' and a port after ']'", text);
			port_text = addr.substr(close + 2);
		}
		addr = addr.substr(1, close - 1);
	} else if (std::count(addr.begin(), addr.end(), ':') == 1) {
		port_text = addr.substr(addr.find(':') + 1);
		addr = addr.substr(0, addr.find(':'));
	}
	std::array<uint8_t, 16> parsed{};
	if (inet_pton(AF_INET, addr.c_str(), parsed.data()) == 1)
		ipv6 = false;
	else if (inet_pton(AF_INET6, addr.c_str(), parsed.data()) == 1)
		ipv6 = true;
	else
		return fmt::format("'{}': not an IPv4 or IPv6 address (\"10.0.0.1:5000\", \"[2001:db8::1]:5000\")", text);
	if (!port_text.empty()) {
		uint32_t p = 0;
		if (!aqm::parse_u32(port_text, p).empty() || p > 65535)
			return fmt::format("'{}': port must be 0..65535", text);
		port = static_cast<uint16_t>(p);
	}
	ip = parsed;
	return {};
}

std::string format_endpoint(bool ipv6, const std::array<uint8_t, 16> &ip, uint16_t port)
{
	char buf[INET6_ADDRSTRLEN] = {};
	inet_ntop(ipv6 ? AF_INET6 : AF_INET, ip.data(), buf, sizeof(buf));
	return ipv6 ? fmt::format("[{}]:{}", buf, port) : fmt::format("{}:{}", buf, port);
}

std::string parse_traffic_spec(std::string_view text, const std::string &origin, TrafficSpec &out)
{
	toml::table root;
	try {
		root = toml::parse(text, origin);
	} catch (const toml::parse_error &e) {
		return fmt::format("{}:{}: {}", origin, e.source().begin.line, e.description());
	}
	TomlReader r{origin, {}};
	TrafficSpec spec = out;
	if (!read(r, root, spec))
		return r.error;
	out = std::move(spec);
	return {};
}

std::string load_traffic_spec(const std::string &path, TrafficSpec &out)
{
	std::ifstream in(path);
	if (!in)
		return path + ": cannot read it";
	std::stringstream text;
	text << in.rdbuf();
	TrafficSpec spec = out;
	if (std::string err = parse_traffic_spec(text.str(), path, spec); !err.empty())
		return err;
	if (spec.flows.empty())
		return path + ": no [[flows]]: nothing to send";
	out = std::move(spec);
	return {};
}

std::string parse_flow_shorthand(std::string_view text, TrafficSpec &out)
{
	// key=value pairs become one [[flows]] table: numbers stay numbers,
	// anything else is quoted; "ecn=ect1:1/not-ect:1" is a mix.
	std::string toml = "[[flows]]\n";
	size_t at = 0;
	while (at <= text.size()) {
		const size_t comma = std::min(text.find(',', at), text.size());
		const std::string_view pair = text.substr(at, comma - at);
		at = comma + 1;
		if (pair.empty())
			continue;
		const size_t eq = pair.find('=');
		if (eq == std::string_view::npos || eq == 0)
			return "--flow '" + std::string(text) + "': expected key=value pairs separated by commas";
		const std::string key(pair.substr(0, eq));
		std::string value(pair.substr(eq + 1));
		if (key == "ecn" && value.find(':') != std::string::npos) {
			std::string mix = "{ ";
			for (size_t p = 0; p <= value.size();) {
				const size_t slash = std::min(value.find('/', p), value.size());
				const std::string part = value.substr(p, slash - p);
				const size_t colon = part.find(':');
				if (colon == std::string::npos)
					return fmt::format("--flow: ecn mix '{}': expected codepoint:weight/codepoint:weight", value);
				mix += fmt::format("\"{}\" = {}, ", part.substr(0, colon), part.substr(colon + 1));
				p = slash + 1;
			}
			toml += key + " = " + mix.substr(0, mix.size() - 2) + " }\n";
			continue;
		}
		const bool number = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
			return (c >= '0' && c <= '9');
		});
		for (char c : value)
			if (c == '"' || c == '\\' || c == '\n')
				return "--flow: value of " + key + " holds a character it cannot";
		toml += key + " = " + (number ? value : "\"" + value + "\"") + "\n";
	}
	if (std::string err = parse_traffic_spec(toml, "--flow", out); !err.empty()) {
		// "--flow:N: key: message": the line number means nothing here.
		const size_t colon = err.find(": ", 7);
		return fmt::format("--flow '{}': {}", text, colon == std::string::npos ? err : err.substr(colon + 2));
	}
	return {};
}

std::vector<uint16_t> variant_cycle(const FlowSpec &f, uint64_t seed)
{
	std::vector<uint16_t> cycle;
	for (size_t s = 0; s < f.sizes.size(); s++)
		for (int e = 0; e < kEcnCodepoints; e++)
			cycle.insert(cycle.end(), static_cast<size_t>(f.size_weights[s]) * f.ecn_weights[e],
				     static_cast<uint16_t>(s * kEcnCodepoints + e));
	// A cycle of a million entries at most: weights beyond that are scaled down.
	if (cycle.size() > (1u << 20)) {
		const double keep = static_cast<double>(1u << 20) / static_cast<double>(cycle.size());
		std::vector<uint16_t> scaled;
		for (size_t s = 0; s < f.sizes.size(); s++)
			for (int e = 0; e < kEcnCodepoints; e++) {
				const double n = static_cast<double>(f.size_weights[s]) * f.ecn_weights[e] * keep;
				if (n > 0)
					scaled.insert(scaled.end(), std::max<size_t>(1, static_cast<size_t>(std::lround(n))),
						      static_cast<uint16_t>(s * kEcnCodepoints + e));
			}
		cycle = std::move(scaled);
	}
	aqm::Rng rng(seed);
	for (size_t i = cycle.size(); i > 1; i--)
		std::swap(cycle[i - 1], cycle[rng.next_u32() % i]);
	return cycle;
}

} // namespace dualpilot::trafficgen
