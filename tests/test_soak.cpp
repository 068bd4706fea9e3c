// The soak under faults (issue 19, suite 'soak'): a router on net_ring with
// DualPI2 on its egress port, a standing queue (~1.6x the port's rate) and
// the policy in enforce mode forwards N packets while, every second of the
// router's clock,
//   - the model is reloaded, a good file and a corrupt one in turn,
//   - the port's DualPI2 parameters change (target 15 ms <-> 10 ms, tupdate
//     16 ms <-> 12 ms),
// every tenth second the policy lcore stalls for 2 s (100x the 20 ms override
// TTL), and malformed frames (1 in 5) are mixed into the traffic throughout.
//
// It checks: conservation (rx = tx + every counted drop + queued) every
// second; no override applied after its expiry (a poll at which both of the
// port's slots have expired changes no verdict); that the router's figures
// after a fault return to DualPI2's (a twin router, DualPI2 alone on the same
// traffic with the same parameter changes, is the reference: over the last
// second of each stall, the overrides long expired, the soaked router's mean
// Classic sojourn is within 25 % or 2 ms of the twin's; while the policy
// acts, the figures are the policy's, not DualPI2's, so they are not
// compared then); and at the end, no mbuf outside the pool.
//
// CI size: 20,000,000 packets (125 s of router time, 12 stalls, ~110
// reloads; seconds of CPU); the full run, 10^8 packets:
// --soak-packets=100000000 (or DUALPILOT_SOAK_PACKETS=100000000).
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "dataplane/live_changes.hpp"
#include "dataplane/policy_worker.hpp"
#include "policy/model_file.hpp"
#include "ring_bed.hpp"
#include "small_model.hpp"

namespace dualpilot::dataplane {
namespace {

using namespace std::chrono_literals;
using namespace testing;

uint64_t soak_packets = 20000000;

constexpr uint64_t kSecondNs = 1000000000;
constexpr uint64_t kPollNs = 200000;           // 32 frames every 200 us: 160 kpps
constexpr uint64_t kStallPeriodS = 10;         // a policy stall begins at second 5, 15, 25, ...
constexpr uint64_t kStallFirstS = 5;
constexpr uint64_t kStallS = 2;                // and lasts 2 s (override TTL: 20 ms)

// Eight valid frames of ~620 bytes on average and two malformed ones: 128
// kpps of valid frames, ~640 Mbit/s against a 400 Mbit/s port.
std::vector<std::vector<uint8_t>> traffic()
{
	std::vector<std::vector<uint8_t>> t = {
		ipv4_frame(Ecn::not_ect, 0, 0x2e, 1000), ipv4_frame(Ecn::ect0, 0, 0x2e, 1400),
		ipv6_frame(Ecn::not_ect, 0, 500),        ipv4_frame(Ecn::ect1, 0, 0x2e, 800),
		ipv6_frame(Ecn::ect1, 0, 64),            ipv4_frame(Ecn::ect1, 0, 0x2e, 200),
		ipv4_frame(Ecn::not_ect, 0, 0x2e, 600),  ipv4_frame(Ecn::ce, 0, 0x2e, 100)};
	std::vector<uint8_t> bad_ihl = ipv4_frame(Ecn::ect0);
	bad_ihl[14] = 0x41; // IHL 1 word
	t.push_back(bad_ihl);
	t.push_back(std::vector<uint8_t>(12, 9)); // a runt
	return t;
}

// mbufs: the frames come from the test's pool; the router's own is small.
const char *kPorts = R"(
[router]
mbufs = 4096
[[ports]]
name = "west"
device = "WEST"
peer = "east"
aqm = "none"
[[ports]]
name = "east"
device = "EAST"
peer = "west"
rate = "400mbit"
aqm = "dualpi2"
)";

struct Bed {
	bed::RingPort west, east;
	Router router;
	aqm::Rng rng{2026}; // the same seed on both beds: the same frames
	uint64_t injected = 0, received = 0;

