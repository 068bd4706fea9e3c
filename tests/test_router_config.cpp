// The router's config: the example parses, and every class of mistake stops
// it with a message naming the file, the line and the key.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dataplane/config.hpp"
#include "names.hpp"

namespace dualpilot::dataplane {
namespace {

using testing::names;

TEST(RouterConfig, TheExampleConfigParses)
{
	RouterConfig c;
	ASSERT_EQ(load_router_config(DUALPILOT_SOURCE_DIR "/configs/router.example.toml", c), "");
	EXPECT_EQ(c.mode, RouterMode::l2_pair);
	ASSERT_EQ(c.ports.size(), 2u);
	EXPECT_EQ(c.ports[0].name, "west");
	EXPECT_EQ(c.ports[0].peer, "east");
	EXPECT_EQ(c.ports[0].rate_bps, 20000000u);
	EXPECT_EQ(c.ports[0].aqm, "dualpi2");
	EXPECT_EQ(c.ports[0].delay_ns, 0u);
	ASSERT_EQ(c.ports[0].aqm_params.size(), 3u);
	bool has_target = false;
	for (const aqm::Setting &s : c.ports[0].aqm_params)
		has_target = has_target || (s.key == "target" && s.value == "15ms");
	EXPECT_TRUE(has_target);
	EXPECT_EQ(c.burst, 32u);
	EXPECT_EQ(c.eal_args.size(), 4u);
	EXPECT_EQ(c.workers, 1u);
}

TEST(RouterConfig, TheGpuBackendsKeysParse)
{
	RouterConfig c;
	ASSERT_EQ(parse_router_config("[[ports]]\nname = \"a\"\ndevice = \"x\"\npeer = \"b\"\n[[ports]]\nname = \"b\"\n"
				      "device = \"y\"\npeer = \"a\"\n[policy]\nmode = \"shadow\"\nbackend = \"gpu\"\n"
				      "model = \"m.dpm\"\ngpu_device = 1\ngpu_precision = \"bf16\"\ngpu_graphs = false\n"
				      "gpu_fallback = \"none\"\n",
				      "r.toml", c),
		  "");
	EXPECT_EQ(c.policy.backend, PolicyBackend::gpu);
	EXPECT_EQ(c.policy.gpu_device, 1u);
	EXPECT_EQ(c.policy.gpu_precision, gpu::Precision::bf16);
	EXPECT_FALSE(c.policy.gpu_graphs);
	EXPECT_EQ(c.policy.gpu_fallback, GpuFallback::none);
	// The defaults: TF32 products, graphs, the cpu backend behind the GPU.
	RouterConfig d;
	EXPECT_EQ(d.policy.gpu_precision, gpu::Precision::tf32);
	EXPECT_TRUE(d.policy.gpu_graphs);
	EXPECT_EQ(d.policy.gpu_fallback, GpuFallback::cpu);
}

// Rotation keys: a size (any case) and a time with minutes and hours; the
// router's name begins the files' names and defaults to the host's.
TEST(RouterConfig, PoolRotationKeysParse)
{
	const std::string ports = "[[ports]]\nname = \"a\"\ndevice = \"x\"\npeer = \"b\"\n[[ports]]\nname = \"b\"\n"
				  "device = \"y\"\npeer = \"a\"\n";
	RouterConfig c;
	ASSERT_EQ(parse_router_config("[router]\nname = \"edge-7.lon\"\n" + ports +
					      "[policy]\npool_out = \"pools\"\npool_rotate = \"256MB\"\n"
					      "pool_rotate_time = \"10min\"\n",
				      "r.toml", c),
		  "");
	EXPECT_EQ(c.name, "edge-7.lon");
	EXPECT_EQ(c.policy.pool_rotate_bytes, 256ull << 20);
	EXPECT_EQ(c.policy.pool_rotate_ns, 600ull * 1000000000);
	EXPECT_TRUE(c.policy.pool_rotates());
	RouterConfig h;
	ASSERT_EQ(parse_router_config(ports + "[policy]\npool_out = \"pools\"\npool_rotate_time = \"1.5h\"\n", "r.toml", h),
		  "");
	EXPECT_EQ(h.policy.pool_rotate_ns, 5400ull * 1000000000);
	EXPECT_EQ(h.policy.pool_rotate_bytes, 0u);
	EXPECT_FALSE(h.name.empty()); // the host's name
	RouterConfig plain;
	ASSERT_EQ(parse_router_config(ports + "[policy]\npool_out = \"pool.dpp\"\n", "r.toml", plain), "");
	EXPECT_FALSE(plain.policy.pool_rotates()); // one file at exit, as before
}

TEST(RouterConfig, L3RoutesParse)
{
	RouterConfig c;
	ASSERT_EQ(parse_router_config(R"(
		[router]
		mode = "l3"
		[[ports]]
		name = "a"
		device = "net_ring0"
		[[routes]]
		prefix = "10.1.0.0/16"
		port = "a"
		next_hop_mac = "02:00:00:00:00:0a"
		[[routes]]
		prefix = "2001:db8::/32"
		port = "a"
		next_hop_mac = "02:00:00:00:00:0b"
	)", "r.toml", c), "");
	ASSERT_EQ(c.routes.size(), 2u);
	EXPECT_FALSE(c.routes[0].ipv6);
	EXPECT_EQ(c.routes[0].prefix_len, 16);
	EXPECT_EQ(c.routes[0].prefix[1], 1);
	EXPECT_TRUE(c.routes[1].ipv6);
	EXPECT_EQ(c.routes[1].next_hop_mac[5], 0x0b);
}

// A choice's word reads back as itself, and a word that is none of them is
// refused naming the key, the word and every word the key takes (the
// tables in dataplane/config.hpp and gpu/gemm_precision.hpp).
template <class Enum, size_t N>
void expect_choice_round_trip(const char *const (&names)[N])
{
	for (const char *name : names) {
		Enum e{};
		ASSERT_TRUE(common::parse_choice(name, names, e)) << name;
		EXPECT_STREQ(names[static_cast<size_t>(e)], name);
	}
	Enum e{};
	EXPECT_FALSE(common::parse_choice("nonsense", names, e));
}

TEST(RouterConfig, EachChoiceReadsBackAsItsWord)
{
	expect_choice_round_trip<RouterMode>(kRouterModeNames);
	expect_choice_round_trip<PolicyMode>(kPolicyModeNames);
	expect_choice_round_trip<PolicyBackend>(kPolicyBackendNames);
	expect_choice_round_trip<GpuFallback>(kGpuFallbackNames);
	expect_choice_round_trip<gpu::Precision>(gpu::kPrecisionNames);
	EXPECT_STREQ(to_string(PolicyMode::shadow), "shadow");
	EXPECT_STREQ(to_string(RouterMode::l2_pair), "l2-pair");
	EXPECT_STREQ(to_string(PolicyBackend::none), "none");
	EXPECT_STREQ(to_string(GpuFallback::cpu), "cpu");
	EXPECT_STREQ(gpu::precision_name(gpu::Precision::bf16), "bf16");
}

TEST(RouterConfig, AnUnknownChoiceNamesItsKeyAndTheKnownWords)
{
	const std::string two_ports = "[[ports]]\nname = \"a\"\ndevice = \"net_ring0\"\npeer = \"b\"\n"
				      "[[ports]]\nname = \"b\"\ndevice = \"net_ring1\"\npeer = \"a\"\n";
	struct Choice {
		std::string toml;
		std::string key;
		std::vector<const char *> known;
	};
	const Choice cases[] = {
		{"[router]\nmode = \"l4\"\n" + two_ports, "r.toml:2: mode:", {"l2-pair", "l3"}},
		{two_ports + "[policy]\nmode = \"on\"\n", "r.toml:10: mode:", {"off", "shadow", "enforce"}},
		{two_ports + "[policy]\nbackend = \"tpu\"\n", "r.toml:10: backend:", {"cpu", "gpu", "none"}},
		{two_ports + "[policy]\ngpu_precision = \"fp16\"\n", "r.toml:10: gpu_precision:", {"fp32", "tf32", "bf16"}},
		{two_ports + "[policy]\ngpu_fallback = \"dualpi2\"\n", "r.toml:10: gpu_fallback:", {"cpu", "none"}},
	};
	for (const Choice &c : cases) {
		RouterConfig out;
		const std::string err = parse_router_config(c.toml, "r.toml", out);
		EXPECT_EQ(err.rfind(c.key, 0), 0u) << err;
		for (const char *word : c.known)
			EXPECT_NE(err.find(std::string(" ") + word), std::string::npos) << err << "\nwant: " << word;
	}
}

// A mistake and what its error names: where (file, line and key) and the
// value refused, where the message quotes one; not its wording.
struct Bad {
	std::string toml;
	std::initializer_list<std::string_view> names;
};

// An AQM's own message names the AQM and the key ("dualpi2: target: ..."):
// the reader puts the file and the key's line before it and nothing else (it
// once read "r.toml:9: dualpi2: dualpi2: target: not a time").
TEST(RouterConfig, ABadAqmParameterNamesTheAqmOnceAtItsLine)
{
	const std::string base = "[[ports]]\nname = \"a\"\ndevice = \"net_ring0\"\npeer = \"b\"\n"
				 "[[ports]]\nname = \"b\"\ndevice = \"net_ring1\"\npeer = \"a\"\n"
				 "[ports.dualpi2]\nlimit = 100\n";
	const auto count = [](const std::string &text, const std::string &what) {
		size_t n = 0;
		for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
			n++;
		return n;
	};
	RouterConfig c;
	std::string err = parse_router_config(base + "target = \"xyz\"\n", "r.toml", c);
	EXPECT_TRUE(err.starts_with("r.toml:11: dualpi2: target: ")) << err;
	EXPECT_EQ(count(err, "dualpi2:"), 1u) << err;
	// A check over the finished parameters names no key of its own: the table's line.
	err = parse_router_config(base + "target = \"0ms\"\n", "r.toml", c);
	EXPECT_TRUE(err.starts_with("r.toml:9: dualpi2: target must be")) << err;
	EXPECT_EQ(count(err, "dualpi2:"), 1u) << err;
	err = parse_router_config(base + "colour = 1\n", "r.toml", c);
	EXPECT_TRUE(err.starts_with("r.toml:9: dualpi2: unknown parameter 'colour'")) << err;
}

TEST(RouterConfig, EachMistakeNamesItsLineAndKey)
{
	const char *two_ports = "[[ports]]\nname = \"a\"\ndevice = \"net_ring0\"\npeer = \"b\"\n"
				"[[ports]]\nname = \"b\"\ndevice = \"net_ring1\"\npeer = \"a\"\n";
	const std::string base(two_ports);
	const Bad cases[] = {
		{"colour = 1\n", {"r.toml:1: colour:"}},
		{"[router]\nmode = \"l4\"\n", {"r.toml:2: mode:", "'l4'"}},
		{"[router]\nburst = 0\n", {"r.toml:2: burst:"}},
		{"[router]\nburst = \"32\"\n", {"r.toml:2: burst:"}},
		{"[router]\nstats_interval = \"5 minutes\"\n", {"r.toml:2: stats_interval:"}},
		{"[eal]\nargs = \"-l 0\"\n", {"r.toml:2: args:"}},
		{"[router]\n", {"ports"}},
		{"[[ports]]\nname = \"a\"\n", {"device"}},
		{"[[ports]]\ndevice = \"x\"\n", {"name"}},
		{"[[ports]]\nname = \"a\"\ndevice = \"x\"\nrate = \"fast\"\n", {"r.toml:4: rate:", "'fast'"}},
		{"[[ports]]\nname = \"a\"\ndevice = \"x\"\naqm = \"red\"\n", {"r.toml:4: aqm:", "'red'"}},
		{"[[ports]]\nname = \"a\"\ndevice = \"x\"\nspeed = 1\n", {"r.toml:4: speed:"}},
		{"[[ports]]\nname = \"a\"\ndevice = \"x\"\ndelay = \"2s\"\n", {"r.toml:4: delay:"}},
		{"[[ports]]\nname = \"a\"\ndevice = \"x\"\ndelay = \"soon\"\n", {"r.toml:4: delay:"}},
		{"[[ports]]\nname = \"a\"\ndevice = \"x\"\npeer = \"a\"\n", {"peer:"}},
		{"[[ports]]\nname = \"a\"\ndevice = \"x\"\npeer = \"zz\"\n", {"peer:", "'zz'"}},
		{"[[ports]]\nname = \"a\"\ndevice = \"x\"\n", {"peer", "l2-pair"}},
		{base + "[[ports]]\nname = \"a\"\ndevice = \"y\"\npeer = \"b\"\n", {"name", "'a'"}},
		{base + "[ports.dualpi2]\ntarget = \"0ms\"\n", {"dualpi2", "target"}},
		{base + "[ports.dualpi2]\ntupdate = \"16 ms\"\n", {"tupdate:"}},
		{base + "[ports.pie]\ntarget = \"5ms\"\n", {"pie", "dualpi2"}},
		{base + "[[routes]]\nprefix = \"10.0.0.0/8\"\nport = \"a\"\nnext_hop_mac = \"02:00:00:00:00:01\"\n",
		 {"routes", "l3"}},
		{"[router]\nmode = \"l3\"\n[[ports]]\nname = \"a\"\ndevice = \"x\"\n", {"l3", "[[routes]]"}},
		{"[router]\nmode = \"l3\"\n[[ports]]\nname = \"a\"\ndevice = \"x\"\n[[routes]]\nprefix = \"10.0.0.0/33\"\n"
		 "port = \"a\"\nnext_hop_mac = \"02:00:00:00:00:01\"\n", {"r.toml:7: prefix:"}},
		{"[router]\nmode = \"l3\"\n[[ports]]\nname = \"a\"\ndevice = \"x\"\n[[routes]]\nprefix = \"10.0.0.0/8\"\n"
		 "port = \"a\"\nnext_hop_mac = \"02:00:00:00:01\"\n", {"r.toml:9: next_hop_mac:"}},
		{"[router]\nmode = \"l3\"\n[[ports]]\nname = \"a\"\ndevice = \"x\"\n[[routes]]\nprefix = \"10.0.0.0/8\"\n"
		 "port = \"q\"\nnext_hop_mac = \"02:00:00:00:00:01\"\n", {"port:", "'q'"}},
		{"[router\n", {"r.toml:1:"}},
		{"[router]\nworkers = 0\n", {"r.toml:2: workers:"}},
		{"[router]\nallow_cross_numa = \"yes\"\n", {"r.toml:2: allow_cross_numa:"}},
		{"[router]\nmode = \"l3\"\n[[ports]]\nname = \"a\"\ndevice = \"x\"\n[[routes]]\nprefix = \"10.0.0.1/8\"\n"
		 "port = \"a\"\nnext_hop_mac = \"02:00:00:00:00:01\"\n", {"r.toml:7: prefix:", "'10.0.0.1/8'"}},
		{"[router]\nmode = \"l3\"\n[[ports]]\nname = \"a\"\ndevice = \"x\"\n[[routes]]\nprefix = \"10.0.0.0/8\"\n"
		 "port = \"a\"\nnext_hop_mac = \"02:00:00:00:00:01\"\n[[routes]]\nprefix = \"10.0.0.0/8\"\n"
		 "port = \"a\"\nnext_hop_mac = \"02:00:00:00:00:02\"\n", {"r.toml:10: prefix:"}},
		{base + "[policy]\ngpu_precision = \"fp16\"\n", {"r.toml:10: gpu_precision:", "'fp16'"}},
		{base + "[policy]\ngpu_fallback = \"dualpi2\"\n", {"r.toml:10: gpu_fallback:", "'dualpi2'"}},
		{base + "[policy]\ngpu_graphs = 1\n", {"r.toml:10: gpu_graphs:"}},
		{base + "[policy]\ngpu_device = -1\n", {"r.toml:10: gpu_device:"}},
		{base + "[policy]\npool_out = \"p\"\npool_rotate = \"10min\"\n", {"r.toml:11: pool_rotate:"}},
		{base + "[policy]\npool_out = \"p\"\npool_rotate = \"1kb\"\n", {"r.toml:11: pool_rotate:"}},
		{base + "[policy]\npool_out = \"p\"\npool_rotate = 256\n", {"r.toml:11: pool_rotate:"}},
		{base + "[policy]\npool_out = \"p\"\npool_rotate_time = \"256MB\"\n",
		 {"r.toml:11: pool_rotate_time:", "'256MB'"}},
		{base + "[policy]\npool_out = \"p\"\npool_rotate_time = \"10ms\"\n", {"r.toml:11: pool_rotate_time:"}},
		{base + "[policy]\npool_out = \"p\"\npool_rotate_time = \"99999999min\"\n",
		 {"r.toml:11: pool_rotate_time:"}},
		{base + "[policy]\npool_rotate = \"256MB\"\n", {"r.toml:10: pool_rotate:", "pool_out"}},
		{base + "[policy]\npool_rotate_time = \"1h\"\n", {"r.toml:10: pool_rotate_time:", "pool_out"}},
		{base + "[router]\nname = \"edge/1\"\n", {"r.toml:10: name:", "'edge/1'"}},
		{base + "[router]\nname = \".hidden\"\n", {"r.toml:10: name:", "'.hidden'"}},
		{base + "[router]\nname = \"\"\n", {"r.toml:10: name:", "''"}},
	};
	for (const Bad &b : cases) {
		RouterConfig c;
		const std::string err = parse_router_config(b.toml, "r.toml", c);
		EXPECT_TRUE(names(err, b.names)) << "config:\n" << b.toml;
	}
	RouterConfig c;
	EXPECT_TRUE(names(load_router_config("/nonexistent.toml", c), {"/nonexistent.toml"}));
}

} // namespace
} // namespace dualpilot::dataplane
