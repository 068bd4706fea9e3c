// Live changes on a running router (issue 19): AQM parameters, the sampling
// interval, a model reload and a mode switch, each without losing a packet;
// bad input refused with the config file's messages; the telemetry commands
// refused unless the config allows them. Also run under ThreadSanitizer
// (suite 'tsan'): the test that posts from other threads.
#include <nlohmann/json.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "dataplane/live_changes.hpp"
#include "dataplane/policy_worker.hpp"
#include "dataplane/telemetry_changes.hpp"
#include "policy/model_file.hpp"
#include "names.hpp"
#include "ring_bed.hpp"
#include "tsan_dpdk_suppressions.hpp" // DPDK's ring fences, which TSan does not model
#include "small_model.hpp"

namespace dualpilot::dataplane {
namespace {

using namespace std::chrono_literals;
using namespace testing;

// A good model file and one whose weights were damaged after writing (the
// checksum catches it).
struct ModelFiles {
	std::string good, other, corrupt;
	ModelFiles()
	{
		const std::string dir = ::testing::TempDir();
		good = dir + "/live_good.dpm";
		other = dir + "/live_other.dpm";
		corrupt = dir + "/live_corrupt.dpm";
		EXPECT_EQ(policy::write_model(leaning_model(1, 20), good), "");
		EXPECT_EQ(policy::write_model(leaning_model(0, 5), other), "");
		write_damaged_copy(good, corrupt, 0.5, '\x5a');
	}
};

const std::vector<std::vector<uint8_t>> &classic_and_l4s()
{
	static const std::vector<std::vector<uint8_t>> t = {ipv4_frame(Ecn::not_ect, 0, 0x2e, 1000),
							    ipv4_frame(Ecn::ect1, 0, 0x2e, 1000)};
	return t;
}

class LiveChanges : public bed::RouterRing {
protected:
	std::string start(const std::string &toml) { return start_toml(toml); }
	// ms milliseconds of 4 frames per ms into west (~4000 pps of 1042-byte
	// frames: 1.7x a 20 Mbit/s port), polled every ms on the router's clock.
	void load(int ms, const std::vector<std::vector<uint8_t>> &templates = classic_and_l4s())
	{
		for (int i = 0; i < ms; i++) {
			ASSERT_NO_FATAL_FAILURE(bed::inject_random(west.rx[0], templates, rng, 4, injected));
			now += 1000000;
			router.poll(now);
			received += bed::drain_count(east);
		}
	}
	// The Classic head's sojourn, averaged over ms of load (one reading a ms).
	double mean_classic_sojourn_ms(int ms)
	{
		double sum = 0;
		for (int i = 0; i < ms; i++) {
			load(1);
			sum += static_cast<double>(east_dualpi2().head_sojourn_ns(aqm::QueueId::classic, now)) / 1e6;
		}
		return sum / ms;
	}
	void expect_conservation() { bed::expect_conservation(router, injected, received); }
	const aqm::DualPi2 &east_dualpi2() { return std::get<aqm::DualPi2>(*router.queue(1).aqm); }