	std::string start(const std::string &name, const std::string &toml)
	{
		west = bed::make_ring_port(name + "w");
		east = bed::make_ring_port(name + "e");
		RouterConfig cfg;
		if (std::string err = parse_router_config(bed::with_devices(toml, west, east), name + ".toml", cfg);
		    !err.empty())
			return err;
		return router.init(cfg);
	}
	void inject(const std::vector<std::vector<uint8_t>> &t) { bed::inject_random(west.rx[0], t, rng, 32, injected); }
	void drain() { received += bed::drain_count(east); }
	double classic_sojourn_ms(uint64_t now) const
	{
		return static_cast<double>(
			       std::get<aqm::DualPi2>(*router.queue(1).aqm).head_sojourn_ns(aqm::QueueId::classic, now)) /
		       1e6;
	}
	// rx = tx + every counted drop + queued, and what the test counted.
	void expect_conservation(const char *when) const { bed::expect_conservation(router, injected, received, when); }
	~Bed()
	{
		router.shutdown();
		bed::free_ring_port(west);
		bed::free_ring_port(east);
	}
};

// Whether every override of the port's two queues has expired at now (or
// was never published): then no verdict may change.
bool overrides_expired(Router &r, size_t port, uint64_t now)
{
	for (int q = 0; q < aqm::kQueueCount; q++) {
		OverrideRecord ov;
		if (r.override_slots()[port * aqm::kQueueCount + q].read(ov) && ov.active(now))
			return false;
	}
	return true;
}

TEST(Soak, ForwardsThroughReloadsParameterChangesStallsAndMalformedFramesLosingNothing)
{
	const std::string dir = ::testing::TempDir();
	const std::string good = dir + "/soak_good.dpm", corrupt = dir + "/soak_corrupt.dpm";
	ASSERT_EQ(policy::write_model(small_model(5), good), "");
	write_damaged_copy(good, corrupt, 1.0 / 3, '\x7f');
	Bed soak, twin;
	ASSERT_EQ(soak.start("soak", std::string(kPorts) + "[policy]\nmode = \"enforce\"\nmodel = \"" + good +
					     "\"\ninference_interval = 10\noverride_ttl = \"20ms\"\nmax_prob = 0.1\n"),
		  "");
	ASSERT_EQ(twin.start("twin", kPorts), "");
	PolicyWorker policy;
	policy.init(soak.router.config().policy, soak.router);
	ASSERT_EQ(policy.error(), "");
	ASSERT_EQ(policy.mode(), PolicyMode::enforce);
	const std::vector<std::vector<uint8_t>> frames = traffic();

	uint64_t now = 1000, second = 0, expiry_checked = 0, reloads_ok = 0, reloads_refused = 0, aqm_changes = 0;
	uint64_t stalls = 0, reloads_posted = 0;
	double soak_sum = 0, twin_sum = 0;
	uint64_t figure_n = 0;
	bool last_reload_good = true;
	while (soak.injected < soak_packets) {
		now += kPollNs;
		const uint64_t s = now / kSecondNs;
		const bool stalled = s >= kStallFirstS && (s - kStallFirstS) % kStallPeriodS < kStallS;
		if (s != second) { // a new second of the router's clock
			second = s;
			soak.expect_conservation("each second");
			twin.expect_conservation("each second (twin)");
			// The last reload's outcome, carried out by the policy's poll since.
			uint64_t done = 0;
			const ChangeResult last = policy.change_outcome(&done);
			if (done > reloads_ok + reloads_refused) {
				EXPECT_EQ(last.ok, last_reload_good) << last.error;
				(last.ok ? reloads_ok : reloads_refused)++;
				EXPECT_EQ(policy.model_path(), good);
			}
			if (!stalled) {
				PolicyChange c;
				last_reload_good = s % 2 == 0;
				c.model = last_reload_good ? good : corrupt;
				ASSERT_TRUE(policy.request_change(c, 0ms).ok);
				reloads_posted++;
			}
			const aqm::Setting change[] = {{"target", s % 2 ? "10ms" : "15ms"}, {"tupdate", s % 2 ? "12ms" : "16ms"}};
			for (Bed *b : {&soak, &twin}) {
				const ChangeResult r = change_aqm(b->router, "east", change, 0ms);
				ASSERT_TRUE(r.ok) << r.error;
			}
			aqm_changes++;
		}
		soak.inject(frames);
		twin.inject(frames);
		const bool expired = overrides_expired(soak.router, 1, now);
		const uint64_t overridden = expired ? soak.router.port_stats(1).overridden : 0;
		soak.router.poll(now);
		twin.router.poll(now);
		if (expired) {
			ASSERT_EQ(soak.router.port_stats(1).overridden, overridden) << "an expired override changed a verdict at "
										   << now << " ns";
			expiry_checked++;
		}
		if (!stalled)
			policy.poll(now);
		soak.drain();
		twin.drain();
		// The last second of a stall: DualPI2 alone on both routers.
		const uint64_t into_stall = s >= kStallFirstS ? now - (kStallFirstS + (s - kStallFirstS) / kStallPeriodS *
											kStallPeriodS) * kSecondNs
							      : 0;
		if (stalled && into_stall >= (kStallS - 1) * kSecondNs) {
			soak_sum += soak.classic_sojourn_ms(now);
			twin_sum += twin.classic_sojourn_ms(now);
			figure_n++;
			if (into_stall + kPollNs >= kStallS * kSecondNs) { // the stall's last poll
				const double a = soak_sum / figure_n, b = twin_sum / figure_n;
				EXPECT_NEAR(a, b, std::max(2.0, 0.25 * b)) << "stall " << stalls << " at second " << s;
				std::printf("stall %llu (second %llu): mean Classic sojourn %.2f ms, DualPI2 alone %.2f ms\n",
					    static_cast<unsigned long long>(stalls), static_cast<unsigned long long>(s), a, b);
				stalls++;
				soak_sum = twin_sum = 0;
				figure_n = 0;
			}
		}
	}
	// Drain: no more traffic, the queues empty through the shapers.
	for (int i = 0; i < 20000 && (soak.router.queued_pkts() > 0 || twin.router.queued_pkts() > 0); i++) {
		now += kPollNs;
		soak.router.poll(now);
		twin.router.poll(now);
		soak.drain();
		twin.drain();
	}
	soak.expect_conservation("at the end");
	twin.expect_conservation("at the end (twin)");
	const PortStats in = soak.router.port_stats(0), out = soak.router.port_stats(1);
	std::printf("soak: %llu packets in, %llu out, %llu malformed, %llu AQM drops, %llu marks, %llu overridden, "
		    "%llu queued; %llu reloads (%llu good, %llu refused), %llu AQM changes, %llu stalls, %llu polls "
		    "checked with every override expired\n",
		    static_cast<unsigned long long>(in.rx_pkts), static_cast<unsigned long long>(out.tx_pkts),
		    static_cast<unsigned long long>(in.malformed()), static_cast<unsigned long long>(out.aqm_drops),
		    static_cast<unsigned long long>(out.marked), static_cast<unsigned long long>(out.overridden),
		    static_cast<unsigned long long>(soak.router.queued_pkts()),
		    static_cast<unsigned long long>(reloads_posted), static_cast<unsigned long long>(reloads_ok),
		    static_cast<unsigned long long>(reloads_refused), static_cast<unsigned long long>(aqm_changes),
		    static_cast<unsigned long long>(stalls), static_cast<unsigned long long>(expiry_checked));
	EXPECT_GT(in.malformed(), 0u);
	EXPECT_GT(out.overridden, 0u); // the policy did act between the faults
	EXPECT_GT(reloads_ok, 0u);
	EXPECT_GT(reloads_refused, 0u);
	EXPECT_GE(stalls, soak_packets >= 4000000 ? 2u : 0u);
	EXPECT_GT(expiry_checked, 0u);
	EXPECT_EQ(soak.router.queued_pkts(), 0u);
	soak.router.shutdown();
	twin.router.shutdown();
	bed::drain_count(soak.east);
	bed::drain_count(twin.east);
	EXPECT_EQ(rte_mempool_in_use_count(bed::test_pool), 0u); // no mbuf leaked
}

} // namespace
} // namespace dualpilot::dataplane

int main(int argc, char **argv)
{
	if (const char *env = std::getenv("DUALPILOT_SOAK_PACKETS"))
		dualpilot::dataplane::soak_packets = std::strtoull(env, nullptr, 10);
	for (int i = 1; i < argc; i++)
		if (std::string_view(argv[i]).starts_with("--soak-packets="))
			dualpilot::dataplane::soak_packets = std::strtoull(argv[i] + 15, nullptr, 10);
	return dualpilot::dataplane::bed::run_with_eal(argc, argv, false, 65536);
}
