// The tuner in the router (issue 27; docs/pilot.md, "The tuner"): its
// config, the setting records the owning worker takes between bursts, the
// steps it counts, and the policy worker running the tuner loop, on net_ring
// ports. Settings keep DualPI2's PI state and queue; a record naming nothing
// in the table, or one whose state is already tune_ttl old, is never
// applied; the base returns on expiry and on the harm guard's back-off; the
// steps and the published settings are those the simulator's way of feeding
// the same code gives.
#include <atomic>
#include <thread>

#include <nlohmann/json.hpp>

#include "dataplane/pilot_channels.hpp"
#include "dataplane/policy_worker.hpp"
#include "dataplane/telemetry.hpp"
#include "ring_bed.hpp"
#include "tsan_dpdk_suppressions.hpp" // DPDK's ring fences, which TSan does not model
#include "tests/scripted_pilot.hpp"

namespace dualpilot::dataplane::bed {
namespace {

std::unique_ptr<policy::Backend> scripted(testkit::TuneScript script, const policy::TuneConfig &tune = {})
{
	return std::make_unique<testkit::ScriptedTuner>(std::move(script), policy::tune_actions(tune).size());
}

// West a fifo at line rate, east DualPI2 at 10 Mbit/s over a base of target
// 5 ms, the tuner on east in `mode`; extra [policy.tune] lines as given.
std::string tune_toml(const std::string &mode, const std::string &tune_extra = "", const std::string &router = "")
{
	return router + l2_pair_toml("10mbit", "aqm = \"dualpi2\"\n[ports.dualpi2]\ntarget = \"5ms\"\n") +
	       "[policy]\nmode = \"" + mode + "\"\naction = \"tune\"\nmodel = \"in-memory.dpm\"\n[policy.tune]\n" +
	       tune_extra;
}

// The default table's action 35: target 30 ms, max_rtt 200 ms, step 2 ms, k 3.
constexpr uint32_t kTarget30 = 35;

aqm::DualPi2 &east_dualpi2(Router &router) { return std::get<aqm::DualPi2>(*router.queue(1).aqm); }

// n Classic frames of 1000 bytes of payload into west, one poll at now.
void offer(Router &router, const RingPort &west, const RingPort &east, unsigned n, uint64_t now)
{
	inject(west, std::vector<std::vector<uint8_t>>(n, ipv4_frame(Ecn::not_ect, 0, 0x28, 1000)));
	router.poll(now);
	drain_count(east);
}

// 1 ms polls of 3 such frames (24 Mbit/s into 10) from now for ms polls,
// the policy worker (when given) polled after each.
void overload(Router &router, const RingPort &west, const RingPort &east, uint64_t &now, int ms,
	      PolicyWorker *policy = nullptr)
{
	for (int i = 0; i < ms; i++, now += 1000000) {
		offer(router, west, east, 3, now);
		if (policy)
			policy->poll(now);
	}
}

const TuneCounts &counts(const Router &router) { return router.port_tune(1)->counts; }

} // namespace

TEST(TuneRouterConfig, VerdictIsTheDefaultAndTuneReadsEveryKey)
{
	RouterConfig c;
	ASSERT_EQ(parse_router_config(l2_pair_toml("line", ""), "r.toml", c), "");
	EXPECT_EQ(c.policy.action, policy::PilotAction::verdict);
	EXPECT_FALSE(c.policy.tuning());
	RouterConfig t;
	const std::string extra = "tune_interval = \"200ms\"\nsteps_per_interval = 4\ntune_ttl = \"1s\"\n"
				  "targets = [\"5ms\", \"20ms\"]\nmax_rtts = [\"100ms\"]\nstep_threshs = [\"1ms\"]\n"
				  "couplings = [2]\ntarget_min = \"2ms\"\ntarget_max = \"50ms\"\nmax_rtt_min = \"20ms\"\n"
				  "max_rtt_max = \"500ms\"\nstep_thresh_min = \"200us\"\nstep_thresh_max = \"5ms\"\n"
				  "coupling_min = 1\ncoupling_max = 4\nharm_classic_factor = 2.5\nharm_l4s_factor = 3\n"
				  "harm_load = 0.6\nharm_trip_intervals = 2\nharm_backoff = \"2s\"\nharm_max_backoff = \"8s\"\n"
				  "ports = [\"east\"]\n";
	ASSERT_EQ(parse_router_config(tune_toml("enforce", extra), "r.toml", t), "");
	EXPECT_TRUE(t.policy.tuning());
	const policy::TuneConfig &k = t.policy.tune;
	EXPECT_EQ(k.interval_ns, 200000000u);
	EXPECT_EQ(k.steps_per_interval, 4u);
	EXPECT_EQ(k.ttl_ns, 1000000000u);
	EXPECT_EQ(k.targets_ns, (std::vector<uint64_t>{5000000, 20000000}));
	EXPECT_EQ(k.couplings, std::vector<uint32_t>{2});
	EXPECT_EQ(k.step_thresh_min_ns, 200000u);
	EXPECT_EQ(k.coupling_max, 4u);
	EXPECT_DOUBLE_EQ(k.harm_classic_factor, 2.5);
	EXPECT_DOUBLE_EQ(k.harm_load, 0.6);
	EXPECT_EQ(k.harm_trip_intervals, 2u);
	EXPECT_EQ(k.harm_max_backoff_ns, 8000000000u);
	EXPECT_EQ(t.policy.tune_ports, std::vector<std::string>{"east"});
}

// Errors name the file, the line and the key.
TEST(TuneRouterConfig, MistakesAreNamedWithTheirLineAndKey)
{
	RouterConfig c;
	std::string err = parse_router_config(tune_toml("enforce", "targets = [\"5ms\", \"200ms\"]\n"), "r.toml", c);
	EXPECT_NE(err.find("r.toml:19: targets: 200ms is outside the rails"), std::string::npos) << err;
	c = {};
	err = parse_router_config(tune_toml("enforce", "tune_ttl = \"50ms\"\n"), "r.toml", c);
	EXPECT_NE(err.find("r.toml:19: tune_ttl: at least tune_interval"), std::string::npos) << err;
	c = {};
	err = parse_router_config(tune_toml("enforce", "harm_load = 1.5\n"), "r.toml", c);
	EXPECT_NE(err.find("r.toml:19: harm_load: at least 0 and at most 1"), std::string::npos) << err;
	c = {};
	err = parse_router_config(tune_toml("enforce", "ports = [\"west\"]\n"), "r.toml", c);
	EXPECT_NE(err.find("r.toml:19: ports: port 'west' runs aqm \"fifo\""), std::string::npos) << err;
	c = {};
	err = parse_router_config(tune_toml("enforce", "ports = [\"north\"]\n"), "r.toml", c);
	EXPECT_NE(err.find("ports: no port named 'north'"), std::string::npos) << err;
	c = {};
	err = parse_router_config(tune_toml("enforce", "bins = 3\n"), "r.toml", c);
	EXPECT_NE(err.find("r.toml:19: bins: unknown key in [policy.tune]"), std::string::npos) << err;
	c = {};
	std::string toml = tune_toml("enforce");
	toml.replace(toml.find("action = \"tune\""), 15, "action = \"knobs\"");
	err = parse_router_config(toml, "r.toml", c);
	EXPECT_NE(err.find("r.toml:16: action: unknown action 'knobs' (known: verdict tune)"), std::string::npos) << err;
	c = {};
	toml = l2_pair_toml("line", "aqm = \"pie\"\n") + "[policy]\nmode = \"shadow\"\naction = \"tune\"\nmodel = \"m.dpm\"\n";
	err = parse_router_config(toml, "r.toml", c);
	EXPECT_NE(err.find("action: \"tune\" sets DualPI2's settings, and no port runs aqm \"dualpi2\""), std::string::npos)
		<< err;
}

// Verdict mode builds none of the tuner's state; tune mode has no override
// slots and no sample rings.
TEST_F(RouterRing, TunerStateExistsInTuneModeOnly)
{
	ASSERT_EQ(start("aqm = \"dualpi2\"\n", "10mbit"), "");
	EXPECT_FALSE(router.tuning());
	EXPECT_EQ(router.workers()[0].tune_steps, nullptr);
	router.shutdown();
	ASSERT_EQ(start_toml(tune_toml("enforce")), "");
	EXPECT_TRUE(router.tuning());
	EXPECT_EQ(router.override_slots(), nullptr);
	EXPECT_FALSE(router.sampling());
	EXPECT_TRUE(router.port_tune(1)->tuned);
	EXPECT_FALSE(router.port_tune(0)->tuned);
	// The workers' table is the tuner loop's: the settings over east's base.
	policy::TuneLoop loop;
	policy::TuneLoopConfig c;
	ASSERT_EQ(loop.init(c, {{east_dualpi2(router).params(), 0}}, nullptr), "");
	const std::vector<aqm::DualPi2Params> &table = router.port_tune(1)->table;
	ASSERT_EQ(table.size(), loop.action_params(0).size() + 1);
	for (size_t a = 0; a < loop.action_params(0).size(); a++) {
		const aqm::DualPi2Params &x = table[a], &y = loop.action_params(0)[a];
		EXPECT_EQ(x.target_ns, y.target_ns) << a;
		EXPECT_EQ(x.tupdate_ns, y.tupdate_ns) << a;
		EXPECT_EQ(x.alpha_256, y.alpha_256) << a;
		EXPECT_EQ(x.beta_256, y.beta_256) << a;
		EXPECT_EQ(x.step_thresh_ns, y.step_thresh_ns) << a;
		EXPECT_EQ(x.coupling_factor, y.coupling_factor) << a;
		EXPECT_EQ(x.limit_pkts, y.limit_pkts) << a;
	}
	EXPECT_EQ(table.back().target_ns, 5000000u); // the base, last
}

// A setting comes into force on the worker's next pass, between bursts, and
// changes the PI's parameters only: p' and the queued packets stay. The
// steps report it in force.
TEST_F(RouterRing, TunerASettingIsAppliedBetweenBurstsAndKeepsThePiStateAndTheQueue)
{
	ASSERT_EQ(start_toml(tune_toml("enforce")), "");
	uint64_t now = 1000000000;
	overload(router, west, east, now, 300);
	aqm::DualPi2 &q = east_dualpi2(router);
	router.poll(now); // this instant's budget spent: the next pass at it moves nothing
	const uint32_t prob = q.prob_q32();
	const uint64_t backlog = q.backlog_pkts();
	ASSERT_GT(prob, 0u);
	ASSERT_GT(backlog, 0u);
	ASSERT_EQ(q.params().target_ns, 5000000u);
	RouterTuneSettings sink(router.tune_slots(), router.ports().size());
	sink.publish_setting(1, kTarget30, now, now + 500000000);
	EXPECT_EQ(q.params().target_ns, 5000000u); // not before the worker's pass
	router.poll(now);
	EXPECT_EQ(q.params().target_ns, 30000000u);
	EXPECT_EQ(q.params().coupling_factor, 3u);
	EXPECT_EQ(q.params().step_thresh_ns, 2000000u);
	EXPECT_EQ(q.prob_q32(), prob);
	EXPECT_EQ(q.backlog_pkts(), backlog);
	EXPECT_EQ(counts(router).applied.load(), 1u);
	overload(router, west, east, now, 30);
	TuneStepMsg last{};
	router.drain_tune_steps([&](const TuneStepMsg &m) { last = m; });
	EXPECT_EQ(last.port, 1u);
	EXPECT_EQ(last.step.setting, kTarget30);
	EXPECT_GT(last.step.forwarded[0], 0u);
}

// A record naming no setting of the table is never applied.
TEST_F(RouterRing, TunerASettingOutsideTheTableIsNeverApplied)
{
	ASSERT_EQ(start_toml(tune_toml("enforce")), "");
	uint64_t now = 1000000000;
	overload(router, west, east, now, 20);
	RouterTuneSettings sink(router.tune_slots(), router.ports().size());
	const uint32_t k = static_cast<uint32_t>(policy::tune_actions({}).size());
	sink.publish_setting(1, k, now, now + 500000000);
	overload(router, west, east, now, 5);
	sink.publish_setting(1, 0xfffe, now, now + 500000000);
	overload(router, west, east, now, 5);
	EXPECT_EQ(counts(router).refused.load(), 2u);
	EXPECT_EQ(counts(router).applied.load(), 0u);
	EXPECT_EQ(east_dualpi2(router).params().target_ns, 5000000u);
}

// The policy worker decides from steps that have waited (a stalled worker
// pass, a slow decision): by the time its record reaches the worker its
// state is older than tune_ttl, and it is never applied.
TEST_F(RouterRing, TunerAStaleSettingIsNeverApplied)
{
	ASSERT_EQ(start_toml(tune_toml("enforce")), "");
	PolicyWorker policy;
	policy.init(router.config().policy, router, scripted([](const float *) { return kTarget30; }));
	ASSERT_EQ(policy.mode(), PolicyMode::enforce) << policy.error();
	uint64_t now = 1000000000;
	overload(router, west, east, now, 250); // steps wait in the ring
	policy.poll(now);                       // two intervals: two decisions, the last from 50 ms ago
	EXPECT_EQ(policy.tune_report().stats.published, 2u);
	now += 500000000; // the worker's next pass comes 500 ms later
	overload(router, west, east, now, 1);
	EXPECT_EQ(counts(router).stale.load(), 1u);
	EXPECT_EQ(counts(router).applied.load(), 0u);
	EXPECT_EQ(east_dualpi2(router).params().target_ns, 5000000u);
}

// One fresh setting, then the policy worker stops: the setting lapses
// tune_ttl after its state, and the base returns.
TEST_F(RouterRing, TunerTheBaseReturnsOnExpiry)
{
	ASSERT_EQ(start_toml(tune_toml("enforce", "harm_classic_factor = 100\n")), "");
	PolicyWorker policy;
	policy.init(router.config().policy, router, scripted([](const float *) { return kTarget30; }));
	uint64_t now = 1000000000;
	for (int i = 0; i < 110 && policy.tune_report().stats.published == 0; i++, now += 1000000) {
		offer(router, west, east, 3, now);
		policy.poll(now);
	}
	ASSERT_EQ(policy.tune_report().stats.published, 1u);
	overload(router, west, east, now, 2);
	EXPECT_EQ(east_dualpi2(router).params().target_ns, 30000000u);
	overload(router, west, east, now, 480); // the policy worker polls no more
	EXPECT_EQ(east_dualpi2(router).params().target_ns, 30000000u);
	overload(router, west, east, now, 30);
	EXPECT_EQ(east_dualpi2(router).params().target_ns, 5000000u);
	EXPECT_EQ(counts(router).applied.load(), 1u);
	EXPECT_EQ(counts(router).expired.load(), 1u);
}

// A model that drives the target to 45 ms, 9 times the base's, under an
// unresponsive Classic overload: the Classic median stands past 3 x 5 ms and
// the harm guard sends the port back to its base at once, counted.
TEST_F(RouterRing, TunerTheHarmGuardBacksOffATargetAtItsMaximum)
{
	policy::TuneConfig tune;
	tune.targets_ns = {5000000, 45000000};
	ASSERT_EQ(policy::tune_actions(tune)[12].target_ns, 45000000u);
	ASSERT_EQ(start_toml(tune_toml("enforce", "targets = [\"5ms\", \"45ms\"]\n")), "");
	PolicyWorker policy;
	policy.init(router.config().policy, router, scripted([](const float *) { return 12; }, tune));
	ASSERT_EQ(policy.mode(), PolicyMode::enforce) << policy.error();
	uint64_t now = 1000000000;
	bool tuned = false;
	for (int i = 0; i < 3000 && policy.tune_report().stats.pilot_backoffs == 0; i++, now += 1000000) {
		offer(router, west, east, 3, now);
		policy.poll(now);
		tuned = tuned || east_dualpi2(router).params().target_ns == 45000000u;
	}
	EXPECT_TRUE(tuned);
	ASSERT_EQ(policy.tune_report().stats.pilot_backoffs, 1u);
	overload(router, west, east, now, 1, &policy);
	EXPECT_EQ(counts(router).withdrawn.load(), 1u);
	EXPECT_EQ(east_dualpi2(router).params().target_ns, 5000000u);
	const std::string summary = policy.summary();
	EXPECT_NE(summary.find("1 pilot_backoffs"), std::string::npos) << summary;
	EXPECT_NE(summary.find("east tuner: in force"), std::string::npos) << summary;
}

// Shadow: the loop decides and counts, and publishes nothing; DualPI2 keeps
// its configured settings.
TEST_F(RouterRing, TunerInShadowModeDecidesAndPublishesNothing)
{
	ASSERT_EQ(start_toml(tune_toml("shadow")), "");
	PolicyWorker policy;
	policy.init(router.config().policy, router, scripted([](const float *) { return kTarget30; }));
	ASSERT_EQ(policy.mode(), PolicyMode::shadow) << policy.error();
	uint64_t now = 1000000000;
	overload(router, west, east, now, 450, &policy);
	const TuneReport r = policy.tune_report();
	EXPECT_EQ(r.stats.decisions, 4u);
	EXPECT_EQ(r.stats.published, 0u);
	ASSERT_EQ(r.ports.size(), 1u);
	EXPECT_EQ(r.ports[0].published, 0u);
	EXPECT_EQ(r.ports[0].applied, 0u);
	EXPECT_EQ(r.ports[0].in_force, "base");
	EXPECT_EQ(east_dualpi2(router).params().target_ns, 5000000u);
}

// A model that is no tuner's (another table's actions) is refused at start-up
// with the loop's reason: the port keeps its configured settings, and its
// steps are still counted.
TEST_F(RouterRing, TunerAModelForAnotherTableIsRefusedAtStartUp)
{
	ASSERT_EQ(start_toml(tune_toml("enforce")), "");
	PolicyWorker policy;
	policy.init(router.config().policy, router,
		    std::make_unique<testkit::ScriptedTuner>([](const float *) { return 0; }, 5));
	EXPECT_EQ(policy.mode(), PolicyMode::off);
	EXPECT_NE(policy.error().find("the model has 5 actions and [policy.tune]'s bins make 36 settings"),
		  std::string::npos)
		<< policy.error();
	uint64_t now = 1000000000;
	overload(router, west, east, now, 150, &policy);
	EXPECT_EQ(policy.tune_report().stats.decisions, 0u);
	EXPECT_EQ(counts(router).steps.load(), 14u);
	EXPECT_EQ(east_dualpi2(router).params().target_ns, 5000000u);
}

// A tuned port's AQM parameters are the tuner's: a live change is refused,
// naming why; an untuned port's still changes.
TEST_F(RouterRing, TunerALiveAqmChangeOnATunedPortIsRefused)
{
	ASSERT_EQ(start_toml(tune_toml("enforce")), "");
	const std::vector<aqm::Setting> target{{"target", "10ms"}};
	const ChangeResult r = change_aqm(router, "east", target, std::chrono::milliseconds(0));
	EXPECT_FALSE(r.ok);
	EXPECT_NE(r.error.find("port 'east' is tuned by the pilot"), std::string::npos) << r.error;
	const std::vector<aqm::Setting> limit{{"limit", "500"}};
	const ChangeResult west_change = change_aqm(router, "west", limit, std::chrono::milliseconds(0));
	EXPECT_TRUE(west_change.ok) << west_change.error;
}

// /dualpilot/policy in tune mode: the loop's counters and a dict per tuned
// port with the setting in force, its counts and the time each was held.
TEST_F(RouterRing, TunerTelemetryReportsEachTunedPort)
{
	ASSERT_EQ(start_toml(tune_toml("enforce", "harm_classic_factor = 100\n")), "");
	PolicyWorker policy;
	policy.init(router.config().policy, router, scripted([](const float *) { return kTarget30; }));
	uint64_t now = 1000000000;
	overload(router, west, east, now, 150, &policy);
	ASSERT_EQ(publish_telemetry(&router, &policy), "");
	const auto reply = nlohmann::json::parse(telemetry_reply("/dualpilot/policy"), nullptr, false);
	publish_telemetry(nullptr);
	ASSERT_TRUE(reply.contains("/dualpilot/policy")) << reply.dump();
	const auto &p = reply["/dualpilot/policy"];
	EXPECT_EQ(p["action"], "tune");
	EXPECT_EQ(p["mode"], "enforce");
	EXPECT_EQ(p["decisions"], 1);
	EXPECT_EQ(p["settings_published"], 1);
	ASSERT_TRUE(p.contains("east")) << p.dump();
	EXPECT_EQ(p["east"]["in_force"], "target 30ms max_rtt 200ms step 2ms k 3");
	EXPECT_EQ(p["east"]["applied"], 1);
	EXPECT_EQ(p["east"]["published"], 1);
	EXPECT_GT(p["east"]["held_35_ns"].get<uint64_t>(), 0u);
	EXPECT_EQ(p["east"]["held_base_ns"], 100000000); // the first interval's ten steps
	EXPECT_FALSE(p.contains("west"));
}

namespace {

// A record as a sink received it, or as the worker's slot held it.
struct Published {
	uint32_t action;
	uint64_t state_ns, expires_ns;
	bool operator==(const Published &) const = default;
};

class RecordingSink final : public policy::TuneSink {
public:
	void publish_setting(uint32_t, uint32_t action, uint64_t state_ns, uint64_t expires_ns) override
	{
		got.push_back({action, state_ns, expires_ns});
	}
	void withdraw_setting(uint32_t, uint64_t now_ns) override { got.push_back({experience::kBaseSetting, now_ns, 0}); }
	std::vector<Published> got;
};

// A step sequence that moves: load, sojourns and emptiness by step.
experience::TuneStep synthetic_step(uint32_t i, aqm::Rng &rng)
{
	experience::TuneStep s;
	s.end_ns = 1000000000ull + (i + 1) * 10000000ull;
	s.len_ns = 10000000;
	s.rate_bps = 10000000;
	s.sent_bytes = rng.next_u32() % 15000;
	s.arrived_bytes = s.sent_bytes + rng.next_u32() % 5000;
	s.forwarded = {rng.next_u32() % 12, rng.next_u32() % 4};
	s.marked = {s.forwarded[0] / 4, s.forwarded[1] / 2};
	s.sojourn_max_ns = {rng.next_u32() % 40000000u, rng.next_u32() % 4000000u};
	s.sojourn[0][rng.next_u32() % experience::kSojournBins] = s.forwarded[0];
	s.sojourn[1][rng.next_u32() % 20] = s.forwarded[1];
	s.empty_ns = rng.next_u32() % 5000000;
	s.prob_q32 = rng.next_u32();
	return s;
}

} // namespace

// The same steps through the router's policy worker (its tune-step ring,
// the loop, the port's setting record) and through the loop as the
// simulator runs it (one port, its own sink) give the same settings.
TEST_F(RouterRing, TunerPublishesWhatTheSimulatorsLoopPublishesForTheSameSteps)
{
	ASSERT_EQ(start_toml(tune_toml("enforce", "harm_classic_factor = 1.5\nharm_load = 0.2\n")), "");
	const size_t k = policy::tune_actions({}).size();
	auto script = [k](const float *f) { return static_cast<int>((f[0] * 97 + f[4] * 31 + f[10] * 13)) % int(k); };
	PolicyWorker policy;
	policy.init(router.config().policy, router, scripted(script));
	policy::TuneLoop sim_loop;
	policy::TuneLoopConfig c;
	c.tune = router.config().policy.tune;
	c.decision_delay_ns = policy::pilot_profile::kDecisionDelaysNs[0];
	c.fall_back = false;
	const aqm::DualPi2Params base = east_dualpi2(router).params();
	ASSERT_EQ(sim_loop.init(c, {{base, static_cast<uint64_t>(policy::view_of(base).max_rtt_ns)}}, scripted(script)),
		  "");
	RecordingSink sim_sink;
	std::vector<Published> router_got;
	uint32_t seen = 0;
	aqm::Rng rng(7);
	for (uint32_t i = 0; i < 400; i++) {
		TuneStepMsg m{synthetic_step(i, rng), 1, 0};
		ASSERT_EQ(rte_ring_sp_enqueue_elem(router.worker(0).tune_steps, &m, sizeof(m)), 0);
		sim_loop.observe(0, m.step, &sim_sink);
		policy.poll(m.step.end_ns);
		const uint32_t v = router.tune_slots()[1].version();
		TuneRecord r;
		if (v != seen && router.tune_slots()[1].read(v, r)) {
			seen = v;
			router_got.push_back({r.action, r.state_ns, r.expires_ns});
		}
	}
	EXPECT_EQ(sim_loop.stats().decisions, 40u);
	ASSERT_EQ(router_got.size(), sim_sink.got.size());
	EXPECT_TRUE(router_got == sim_sink.got);
	EXPECT_EQ(policy.tune_report().stats.pilot_backoffs, sim_loop.stats().pilot_backoffs);
}

namespace {

// East's queue fed the simulator's way (sim/simulation.cpp): each packet's
// arrival and enqueue, each dequeued packet's verdict, drained whenever
// both queues are left empty; with the router's DualPI2 and shaper, copied
// before the first packet, dequeued as the router's worker does (one burst a
// pass within the shaper's budget), and a step closed at the first pass at
// or after each due time.
struct SimFedPort {
	aqm::DualPi2 q;
	Shaper shaper;
	uint64_t step_ns, rate_bps;
	experience::TuneCounter counter;
	uint64_t next_step_ns = 0;
	std::vector<experience::TuneStep> steps;