	aqm::Rng rng{7};
	uint64_t injected = 0, received = 0, now = 1000;
};

const std::string kDualPi2Toml = bed::l2_pair_toml("20mbit", "aqm = \"dualpi2\"\n");

std::string policy_toml(const std::string &mode, const std::string &model)
{
	return std::string(kDualPi2Toml) + "[policy]\nmode = \"" + mode + "\"\nmodel = \"" + model +
	       "\"\ninference_interval = 10\nmin_delay = \"0s\"\noverride_ttl = \"20ms\"\n";
}

// The owning worker takes new DualPI2 parameters between two bursts: the
// packets queued and p' are exactly as they were, and the queue then settles
// at the new target (5 ms instead of 15 ms) with nothing lost on the way.
TEST_F(LiveChanges, NewAqmParametersKeepTheQueueAndThePiState)
{
	ASSERT_EQ(start(kDualPi2Toml), "");
	ASSERT_NO_FATAL_FAILURE(load(3000));
	// PI2 holds the Classic head's sojourn near the old target (15 ms; the
	// mean of 1000 readings, a few ms either side of it).
	EXPECT_NEAR(mean_classic_sojourn_ms(1000), 15, 4);
	const uint64_t backlog = aqm::backlog_pkts(*router.queue(1).aqm);
	const uint32_t prob = east_dualpi2().prob_q32();
	ASSERT_GT(backlog, 20u);
	ASSERT_GT(prob, 0u);

	const aqm::Setting target[] = {{"target", "5ms"}};
	const ChangeResult r = change_aqm(router, "east", target, 0ms);
	ASSERT_TRUE(r.ok) << r.error;
	EXPECT_FALSE(r.applied); // nobody polls the worker while the call waits
	EXPECT_NE(r.log.find("target default -> 5ms"), std::string::npos) << r.log;
	EXPECT_NE(r.log.find("target 15ms"), std::string::npos) << r.log; // the old tc line
	EXPECT_TRUE(changes_pending(router));
	EXPECT_EQ(east_dualpi2().params().target_ns, 15000000u); // not before the worker applies it
	apply_changes(router, router.worker(0));                  // what its next pass does first
	EXPECT_FALSE(changes_pending(router));
	EXPECT_EQ(east_dualpi2().params().target_ns, 5000000u);
	EXPECT_EQ(aqm::backlog_pkts(*router.queue(1).aqm), backlog);
	EXPECT_EQ(east_dualpi2().prob_q32(), prob);

	// The next change through the worker's own loop.
	const aqm::Setting alpha[] = {{"alpha", "0.32"}};
	ASSERT_TRUE(change_aqm(router, "east", alpha, 0ms).ok);
	ASSERT_NO_FATAL_FAILURE(load(1));
	EXPECT_FALSE(changes_pending(router));
	EXPECT_EQ(east_dualpi2().params().alpha_256, 81u);
	EXPECT_EQ(east_dualpi2().params().target_ns, 5000000u); // the earlier change stays
	ASSERT_NO_FATAL_FAILURE(load(5000));
	EXPECT_NEAR(mean_classic_sojourn_ms(1000), 5, 3); // the new target
	expect_conservation();
}

// The same validation and the same words as the config file's
// [ports.dualpi2] table; nothing is posted, nothing changes.
TEST_F(LiveChanges, BadAqmParametersAreRefusedWithTheConfigFilesMessage)
{
	ASSERT_EQ(start(kDualPi2Toml), "");
	RouterConfig cfg;
	const std::string file_err =
		parse_router_config(std::string(kDualPi2Toml) + "[ports.dualpi2]\ntarget = \"soon\"\n", "r.toml", cfg);
	const aqm::Setting bad_target[] = {{"target", "soon"}};
	const ChangeResult r = change_aqm(router, "east", bad_target, 0ms);
	EXPECT_FALSE(r.ok);
	const std::string aqm_err = r.error.substr(std::string("port 'east': ").size());
	EXPECT_EQ(r.error, "port 'east': " + aqm_err);
	EXPECT_FALSE(aqm_err.empty());
	EXPECT_TRUE(file_err.ends_with(aqm_err)) << file_err << " / " << aqm_err;

	const aqm::Setting unknown[] = {{"nosuch", "1"}};
	EXPECT_TRUE(names(change_aqm(router, "east", unknown, 0ms).error, {"port 'east'", "dualpi2", "'nosuch'"}));
	const aqm::Setting both[] = {{"max_rtt", "100ms"}, {"target", "5ms"}};
	EXPECT_TRUE(names(change_aqm(router, "east", both, 0ms).error, {"max_rtt", "target"}));
	const aqm::Setting huge[] = {{"limit", "1000000"}};
	EXPECT_TRUE(names(change_aqm(router, "east", huge, 0ms).error, {"port 'east'", "limit"}));
	EXPECT_TRUE(names(change_aqm(router, "nosuch", unknown, 0ms).error, {"'nosuch'"}));
	const ChangeResult none = change_aqm(router, "east", {}, 0ms);
	EXPECT_FALSE(none.ok);
	EXPECT_FALSE(none.error.empty()); // names no key: there is none
	EXPECT_FALSE(changes_pending(router));
	EXPECT_EQ(east_dualpi2().params().target_ns, 15000000u);
}

// A limit below the standing queue refuses arrivals until the queue has
// drained below it; not one queued packet is dropped for it.
TEST_F(LiveChanges, ALimitBelowTheBacklogDropsNothingQueued)
{
	ASSERT_EQ(start(kDualPi2Toml), "");
	ASSERT_NO_FATAL_FAILURE(load(3000));
	const uint64_t backlog = aqm::backlog_pkts(*router.queue(1).aqm);
	ASSERT_GT(backlog, 20u);
	const aqm::Setting limit[] = {{"limit", "10"}};
	ASSERT_TRUE(change_aqm(router, "east", limit, 0ms).ok);
	apply_changes(router, router.worker(0));
	EXPECT_EQ(aqm::backlog_pkts(*router.queue(1).aqm), backlog);
	EXPECT_EQ(router.ports()[1].limit_pkts, 10u);
	ASSERT_NO_FATAL_FAILURE(load(2000));
	EXPECT_LE(aqm::backlog_pkts(*router.queue(1).aqm), 10u);
	EXPECT_GT(router.port_stats(1).overflow_drops, 0u);
	expect_conservation();
}

// PIE and CoDel change the same way; CoDel's interval defines its dropping
// state (the next drop was scheduled in its units), so a new interval
// leaves that state, while a new target keeps it.
TEST_F(LiveChanges, CodelLeavesItsDroppingStateOnlyForANewInterval)
{
	ASSERT_EQ(start(std::string(kDualPi2Toml).replace(std::string(kDualPi2Toml).rfind("dualpi2"), 7, "codel")), "");
	ASSERT_NO_FATAL_FAILURE(load(3000));
	const auto &codel = std::get<aqm::Codel>(*router.queue(1).aqm);
	ASSERT_TRUE(codel.dropping());
	const uint32_t count = codel.count();
	const aqm::Setting target[] = {{"target", "4ms"}};
	ASSERT_TRUE(change_aqm(router, "east", target, 0ms).ok);
	apply_changes(router, router.worker(0));
	EXPECT_TRUE(codel.dropping());
	EXPECT_EQ(codel.count(), count);
	const aqm::Setting interval[] = {{"interval", "50ms"}};
	ASSERT_TRUE(change_aqm(router, "east", interval, 0ms).ok);
	const uint64_t backlog = codel.backlog_pkts();
	apply_changes(router, router.worker(0));
	EXPECT_FALSE(codel.dropping());
	EXPECT_EQ(codel.count(), 0u);
	EXPECT_EQ(codel.backlog_pkts(), backlog);
	ASSERT_NO_FATAL_FAILURE(load(500));
	expect_conservation();
}

// PIE keeps its drop probability and its queue across a change (as
// sch_pie's pie_change); FIFO, with no controller, its queue.
TEST_F(LiveChanges, PieAndFifoKeepTheirQueueAndState)
{
	std::string toml = kDualPi2Toml;
	toml.replace(toml.rfind("dualpi2"), 7, "pie");
	ASSERT_EQ(start(toml), "");
	ASSERT_NO_FATAL_FAILURE(load(3000));
	const auto &pie = std::get<aqm::Pie>(*router.queue(1).aqm);
	const double prob = pie.drop_prob();
	const uint64_t backlog = pie.backlog_pkts();
	ASSERT_GT(prob, 0.0);
	ASSERT_GT(backlog, 0u);
	const aqm::Setting s[] = {{"target", "5ms"}, {"max_burst", "10ms"}};
	ASSERT_TRUE(change_aqm(router, "east", s, 0ms).ok);
	apply_changes(router, router.worker(0));
	EXPECT_EQ(pie.drop_prob(), prob);
	EXPECT_EQ(pie.backlog_pkts(), backlog);
	EXPECT_EQ(pie.params().target_ns, 5000000u);
	EXPECT_LE(pie.burst_allowance_ns(), 10000000u);
	ASSERT_NO_FATAL_FAILURE(load(500));
	expect_conservation();

	const aqm::Setting fifo_limit[] = {{"limit", "50"}};
	const uint64_t west_before = aqm::backlog_pkts(*router.queue(0).aqm);
	ASSERT_TRUE(change_aqm(router, "west", fifo_limit, 0ms).ok);
	apply_changes(router, router.worker(0));
	EXPECT_EQ(std::get<aqm::Fifo>(*router.queue(0).aqm).params().limit_pkts, 50u);
	EXPECT_EQ(aqm::backlog_pkts(*router.queue(0).aqm), west_before);
}

// /dualpilot/policy/set,inference_interval=N: every worker samples every N
// packets of a queue from its next pass on.
TEST_F(LiveChanges, TheSamplingIntervalChangesOnTheWorkers)
{
	ModelFiles files;
	ASSERT_EQ(start(policy_toml("shadow", files.good)), "");
	EXPECT_EQ(router.worker(0).sampler.inference_interval(), 10u);
	EXPECT_FALSE(change_inference_interval(router, 0, 0ms).ok);
	const ChangeResult r = change_inference_interval(router, 1, 0ms);
	ASSERT_TRUE(r.ok) << r.error;
	EXPECT_EQ(r.log, "policy/set inference_interval 10 -> 1");
	ASSERT_NO_FATAL_FAILURE(load(1)); // applies it, then forwards
	EXPECT_EQ(router.worker(0).sampler.inference_interval(), 1u);
	const PortStats before = router.port_stats(1);
	ASSERT_NO_FATAL_FAILURE(load(300));
	const PortStats after = router.port_stats(1);
	// Every packet east dequeued is sampled now: forwarded (net_ring takes
	// every one, so the tx count is the dequeue count) or dropped at dequeue
	// (drop_dequeue, the default).
	EXPECT_EQ((after.samples + after.sample_drops) - (before.samples + before.sample_drops),
		  (after.tx_pkts - before.tx_pkts) + (after.aqm_drops - before.aqm_drops) +
			  (after.mark_failed - before.mark_failed));
	expect_conservation();
}

// A model reloaded between passes: a corrupt file is refused with the reason
// and the old model runs on (it keeps publishing); a good one is swapped in;
// the override published before the swap stays until it expires.
TEST_F(LiveChanges, AReloadedModelIsSwappedInAndABadOneIsRefused)
{
	ModelFiles files;
	ASSERT_EQ(start(policy_toml("enforce", files.good)), "");
	PolicyWorker policy;
	policy.init(router.config().policy, router);
	ASSERT_EQ(policy.error(), "");
	ASSERT_EQ(policy.mode(), PolicyMode::enforce);
	ASSERT_NO_FATAL_FAILURE(load(50));
	policy.poll(now);
	const uint64_t published = policy.stats().published;
	ASSERT_GT(published, 0u);
	OverrideRecord before;
	ASSERT_TRUE(router.override_slots()[2].read(before)); // east, Classic
	ASSERT_TRUE(before.active(now));

	PolicyChange bad;
	bad.model = files.corrupt;
	ChangeResult r = policy.request_change(bad, 0ms);
	EXPECT_TRUE(r.ok);
	EXPECT_FALSE(r.applied);
	policy.poll(now);
	uint64_t done = 0;
	r = policy.change_outcome(&done);
	EXPECT_EQ(done, 1u);
	EXPECT_FALSE(r.ok);
	// It names the file refused, what was wrong with it, and the model that runs on.
	EXPECT_TRUE(names(r.error, {files.corrupt, "checksum", files.good}));
	EXPECT_EQ(policy.model_path(), files.good);
	ASSERT_NO_FATAL_FAILURE(load(20));
	policy.poll(now);
	EXPECT_GT(policy.stats().published, published); // the old model decides on

	PolicyChange missing;
	missing.model = files.good + ".nosuch";
	ASSERT_TRUE(policy.request_change(missing, 0ms).ok); // posted; the next poll carries it out
	policy.poll(now);
	EXPECT_FALSE(policy.change_outcome().ok);
	EXPECT_TRUE(names(policy.change_outcome().error, {*missing.model}));

	OverrideRecord held;
	ASSERT_TRUE(router.override_slots()[2].read(held));
	PolicyChange good;
	good.model = files.other;
	ASSERT_TRUE(policy.request_change(good, 0ms).ok); // posted; the next poll carries it out
	policy.poll(now);
	r = policy.change_outcome();
	ASSERT_TRUE(r.ok) << r.error;
	EXPECT_EQ(r.log, "policy/reload model " + files.good + " -> " + files.other + " (backend cpu)");
	EXPECT_EQ(policy.model_path(), files.other);
	OverrideRecord after;
	ASSERT_TRUE(router.override_slots()[2].read(after));
	EXPECT_EQ(after.seq, held.seq); // untouched by the swap: it runs out at its own time
	ASSERT_NO_FATAL_FAILURE(load(50));
	policy.poll(now);
	ASSERT_TRUE(router.override_slots()[2].read(after));
	EXPECT_GT(after.seq, held.seq); // the new model publishes
	expect_conservation();
}

// enforce -> shadow: nothing more is published and what was expires within
// the TTL; shadow -> enforce publishes again. A mode the router cannot run
// is refused with the reason.
TEST_F(LiveChanges, TheModeSwitchesAtRunTime)
{
	ModelFiles files;
	ASSERT_EQ(start(policy_toml("enforce", files.good)), "");
	PolicyWorker policy;
	policy.init(router.config().policy, router);
	ASSERT_NO_FATAL_FAILURE(load(50));
	policy.poll(now);
	PolicyChange shadow;
	shadow.mode = PolicyMode::shadow;
	ASSERT_TRUE(policy.request_change(shadow, 0ms).ok); // posted; the next poll carries it out
	policy.poll(now);
	EXPECT_EQ(policy.change_outcome().log, "policy/set mode enforce -> shadow");
	EXPECT_EQ(policy.mode(), PolicyMode::shadow);
	const uint64_t published = policy.stats().published;
	const uint64_t overridden = router.port_stats(1).overridden;
	for (int i = 0; i < 100; i++) {
		ASSERT_NO_FATAL_FAILURE(load(1));
		policy.poll(now);
	}
	EXPECT_EQ(policy.stats().published, published);
	EXPECT_GT(policy.stats().scored, 0u);
	// 100 ms on, past the 20 ms TTL: the old overrides change nothing more.
	const uint64_t overridden_later = router.port_stats(1).overridden;
	ASSERT_NO_FATAL_FAILURE(load(100));
	EXPECT_EQ(router.port_stats(1).overridden, overridden_later);
	EXPECT_GE(overridden_later, overridden);

	PolicyChange enforce;
	enforce.mode = PolicyMode::enforce;
	ASSERT_TRUE(policy.request_change(enforce, 0ms).ok); // posted; the next poll carries it out
	policy.poll(now);
	EXPECT_TRUE(policy.change_outcome().ok);
	ASSERT_NO_FATAL_FAILURE(load(20));
	policy.poll(now);
	EXPECT_GT(policy.stats().published, published);
	expect_conservation();
}

TEST_F(LiveChanges, APolicyStartedOffCannotBeSwitchedOnWithoutSampleRings)
{
	ModelFiles files;
	ASSERT_EQ(start(policy_toml("off", files.good)), "");
	PolicyWorker policy;
	policy.init(router.config().policy, router);
	PolicyChange c;
	c.model = files.good;
	c.mode = PolicyMode::shadow;
	ASSERT_TRUE(policy.request_change(c, 0ms).ok); // posted; the next poll carries it out
	policy.poll(now);
	const ChangeResult r = policy.change_outcome();
	EXPECT_FALSE(r.ok);
	EXPECT_TRUE(names(r.error, {"mode"}));
	EXPECT_EQ(policy.mode(), PolicyMode::off);
}

// A telemetry command's answer (the object under the command's name).
nlohmann::json telemetry(const std::string &command)
{
	const auto j = nlohmann::json::parse(bed::telemetry_reply(command), nullptr, false);
	const size_t comma = command.find(',');
	return j.is_discarded() ? nlohmann::json() : j[command.substr(0, comma)];
}

TEST_F(LiveChanges, TelemetryChangesAreRefusedUnlessTheConfigAllowsThem)
{
	RouterConfig cfg;
	EXPECT_NE(parse_router_config(std::string(kDualPi2Toml) + "[telemetry]\nallow_change = true\n", "t.toml", cfg)
			  .find("allow_change"),
		  std::string::npos);
	ASSERT_EQ(parse_router_config(std::string(kDualPi2Toml) + "[telemetry]\nallow_changes = true\n", "t.toml", cfg),
		  "");
	EXPECT_TRUE(cfg.telemetry_allow_changes);

	ASSERT_EQ(start(kDualPi2Toml), "");
	EXPECT_FALSE(router.config().telemetry_allow_changes);
	ASSERT_EQ(publish_telemetry_changes(&router, nullptr, router.config().telemetry_allow_changes), "");
	nlohmann::json j = telemetry("/dualpilot/aqm/set,east,target=5ms");
	EXPECT_EQ(j["status"], "refused");
	EXPECT_TRUE(names(j["error"].get<std::string>(), {"[telemetry] allow_changes"}));
	EXPECT_EQ(telemetry("/dualpilot/policy/reload,/tmp/x.dpm")["status"], "refused");
	EXPECT_FALSE(changes_pending(router));

	// Allowed: the worker runs on this thread, so the command waits out its
	// second and answers "posted"; the next pass applies it.
	ASSERT_EQ(publish_telemetry_changes(&router, nullptr, true), "");
	j = telemetry("/dualpilot/aqm/set,east,target=5ms,step_thresh=2ms");
	EXPECT_EQ(j["status"], "posted");
	EXPECT_NE(j["change"].get<std::string>().find("step_thresh default -> 2ms"), std::string::npos);
	ASSERT_NO_FATAL_FAILURE(load(1));
	EXPECT_EQ(east_dualpi2().params().target_ns, 5000000u);
	EXPECT_EQ(east_dualpi2().params().step_thresh_ns, 2000000u);
	j = telemetry("/dualpilot/aqm/set,east,target=never");
	EXPECT_EQ(j["status"], "refused");
	EXPECT_TRUE(names(j["error"].get<std::string>(), {"port 'east'", "dualpi2", "target"}));
	EXPECT_EQ(telemetry("/dualpilot/policy/set,mode=fast")["status"], "refused");
	j = telemetry("/dualpilot/policy/set,mode=enforce");
	EXPECT_EQ(j["status"], "refused");
	EXPECT_TRUE(names(j["error"].get<std::string>(), {"[policy] mode"})); // no policy worker runs
	publish_telemetry_changes(nullptr);
	EXPECT_EQ(telemetry("/dualpilot/aqm/set,east,target=5ms")["status"], "refused"); // no router runs
}

// Changes posted from another thread while a worker thread forwards and a
// policy thread decides: each is applied between two bursts, the workers'
// fast path takes no lock, and nothing is lost. Run under ThreadSanitizer
// too (suite 'tsan').
TEST_F(LiveChanges, ChangesFromAnotherThreadReachTheWorkersWithoutALock)
{
	ModelFiles files;
	ASSERT_EQ(start(policy_toml("enforce", files.good)), "");
	PolicyWorker policy;
	policy.init(router.config().policy, router);
	std::atomic<bool> stop{false};
	std::atomic<uint64_t> clock{now};
	std::thread worker([&] {
		aqm::Rng r(3);
		uint64_t in = 0, out = 0;
		while (!stop.load()) {
			bed::inject_random(west.rx[0], classic_and_l4s(), r, 4, in);
			router.poll(clock.fetch_add(1000000) + 1000000);
			out += bed::drain_count(east);
			// A worker paced like a port's traffic: the policy thread's
			// drain, which runs until the rings are empty, keeps up even
			// under ThreadSanitizer.
			std::this_thread::sleep_for(50us);
		}
		injected = in;
		received = out;
	});
	std::thread decider([&] {
		while (!stop.load()) {
			policy.poll(clock.load());
			std::this_thread::sleep_for(100us);
		}
	});
	int applied = 0;
	for (int i = 0; i < 20; i++) {
		const aqm::Setting s[] = {{"target", i % 2 ? "5ms" : "15ms"}, {"tupdate", i % 2 ? "8ms" : "16ms"}};
		const ChangeResult a = change_aqm(router, "east", s, 5s);
		ASSERT_TRUE(a.ok) << a.error;
		applied += a.applied;
		PolicyChange c;
		c.model = i % 2 ? files.corrupt : files.good;
		const ChangeResult m = policy.request_change(c, 5s);
		EXPECT_EQ(m.ok, i % 2 == 0) << m.error;
		ASSERT_TRUE(change_inference_interval(router, 10 + i % 3, 5s).ok);
	}
	stop = true;
	worker.join();
	decider.join();
	EXPECT_EQ(applied, 20);
	EXPECT_EQ(policy.model_path(), files.good);
	expect_conservation();
	router.shutdown();
	EXPECT_EQ(rte_mempool_in_use_count(bed::test_pool), 0u);
}

} // namespace
} // namespace dualpilot::dataplane

int main(int argc, char **argv) { return dualpilot::dataplane::bed::run_with_eal(argc, argv, true); }
