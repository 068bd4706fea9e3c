#include "dataplane/config.hpp"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "common/toml_reader.hpp"
#include "dataplane/config_tune.hpp"
#include "gpu/gemm_precision.hpp"

namespace dualpilot::dataplane {

// The example a missing device is answered with: a kernel interface through
// the PMD each system has for it (net_af_packet is Linux's; FreeBSD reaches
// an interface through net_pcap, docs/freebsd.md).
#if defined(__linux__)
constexpr const char *kInterfaceVdev = "\"net_af_packet0,iface=veth0\"";
#else
constexpr const char *kInterfaceVdev = "\"net_pcap0,iface=em0\"";
#endif

namespace {

using common::known_choices;
using common::parse_choice;
using common::TomlReader;

[[nodiscard]] bool read_strings(TomlReader &r, const toml::table &t, std::string_view key,
				std::vector<std::string> &out)
{
	const toml::node *n = t.get(key);
	if (!n)
		return true;
	const toml::array *arr = n->as_array();
	if (!arr)
		return r.fail(*n, key, "expected an array of strings");
	out.clear();
	for (const toml::node &e : *arr) {
		if (!e.is_string())
			return r.fail(e, key, "expected an array of strings");
		out.push_back(e.as_string()->get());
	}
	return true;
}

[[nodiscard]] bool read_port(TomlReader &r, const toml::table &t, PortConfig &p)
{
	if (!r.only_keys_and_aqm_tables(t, "[[ports]]", {"name", "device", "peer", "rate", "burst", "overhead", "aqm",
							 "rx_queues", "egress_queues", "delay"}))
		return false;
	if (const toml::node *n = t.get("overhead"); n && !(n->is_string() && n->as_string()->get() == "auto")) {
		uint32_t overhead = 0;
		if (!r.integer(t, "overhead", overhead, 0, 255))
			return false;
		p.overhead_bytes = static_cast<int32_t>(overhead);
	}
	std::string rate = "line";
	uint32_t rx_queues = 1, egress_queues = 1;
	if (!r.text(t, "name", p.name) || !r.text(t, "device", p.device) || !r.text(t, "peer", p.peer) ||
	    !r.text(t, "rate", rate) || !r.integer(t, "burst", p.burst_bytes, 64, 16 * 1024 * 1024) ||
	    !r.text(t, "aqm", p.aqm) || !r.integer(t, "rx_queues", rx_queues, 1, 64) ||
	    !r.integer(t, "egress_queues", egress_queues, 1, kMaxEgressQueuesPerPort) || !r.time(t, "delay", p.delay_ns))
		return false;
	p.egress_queues = static_cast<uint16_t>(egress_queues);
	if (p.delay_ns > 1000000000ull)
		return r.fail(*t.get("delay"), "delay", "at most 1s");
	p.rx_queues = static_cast<uint16_t>(rx_queues);
	if (p.name.empty())
		return r.fail(t, "name", "missing: every port needs a name");
	if (p.device.empty())
		return r.fail(t, "device", std::string("missing: a PCI address or a vdev such as ") + kInterfaceVdev);
	if (rate != "line") {
		if (std::string err = aqm::parse_rate_bps(rate, p.rate_bps); !err.empty())
			return r.fail(*t.get("rate"), "rate", err + " (or \"line\")");
	}
	bool known = false;
	for (std::string_view n : aqm::kAqmNames)
		known = known || n == p.aqm;
	if (!known && p.aqm != "none")
		return r.fail(*t.get("aqm"), "aqm", "unknown aqm '" + p.aqm + "' (known: none fifo pie codel dualpi2)");
	for (std::string_view n : aqm::kAqmNames) {
		const toml::node *params = t.get(n);
		if (!params)
			continue;
		if (n != p.aqm)
			return r.fail(*params, n, "parameters for " + std::string(n) + " but this port runs " + p.aqm);
		if (!r.aqm_settings(*params, n, p.aqm_params))
			return false;
	}
	return true;
}

// mbufs: a count, or "auto" (0): the router sizes the pool to its queues.
[[nodiscard]] bool read_mbufs(TomlReader &r, const toml::table &t, uint32_t &mbufs)
{
	const toml::node *n = t.get("mbufs");
	if (n && n->is_string() && n->as_string()->get() == "auto") {
		mbufs = 0;
		return true;
	}
	return r.integer(t, "mbufs", mbufs, 1024, 1u << 24);
}

[[nodiscard]] bool read_queue_memory(TomlReader &r, const toml::table &t, uint64_t &bytes)
{
	std::string text;
	if (!r.text(t, "queue_memory", text))
		return false;
	if (text.empty())
		return true;
	if (std::string err = aqm::parse_size_bytes(text, bytes); !err.empty())
		return r.fail(*t.get("queue_memory"), "queue_memory", err + " (a size such as \"512MB\")");
	if (bytes < (1u << 20))
		return r.fail(*t.get("queue_memory"), "queue_memory", "at least 1MB");
	return true;
}

// pool_rotate: a size ("256MB", any case); pool_rotate_time: a time, tc's
// units plus "min" and "h" ("10min").
[[nodiscard]] bool read_pool_rotation(TomlReader &r, const toml::table &t, PolicyConfig &p)
{
	std::string size, age;
	if (!r.text(t, "pool_rotate", size) || !r.text(t, "pool_rotate_time", age))
		return false;
	if (t.get("pool_rotate")) {
		std::string lower = size;
		for (char &ch : lower)
			ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
		if (std::string err = aqm::parse_size_bytes(lower, p.pool_rotate_bytes); !err.empty())
			return r.fail(*t.get("pool_rotate"), "pool_rotate",
				      err + " (a size such as \"256MB\"; a time goes in pool_rotate_time)");
		if (p.pool_rotate_bytes < (64u << 10))
			return r.fail(*t.get("pool_rotate"), "pool_rotate", "at least 64kb");
	}
	if (t.get("pool_rotate_time")) {
		double scale = 1;
		std::string_view text = age;
		if (text.ends_with("min")) {
			text.remove_suffix(3);
			scale = 60;
		} else if (text.ends_with("h")) {
			text.remove_suffix(1);
			scale = 3600;
		}
		uint64_t ns = 0;
		std::string err = scale == 1 ? aqm::parse_time_ns(text, ns) : aqm::parse_time_ns(std::string(text) + "s", ns);
		if (!err.empty())
			return r.fail(*t.get("pool_rotate_time"), "pool_rotate_time",
				      "not a time: '" + age + "' (expected e.g. \"10min\", \"1h\", \"30s\")");
		const double rotate_ns = static_cast<double>(ns) * scale;
		if (rotate_ns < 1e9 || rotate_ns > 366 * 86400e9)
			return r.fail(*t.get("pool_rotate_time"), "pool_rotate_time", "between 1s and 366 days");
		p.pool_rotate_ns = static_cast<uint64_t>(rotate_ns);
	}
	if (p.pool_rotates() && p.pool_out.empty())
		return r.fail(*t.get(t.get("pool_rotate") ? "pool_rotate" : "pool_rotate_time"),
			      t.get("pool_rotate") ? "pool_rotate" : "pool_rotate_time",
			      "rotation needs pool_out, the directory the pools go to");
	return true;
}

// [router] name: it begins the pool files' names, so letters, digits, '.',
// '_' and '-' only, not starting with '.'; the host's name when not given.
[[nodiscard]] bool read_router_name(TomlReader &r, const toml::table &t, std::string &name)
{
	if (!r.text(t, "name", name))
		return false;
	if (!t.get("name"))
		return true;
	const bool ok = !name.empty() && name.size() <= 64 && name[0] != '.' &&
			std::all_of(name.begin(), name.end(), [](char ch) {
				return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-';
			});
	if (!ok)
		return r.fail(*t.get("name"), "name",
			      "'" + name + "': 1 to 64 letters, digits, '.', '_' or '-', not starting with '.' (it names files)");
	return true;
}

std::string host_name()
{
	char buf[256] = {};
	if (::gethostname(buf, sizeof(buf) - 1) != 0 || !buf[0])
		return "router";
	std::string name(buf);
	for (char &ch : name)
		if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-'))
			ch = '_';
	return name[0] == '.' ? "_" + name : name;
}

[[nodiscard]] bool read_route(TomlReader &r, const toml::table &t, RouteConfig &route)
{
	if (!r.only_keys(t, "[[routes]]", {"prefix", "port", "next_hop_mac"}))
		return false;
	std::string prefix, mac;
	if (!r.text(t, "prefix", prefix) || !r.text(t, "port", route.port) || !r.text(t, "next_hop_mac", mac))
		return false;
	if (const std::string err = parse_prefix(prefix, route); !err.empty())
		return r.fail(t.get("prefix") ? *t.get("prefix") : static_cast<const toml::node &>(t), "prefix", err);
	if (const std::string err = parse_mac(mac, route.next_hop_mac); !err.empty())
		return r.fail(t.get("next_hop_mac") ? *t.get("next_hop_mac") : static_cast<const toml::node &>(t),
			      "next_hop_mac", err);
	return true;
}

[[nodiscard]] bool read_policy(TomlReader &r, const toml::table &t, PolicyConfig &p)
{
	if (!r.only_keys(t, "[policy]",
			 {"mode", "backend", "model", "inference_interval", "ring_size", "batch_max", "override_ttl",
			  "min_delay", "max_prob", "pool_out", "pool_max_entries", "pool_rotate", "pool_rotate_time",
			  "gpu_device", "gpu_precision", "gpu_graphs", "gpu_fallback", "action", "tune"}))
		return false;
	std::string mode = "off", backend = "cpu", precision = "tf32", fallback = "cpu";
	if (!r.text(t, "mode", mode) || !r.text(t, "backend", backend) || !r.text(t, "model", p.model) ||
	    !r.integer(t, "inference_interval", p.inference_interval, 0, 1000000) ||
	    !r.integer(t, "ring_size", p.ring_size, 64, 1 << 20) || !r.integer(t, "batch_max", p.batch_max, 1, 65536) ||
	    !r.time(t, "override_ttl", p.override_ttl_ns) || !r.time(t, "min_delay", p.guard.min_delay_ns) ||
	    !r.text(t, "pool_out", p.pool_out) || !r.integer(t, "gpu_device", p.gpu_device, 0, 1023) ||
	    !r.text(t, "gpu_precision", precision) || !r.text(t, "gpu_fallback", fallback) ||
	    !r.boolean(t, "gpu_graphs", p.gpu_graphs))
		return false;
	if (!gpu::parse_precision(precision, p.gpu_precision))
		return r.fail(*t.get("gpu_precision"), "gpu_precision",
			      "unknown precision '" + precision + "' " + known_choices(gpu::kPrecisionNames));
	if (!parse_choice(fallback, kGpuFallbackNames, p.gpu_fallback))
		return r.fail(*t.get("gpu_fallback"), "gpu_fallback",
			      "unknown fallback '" + fallback + "' " + known_choices(kGpuFallbackNames));
	uint32_t pool_max = 5000000;
	if (!r.integer(t, "pool_max_entries", pool_max, 1, 100000000))
		return false;
	p.pool_max_entries = pool_max;
	if (!read_pool_rotation(r, t, p))
		return false;
	if (const toml::node *n = t.get("max_prob")) {
		const auto v = n->value<double>();
		if (!v || !(*v > 0 && *v <= 1))
			return r.fail(*n, "max_prob", "expected a number in (0, 1]");
		p.guard.max_prob = *v;
	}
	if (!parse_choice(mode, kPolicyModeNames, p.mode))
		return r.fail(*t.get("mode"), "mode", "unknown policy mode '" + mode + "' " + known_choices(kPolicyModeNames));
	if (!parse_choice(backend, kPolicyBackendNames, p.backend))
		return r.fail(*t.get("backend"), "backend",
			      "unknown backend '" + backend + "' " + known_choices(kPolicyBackendNames));
	if ((p.ring_size & (p.ring_size - 1)) != 0)
		return r.fail(*t.get("ring_size"), "ring_size", "must be a power of two");
	if (p.mode != PolicyMode::off && p.backend == PolicyBackend::none)
		return r.fail(t, "backend", "shadow and enforce modes run a model: backend \"none\" only samples");
	if (p.mode != PolicyMode::off && p.model.empty())
		return r.fail(t, "model", "missing: shadow and enforce modes need a model file (.dpm)");
	if (p.mode != PolicyMode::off && p.inference_interval == 0)
		return r.fail(*t.get("inference_interval"), "inference_interval", "0 turns sampling off, and the policy sees nothing");
	if (p.override_ttl_ns == 0)
		return r.fail(*t.get("override_ttl"), "override_ttl", "must be greater than 0");
	return read_policy_action(r, t, p);
}

[[nodiscard]] bool read_telemetry(TomlReader &r, const toml::table &root, RouterConfig &c)
{
	const toml::node *n = root.get("telemetry");
	if (!n)
		return true;
	if (!n->is_table())
		return r.fail(*n, "telemetry", "expected a table: [telemetry] allow_changes = true");
	return r.only_keys(*n->as_table(), "[telemetry]", {"allow_changes"}) &&
	       r.boolean(*n->as_table(), "allow_changes", c.telemetry_allow_changes);
}

[[nodiscard]] bool read_eal(TomlReader &r, const toml::table &root, RouterConfig &c)
{
	const toml::node *eal = root.get("eal");
	if (!eal)
		return true;
	if (!eal->is_table())
		return r.fail(*eal, "eal", "expected a table: [eal] args = [...]");
	return r.only_keys(*eal->as_table(), "[eal]", {"args"}) && read_strings(r, *eal->as_table(), "args", c.eal_args);
}

[[nodiscard]] bool read_router(TomlReader &r, const toml::table &root, RouterConfig &c)
{
	const toml::node *rt = root.get("router");
	if (!rt)
		return true;
	if (!rt->is_table())
		return r.fail(*rt, "router", "expected a table");
	const toml::table &t = *rt->as_table();
	std::string mode = "l2-pair";
	if (!r.only_keys(t, "[router]",
			 {"name", "mode", "burst", "mbufs", "queue_memory", "stats_interval", "workers",
			  "allow_cross_numa", "empty_queue_bypass"}) ||
	    !read_router_name(r, t, c.name) || !r.text(t, "mode", mode) || !r.integer(t, "burst", c.burst, 1, 512) ||
	    !read_mbufs(r, t, c.mbufs) || !read_queue_memory(r, t, c.queue_memory_bytes) ||
	    !r.time(t, "stats_interval", c.stats_interval_ns) || !r.integer(t, "workers", c.workers, 1, 128) ||
	    !r.boolean(t, "allow_cross_numa", c.allow_cross_numa) ||
	    !r.boolean(t, "empty_queue_bypass", c.empty_queue_bypass))
		return false;
	if (!parse_choice(mode, kRouterModeNames, c.mode))
		return r.fail(*t.get("mode"), "mode", "unknown mode '" + mode + "' " + known_choices(kRouterModeNames));
	return true;
}

// The [[ports]] tables, each name once; then (l2-pair) each port's peer,
// which must name another port. names: the ports' names.
[[nodiscard]] bool read_ports(TomlReader &r, const toml::table &root, RouterConfig &c, std::set<std::string> &names)
{
	const toml::array *ports = root["ports"].as_array();
	if (!ports || ports->empty())
		return r.fail(root, "ports", "missing: add at least one [[ports]] table");
	size_t egress_queues = 0;
	for (const toml::node &n : *ports) {
		if (!n.is_table())
			return r.fail(n, "ports", "expected [[ports]] tables");
		PortConfig p;
		if (!read_port(r, *n.as_table(), p))
			return false;
		if (!names.insert(p.name).second)
			return r.fail(n, "name", "port name '" + p.name + "' used twice");
		egress_queues += p.egress_queues;
		c.ports.push_back(std::move(p));
		if (c.ports.size() > kMaxPorts)
			return r.fail(n, "ports", "more than " + std::to_string(kMaxPorts) + " ports");
		if (egress_queues > kMaxEgressQueues)
			return r.fail(n, "egress_queues", "more than " + std::to_string(kMaxEgressQueues) +
								      " egress queues over all ports (a port without the key has one)");
	}
	for (size_t i = 0; i < c.ports.size(); i++) {
		const PortConfig &p = c.ports[i];
		const toml::node &n = *ports->get(i);
		if (c.mode == RouterMode::l2_pair) {
			if (p.peer.empty())
				return r.fail(n, "peer", "missing: in l2-pair mode every port names the port its frames leave by");
			if (!names.count(p.peer))
				return r.fail(n, "peer", "no port named '" + p.peer + "'");
			if (p.peer == p.name)
				return r.fail(n, "peer", "a port cannot be its own peer");
		} else if (!p.peer.empty()) {
			return r.fail(n, "peer", "peer is for l2-pair mode; l3 mode forwards by [[routes]]");
		}
	}
	return true;
}

// The [[routes]] tables: each through a named port, no prefix twice; l3 mode
// needs at least one, l2-pair none.
[[nodiscard]] bool read_routes(TomlReader &r, const toml::table &root, RouterConfig &c,
			       const std::set<std::string> &names)
{
	if (const toml::node *routes = root.get("routes")) {
		const toml::array *arr = routes->as_array();
		if (!arr)
			return r.fail(*routes, "routes", "expected [[routes]] tables");
		for (const toml::node &n : *arr) {
			if (!n.is_table())
				return r.fail(n, "routes", "expected [[routes]] tables");
			RouteConfig route;
			if (!read_route(r, *n.as_table(), route))
				return false;
			if (!names.count(route.port))
				return r.fail(n, "port", "no port named '" + route.port + "'");
			for (const RouteConfig &other : c.routes)
				if (other.ipv6 == route.ipv6 && other.prefix_len == route.prefix_len &&
				    other.prefix == route.prefix)
					return r.fail(n, "prefix", "the same prefix is routed twice");
			c.routes.push_back(route);
		}
	}
	if (c.mode == RouterMode::l3 && c.routes.empty())
		return r.fail(root, "routes", "l3 mode needs at least one [[routes]] table");
	if (c.mode == RouterMode::l2_pair && !c.routes.empty())
		return r.fail(*root.get("routes"), "routes", "routes are for l3 mode; set [router] mode = \"l3\"");
	return true;
}

[[nodiscard]] bool read(TomlReader &r, const toml::table &root, RouterConfig &c)
{
	if (!r.only_keys(root, "the config", {"eal", "router", "ports", "routes", "policy", "telemetry", "objective"}) ||
	    !read_telemetry(r, root, c))
		return false;
	if (const toml::node *pol = root.get("policy")) {
		if (!pol->is_table())
			return r.fail(*pol, "policy", "expected a table");
		if (!read_policy(r, *pol->as_table(), c.policy))
			return false;
	}
	if (!read_eal(r, root, c) || !read_router(r, root, c))
		return false;
	if (c.name.empty())
		c.name = host_name();
	std::set<std::string> names;
	return read_ports(r, root, c, names) && read_routes(r, root, c, names) && check_tuned_ports(r, root, c);
}

} // namespace

std::string parse_mac(std::string_view text, std::array<uint8_t, 6> &out)
{
	unsigned v[6];
	char tail = 0;
	const std::string s(text);
	if (std::sscanf(s.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6 ||
	    s.size() != 17)
		return "not a MAC address: '" + s + "' (expected aa:bb:cc:dd:ee:ff)";
	for (int i = 0; i < 6; i++)
		out[i] = static_cast<uint8_t>(v[i]);
	return {};
}

std::string parse_prefix(std::string_view text, RouteConfig &out)
{
	const std::string s(text);
	const size_t slash = s.find('/');
	if (slash == std::string::npos)
		return "not a prefix: '" + s + "' (expected 10.0.0.0/8 or 2001:db8::/32)";
	const std::string addr = s.substr(0, slash);
	uint32_t len = 0;
	if (!aqm::parse_u32(s.substr(slash + 1), len).empty())
		return "bad prefix length in '" + s + "'";
	out.prefix.fill(0);
	if (inet_pton(AF_INET, addr.c_str(), out.prefix.data()) == 1) {
		if (len > 32)
			return "IPv4 prefix length above 32 in '" + s + "'";
		out.ipv6 = false;
	} else if (inet_pton(AF_INET6, addr.c_str(), out.prefix.data()) == 1) {
		if (len > 128)
			return "IPv6 prefix length above 128 in '" + s + "'";
		out.ipv6 = true;
	} else {
		return "not an IPv4 or IPv6 address in '" + s + "'";
	}
	out.prefix_len = static_cast<uint8_t>(len);
	// Like ip-route(8): host bits set past the length are a mistake, not a route.
	for (uint32_t bit = len; bit < (out.ipv6 ? 128u : 32u); bit++)
		if (out.prefix[bit / 8] & (0x80u >> (bit % 8)))
			return "host bits set past the prefix length in '" + s + "'";
	return {};
}

uint32_t effective_overhead_bytes(const PortConfig &p)
{
	if (p.overhead_bytes != PortConfig::kOverheadAuto)
		return static_cast<uint32_t>(p.overhead_bytes);
	return p.device.starts_with("net_") ? 0 : 24;
}

std::string parse_router_config(std::string_view text, const std::string &origin, RouterConfig &out)
{
	toml::table root;
	if (std::string err = common::parse_toml(text, origin, root); !err.empty())
		return err;
	TomlReader r{origin, {}};
	RouterConfig c;
	if (!read(r, root, c))
		return r.error;
	out = std::move(c);
	return {};
}

std::string load_router_config(const std::string &path, RouterConfig &out)
{
	std::string text;
	if (std::string err = common::read_file(path, "config file", text); !err.empty())
		return err;
	return parse_router_config(text, path, out);
}

} // namespace dualpilot::dataplane