	void close_if_due(uint64_t now)
	{
		if (now < next_step_ns)
			return;
		if (next_step_ns == 0) {
			counter.start(now);
			next_step_ns = now + step_ns;
			return;
		}
		steps.push_back(counter.close(now, rate_bps, q.prob_q32(), experience::kBaseSetting));
		next_step_ns += step_ns;
	}
	void pass(uint64_t now, const std::vector<aqm::Packet> &burst)
	{
		close_if_due(now);
		for (const aqm::Packet &p : burst) {
			counter.arrive(now, p.len_bytes);
			if (q.enqueue(p) != aqm::EnqueueResult::accepted) {
				counter.drop(static_cast<int>(q.classify(p.ecn)));
				if (q.backlog_pkts() == 0)
					counter.drained(now);
			}
		}
		aqm::Dequeued d[aqm::kMaxBurst];
		const uint32_t n = aqm::dequeue_burst(q, now, shaper.byte_budget(now), shaper.overhead_bytes, 32, d,
						      aqm::kMaxBurst);
		shaper.backlogged = q.backlog_pkts() > 0;
		uint64_t wire = 0;
		for (uint32_t i = 0; i < n; i++) {
			const int cls = static_cast<int>(d[i].queue);
			if (d[i].verdict == aqm::Verdict::drop) {
				counter.drop(cls);
			} else {
				counter.forward(cls, d[i].sojourn_ns, d[i].pkt.len_bytes, d[i].verdict == aqm::Verdict::forward_ce);
				wire += d[i].pkt.len_bytes + shaper.overhead_bytes;
			}
			if (q.backlog_pkts() == 0 && i + 1 == n)
				counter.drained(now);
		}
		shaper.charge_wire(now, wire);
	}
};

void expect_same_step(const experience::TuneStep &a, const experience::TuneStep &b, size_t i)
{
	EXPECT_EQ(a.end_ns, b.end_ns) << i;
	EXPECT_EQ(a.len_ns, b.len_ns) << i;
	EXPECT_EQ(a.rate_bps, b.rate_bps) << i;
	EXPECT_EQ(a.sent_bytes, b.sent_bytes) << i;
	EXPECT_EQ(a.arrived_bytes, b.arrived_bytes) << i;
	EXPECT_EQ(a.forwarded, b.forwarded) << i;
	EXPECT_EQ(a.marked, b.marked) << i;
	EXPECT_EQ(a.dropped, b.dropped) << i;
	EXPECT_EQ(a.sojourn_max_ns, b.sojourn_max_ns) << i;
	EXPECT_EQ(a.sojourn, b.sojourn) << i;
	EXPECT_EQ(a.empty_ns, b.empty_ns) << i;
	EXPECT_EQ(a.last_empty_ns, b.last_empty_ns) << i;
	EXPECT_EQ(a.prob_q32, b.prob_q32) << i;
	EXPECT_EQ(a.setting, b.setting) << i;
}

} // namespace

// A packet trace (seeded: Classic and L4S frames of 100 to 1400 bytes, in
// phases of quiet and of overload, 0.5 ms polls) through the router's
// worker, counting per burst, gives the steps a TuneCounter fed the
// simulator's way gives on the same DualPI2 and shaper: every field equal.
// The bed with the trace replay as a step of its own.
class RouterRingTrace : public RouterRing {
protected:
	void trace_steps_are_the_simulators(bool bypass);
};

void RouterRingTrace::trace_steps_are_the_simulators(bool bypass)
{
	const std::string flag = bypass ? "true" : "false";
	ASSERT_EQ(start_toml(tune_toml("shadow", "", "[router]\nempty_queue_bypass = " + flag + "\n")), "");
	SimFedPort sim{east_dualpi2(router), router.queue(1).shaper, router.port_tune(1)->step_ns,
		       router.ports()[1].sizing_rate_bps};
	std::vector<experience::TuneStep> got;
	aqm::Rng rng(11);
	uint64_t now = 1000000000;
	for (int pass = 0; pass < 1200; pass++, now += 500000) {
		const bool busy = (pass / 100) % 3 == 1; // 100 ms quiet, 50 ms of overload
		const unsigned n = busy ? rng.next_u32() % 6 : rng.next_u32() % 2;
		std::vector<std::vector<uint8_t>> frames;
		std::vector<aqm::Packet> descs;
		for (unsigned i = 0; i < n; i++) {
			const Ecn ecn = rng.next_u32() % 3 == 0 ? Ecn::ect1 : Ecn::not_ect;
			frames.push_back(ipv4_frame(ecn, 0, 0x28, 100 + rng.next_u32() % 1300));
			descs.push_back({now, i, static_cast<uint32_t>(frames.back().size()), ecn, 0, 0});
		}
		inject(west, frames);
		router.poll(now);
		drain_count(east);
		sim.pass(now, descs);
		router.drain_tune_steps([&](const TuneStepMsg &m) { got.push_back(m.step); });
	}
	ASSERT_EQ(got.size(), sim.steps.size());
	ASSERT_GE(got.size(), 55u);
	uint64_t marked = 0, dropped = 0;
	for (size_t i = 0; i < got.size(); i++) {
		expect_same_step(got[i], sim.steps[i], i);
		marked += got[i].marked[0] + got[i].marked[1];
		dropped += got[i].dropped[0] + got[i].dropped[1];
	}
	EXPECT_GT(marked, 0u); // the trace made DualPI2 decide
	EXPECT_GT(dropped, 0u);
	if (bypass) {
		EXPECT_GT(router.port_stats(1).bypassed_pkts, 50u);
	}
}

TEST_F(RouterRingTrace, TunerStepsFromAPacketTraceAreTheSimulatorsSteps)
{
	trace_steps_are_the_simulators(false);
}

// The empty-queue bypass keeps every count the full path keeps: the same
// steps again.
TEST_F(RouterRingTrace, TunerStepsThroughTheEmptyQueueBypassAreTheSimulatorsSteps)
{
	trace_steps_are_the_simulators(true);
}

// The worker on its own thread and the policy worker on this one, as on
// their lcores: steps over the ring, settings over the records (also run
// under ThreadSanitizer, suite tsan).
TEST_F(RouterRing, TunerWorkerAndPolicyWorkerRunConcurrently)
{
	ASSERT_EQ(start_toml(tune_toml("enforce", "harm_classic_factor = 100\n")), "");
	const size_t k = policy::tune_actions({}).size();
	int calls = 0;
	PolicyWorker policy;
	policy.init(router.config().policy, router, scripted([&](const float *) { return calls++ % int(k); }));
	std::atomic<uint64_t> clock{1000000000};
	std::atomic<bool> stop{false};
	// The worker's passes 1 ms apart on the router's clock, yielding the
	// core between them (EAL put both threads on one).
	std::thread worker([&] {
		while (!stop.load()) {
			const uint64_t now = clock.fetch_add(1000000) + 1000000;
			offer(router, west, east, 3, now);
			std::this_thread::yield();
		}
	});
	// Until three settings were applied, or 60 s of the router's clock.
	while (counts(router).applied.load() < 3 && clock.load() < 61000000000ull) {
		policy.poll(clock.load());
		std::this_thread::yield();
	}
	stop = true;
	worker.join();
	policy.poll(clock.load());
	const TuneReport r = policy.tune_report();
	EXPECT_GE(r.stats.steps, 30u);
	ASSERT_EQ(r.ports.size(), 1u);
	// The worker takes the newest record at each pass: none twice, at most
	// all of them.
	EXPECT_LE(r.ports[0].applied + r.ports[0].stale + r.ports[0].refused, r.stats.published);
	EXPECT_GE(r.ports[0].applied, 3u);
}

// The record's protocol alone, writer and reader on two threads: a reader
// that takes a record takes all of one publish.
TEST(TuneSlot, AReaderNeverTakesATornRecord)
{
	TuneSlot slot;
	std::atomic<bool> stop{false};
	std::thread writer([&] {
		// A publish, then a pause: the policy worker's pace is one a
		// tune_interval, not a write per cycle.
		for (uint32_t i = 1; !stop.load(std::memory_order_relaxed); i++) {
			slot.publish({i % 7, uint64_t{i} * 10, uint64_t{i} * 10 + 5});
			std::this_thread::yield();
		}
	});
	uint64_t taken = 0, passes = 0;
	uint32_t seen = 0;
	// Until 10 records were taken (or 10^8 passes), checking each. EAL put
	// this thread on one core and the writer inherits it: a reader that
	// meets a writer preempted mid-write sees an odd version, many times.
	while (taken < 10 && passes++ < 100000000) {
		const uint32_t v = slot.version();
		TuneRecord r;
		if (v != seen && slot.read(v, r)) {
			seen = v;
			ASSERT_EQ(r.expires_ns, r.state_ns + 5);
			ASSERT_EQ(r.action, (r.state_ns / 10) % 7);
			taken++;
		}
	}
	stop = true;
	writer.join();
	EXPECT_EQ(taken, 10u);
}

} // namespace dualpilot::dataplane::bed

int main(int argc, char **argv) { return dualpilot::dataplane::bed::run_with_eal(argc, argv, true); }
