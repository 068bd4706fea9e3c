// The policy path on a running router: samples, shadow scoring and pools,
// enforced overrides within their guard rails and TTL, the harm guard, the
// gpu backend's fallback, and a model that cannot be used.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>

#include "dataplane/policy_worker.hpp"
#include "policy/cpu_backend.hpp"
#include "policy/model_file.hpp"
#include "names.hpp"
#include "ring_bed.hpp"
#include "experience/pool.hpp"
#include "small_model.hpp"

namespace dualpilot::dataplane::bed {
namespace {

// A cpu backend running a small model that leans one way (small_model.hpp).
std::unique_ptr<policy::Backend> leaning_backend(int action, float bias, bool nan = false)
{
	return std::make_unique<policy::CpuBackend>(leaning_model(action, bias, nan));
}

std::string policy_toml(const std::string &mode, const std::string &extra = "",
			const std::string &model = "in-memory.dpm")
{
	return l2_pair_toml("line", "aqm = \"dualpi2\"\n") + R"(
[policy]
mode = ")" + mode + R"("
model = ")" + model + R"("
inference_interval = 1
min_delay = "0s"
)" + extra;
}

// Injects n frames of one kind into west and runs the router at time now.
uint64_t push_through(Router &router, const RingPort &west, const RingPort &east, const std::vector<uint8_t> &frame,
		      unsigned n, uint64_t now)
{
	for (unsigned i = 0; i < n; i += 32) {
		std::vector<std::vector<uint8_t>> burst(std::min(32u, n - i), frame);
		inject(west, burst);
		router.poll(now);
	}
	return drain_count(east);
}

// The policy worker never runs: its ring fills and the samples beyond it are
// counted as lost; every packet still goes through.
TEST_F(RouterRing, AStalledPolicyWorkerLosesSamplesNotPackets)
{
	ASSERT_EQ(start_toml(policy_toml("shadow", "ring_size = 64\n")), "");
	const uint64_t out = push_through(router, west, east, ipv4_frame(Ecn::ect0), 2000, 1000);
	const PortStats e = router.port_stats(1);
	EXPECT_EQ(out, 2000u);
	EXPECT_EQ(e.tx_pkts, 2000u);
	EXPECT_EQ(e.samples + e.sample_drops, 2000u);
	EXPECT_LE(e.samples, 64u);
	EXPECT_GT(e.sample_drops, 1900u);
}

// Enforce: a policy that wants to drop everything is capped at max_prob and
// turns L4S drops into marks; once it stops publishing, its override expires
// within the TTL and DualPI2 alone decides again (no drops at this load).
TEST_F(RouterRing, EnforcedOverridesAreGuardedAndExpire)
{
	ASSERT_EQ(start_toml(policy_toml("enforce", "override_ttl = \"20ms\"\nmax_prob = 0.5\n")), "");
	PolicyWorker policy;
	policy.init(router.config().policy, router, leaning_backend(1, 20));
	ASSERT_EQ(policy.mode(), PolicyMode::enforce);
	uint64_t now = 1000;
	push_through(router, west, east, ipv4_frame(Ecn::not_ect), 64, now);
	policy.poll(now); // publishes for the C queue: p_drop capped at 0.5
	push_through(router, west, east, ipv4_frame(Ecn::ect1), 64, now);
	policy.poll(now); // and for the L queue
	ASSERT_GE(policy.stats().published, 2u);
	const PortStats before = router.port_stats(1);
	now += 1000000; // 1 ms later: within the TTL
	const uint64_t c_out = push_through(router, west, east, ipv4_frame(Ecn::not_ect), 10000, now);
	const uint64_t l_out = push_through(router, west, east, ipv4_frame(Ecn::ect1), 10000, now);
	const PortStats during = router.port_stats(1);
	// About half the Classic packets dropped (10000 * 0.5 +- 5 sigma).
	EXPECT_NEAR(static_cast<double>(during.aqm_drops - before.aqm_drops), 5000, 250);
	EXPECT_EQ(c_out, 10000 - (during.aqm_drops - before.aqm_drops));
	// No L4S packet dropped: marked instead.
	EXPECT_EQ(l_out, 10000u);
	EXPECT_NEAR(static_cast<double>(during.marked - before.marked), 5000, 250);
	// The policy stops; 20 ms on, the overrides have expired.
	now += 25000000;
	const uint64_t after_out = push_through(router, west, east, ipv4_frame(Ecn::not_ect), 10000, now);
	const PortStats after = router.port_stats(1);
	EXPECT_EQ(after_out, 10000u);
	EXPECT_EQ(after.aqm_drops, during.aqm_drops);
	EXPECT_EQ(after.overridden, during.overridden);
}

// A model that computes NaN publishes nothing: the AQM decides alone.
TEST_F(RouterRing, NonFiniteOutputsAreNeverPublished)
{
	ASSERT_EQ(start_toml(policy_toml("enforce")), "");
	PolicyWorker policy;
	policy.init(router.config().policy, router, leaning_backend(1, 20, true));
	push_through(router, west, east, ipv4_frame(Ecn::not_ect), 256, 1000);
	policy.poll(1000);
	const uint64_t out = push_through(router, west, east, ipv4_frame(Ecn::not_ect), 5000, 2000);
	EXPECT_GT(policy.stats().invalid_outputs, 0u);
	EXPECT_EQ(policy.stats().published, 0u);
	EXPECT_EQ(out, 5000u);
	EXPECT_EQ(router.port_stats(1).overridden, 0u);
}

// The harm guard (policy/harm_guard.hpp): a model that marks everything it
// may, on a queue that never stands (DualPI2 itself marks nothing), is backed
// off within two guard intervals (200 ms each) of its first override; its
// override is withdrawn at once, the back-off is counted (pilot_backoffs),
// and the queue's packets go unmarked for the back-off (1 s).
TEST_F(RouterRing, AMarkEverythingModelIsBackedOffByTheHarmGuard)
{
	ASSERT_EQ(start_toml(policy_toml("enforce", "override_ttl = \"1s\"\nmax_prob = 0.5\n")), "");
	PolicyWorker policy;
	policy.init(router.config().policy, router, leaning_backend(2, 20));
	ASSERT_EQ(policy.mode(), PolicyMode::enforce);
	const uint64_t step = 10000000; // 10 ms between bursts of 32 L4S frames
	uint64_t now = 1000000000, first_publish = 0, backed_off_at = 0;
	for (int i = 0; i < 100 && backed_off_at == 0; i++, now += step) {
		push_through(router, west, east, ipv4_frame(Ecn::ect1), 32, now);
		policy.poll(now);
		if (first_publish == 0 && policy.stats().published > 0)
			first_publish = now;
		if (policy.stats().pilot_backoffs > 0)
			backed_off_at = now;
	}
	ASSERT_NE(first_publish, 0u);
	ASSERT_NE(backed_off_at, 0u) << "never backed off; marked " << router.port_stats(1).marked;
	EXPECT_LE(backed_off_at - first_publish, 2 * 200000000ull + 2 * step);
	EXPECT_GT(router.port_stats(1).marked, 0u); // the model did act before
	const uint64_t published = policy.stats().published;
	const PortStats before = router.port_stats(1);
	for (int i = 0; i < 50; i++, now += step) { // 0.5 s: within the back-off
		push_through(router, west, east, ipv4_frame(Ecn::ect1), 32, now);
		policy.poll(now);
	}
	const PortStats after = router.port_stats(1);
	EXPECT_EQ(after.marked, before.marked);
	EXPECT_EQ(policy.stats().published, published);
	EXPECT_EQ(policy.stats().pilot_backoffs, 1u);
	EXPECT_NE(policy.summary().find("1 pilot_backoffs"), std::string::npos) << policy.summary();
}

// A model reloaded while the harm guard holds the old one off is judged
// afresh: its overrides are published at once, not after the old model's
// back-off runs out (the back-off stays counted).
TEST_F(RouterRing, AReloadedModelStartsWithACleanHarmGuard)
{
	ASSERT_EQ(start_toml(policy_toml("enforce", "override_ttl = \"1s\"\nmax_prob = 0.5\n")), "");
	PolicyWorker policy;
	policy.init(router.config().policy, router, leaning_backend(2, 20));
	const uint64_t step = 10000000;
	uint64_t now = 1000000000;
	for (int i = 0; i < 100 && policy.stats().pilot_backoffs == 0; i++, now += step) {
		push_through(router, west, east, ipv4_frame(Ecn::ect1), 32, now);
		policy.poll(now);
	}
	ASSERT_EQ(policy.stats().pilot_backoffs, 1u);
	const std::string path = ::testing::TempDir() + "/router_forwarding_model.dpm";
	ASSERT_EQ(policy::write_model(leaning_model(0, 20), path), "");
	PolicyChange reload;
	reload.model = path;
	ASSERT_TRUE(policy.request_change(reload, std::chrono::milliseconds(0)).ok);
	policy.poll(now);
	ASSERT_TRUE(policy.change_outcome().ok) << policy.change_outcome().error;
	const uint64_t published = policy.stats().published;
	for (int i = 0; i < 10; i++, now += step) { // 0.1 s: well within the old model's 1 s back-off
		push_through(router, west, east, ipv4_frame(Ecn::ect1), 32, now);
		policy.poll(now);
	}
	EXPECT_GT(policy.stats().published, published);
	EXPECT_EQ(policy.stats().pilot_backoffs, 1u);
	std::filesystem::remove(path);
}

// Shadow: the policy is scored against DualPI2 and changes nothing. One that
// always forwards agrees with DualPI2 on an uncongested queue.
TEST_F(RouterRing, ShadowModeScoresTheAgreementAndActsOnNothing)
{
	const std::string pool = ::testing::TempDir() + "/router_pool.dpp";
	ASSERT_EQ(start_toml(policy_toml("shadow", "pool_out = \"" + pool + "\"\n")), "");
	PolicyWorker policy;
	policy.init(router.config().policy, router, leaning_backend(0, 20));
	uint64_t now = 1000;
	for (int round = 0; round < 20; round++) {
		push_through(router, west, east, ipv4_frame(round % 2 ? Ecn::ect1 : Ecn::not_ect), 100, now);
		policy.poll(now);
		now += 100000;
	}
	const PolicyStats s = policy.stats();
	EXPECT_EQ(s.samples, 2000u);
	EXPECT_EQ(s.scored, 1800u); // all but each queue's first round, before its first prediction
	EXPECT_EQ(s.agreed, s.scored);
	EXPECT_EQ(s.confusion[0][0], s.scored);
	EXPECT_EQ(s.published, 0u);
	EXPECT_EQ(router.port_stats(1).overridden, 0u);
	EXPECT_NE(policy.summary().find("agreement 100.00 %"), std::string::npos) << policy.summary();
	// The samples, as an experience pool the trainer reads.
	ASSERT_EQ(policy.finish(), "");
	experience::Pool back;
	ASSERT_EQ(experience::read_pool(pool, back), "");
	EXPECT_EQ(back.size(), 2000u);
	EXPECT_EQ(back.states[0 * experience::kFeatureCount], 0.0f); // the first sample: a Classic packet
	EXPECT_EQ(back.states[100 * experience::kFeatureCount], 1.0f); // an L4S one
}

// The router's [objective] reaches the rewards its pools hold: with a model
// whose reward is the objective's (reward_offset_us 0), an L4S weight of 3
// instead of 1 raises every L4S decision's reward and lowers every Classic
// one's (w_c / (w_L + w_C) of the delivered share), so the pools and the
// router's own score speak of the same objective.
TEST_F(RouterRing, TheRoutersObjectiveWeighsThePoolsRewards)
{
	auto pool_with = [&](const experience::Objective &objective, const std::string &path) {
		PolicyWorker policy;
		policy.set_objective(objective);
		policy::Model m = leaning_model(0, 20);
		m.config.reward_offset_us = 0;
		policy.init(router.config().policy, router, std::make_unique<policy::CpuBackend>(std::move(m)));
		uint64_t now = 1000;
		for (int round = 0; round < 4; round++) {
			push_through(router, west, east, ipv4_frame(round % 2 ? Ecn::ect1 : Ecn::not_ect), 100, now);
			policy.poll(now);
			now += 100000;
		}
		EXPECT_EQ(policy.finish(), "");
		experience::Pool pool;
		EXPECT_EQ(experience::read_pool(path, pool), "");
		return pool;
	};
	const std::string dir = ::testing::TempDir();
	ASSERT_EQ(start_toml(policy_toml("shadow", "pool_out = \"" + dir + "/objective_default.dpp\"\n")), "");
	const experience::Pool plain = pool_with(experience::Objective{}, dir + "/objective_default.dpp");
	router.shutdown();
	ASSERT_EQ(start_toml(policy_toml("shadow", "pool_out = \"" + dir + "/objective_l4s3.dpp\"\n")), "");
	experience::Objective heavy;
	heavy.l4s_weight = 3;
	const experience::Pool weighted = pool_with(heavy, dir + "/objective_l4s3.dpp");
	ASSERT_EQ(plain.size(), 400u);
	ASSERT_EQ(weighted.size(), plain.size());
	for (size_t i = 0; i < plain.size(); i++) {
		const bool l4s = plain.states[i * experience::kFeatureCount] > 0.5f;
		ASSERT_GT(plain.rewards[i], 0.0f) << i;
		// Weights 1:1 give each class half the share; 3:1 give L4S three quarters.
		EXPECT_NEAR(weighted.rewards[i] / plain.rewards[i], l4s ? 1.5f : 0.5f, 0.05f) << i << (l4s ? " L4S" : " Classic");
	}
}

// pool_rotate: the policy worker keeps a pool per egress port and writes
// each full one into the pool_out directory while it runs (64kb: 1715
// entries), the rest at exit; names say the router, the port and the time.
TEST_F(RouterRing, RotatedPoolsAreWrittenPerPortWhileRunning)
{
	const std::string dir = ::testing::TempDir() + "/router_pools_" + std::to_string(::getpid());
	std::filesystem::remove_all(dir);
	ASSERT_EQ(start_toml(policy_toml("shadow", "pool_out = \"" + dir + "\"\npool_rotate = \"64kb\"\n")), "");
	PolicyWorker policy;
	policy.init(router.config().policy, router, leaning_backend(0, 20));
	ASSERT_EQ(policy.error(), "");
	uint64_t now = 1000;
	for (int round = 0; round < 20; round++) {
		push_through(router, west, east, ipv4_frame(Ecn::ect1), 100, now);
		policy.poll(now);
		now += 100000;
	}
	ASSERT_EQ(policy.finish(), "");
	EXPECT_EQ(policy.stats().pool_files, 2u);
	std::vector<size_t> sizes;
	for (const auto &e : std::filesystem::directory_iterator(dir)) {
		const std::string name = e.path().filename().string();
		EXPECT_EQ(name.rfind(router.config().name + "-port1-", 0), 0u) << name;
		experience::Pool back;
		ASSERT_EQ(experience::read_pool(e.path().string(), back), "") << name;
		sizes.push_back(back.size());
	}
	std::sort(sizes.begin(), sizes.end());
	EXPECT_EQ(sizes, (std::vector<size_t>{285, 1715}));
	std::filesystem::remove_all(dir);
}

// backend "gpu" where the engine cannot start (no GPU here, or a build
// without CUDA): said once, and the cpu backend runs the same model; with
// gpu_fallback "none" the AQMs decide alone. Where a GPU is present the gpu
// backend runs and publishes the same way.
class RouterRingGpu : public RouterRing {
protected:
	void gpu_unavailable(const std::string &fallback)
	{
		const std::string model = ::testing::TempDir() + "/router_gpu_model.dpm";
		ASSERT_EQ(policy::write_model(leaning_model(1, 20), model), "");
		ASSERT_EQ(start_toml(policy_toml("enforce", "backend = \"gpu\"\ngpu_fallback = \"" + fallback + "\"\n",
						 model)),
			  "");
		PolicyWorker policy;
		policy.init(router.config().policy, router);
		if (std::string(policy.backend_name()) == "gpu") {
			EXPECT_EQ(policy.error(), "");
		} else if (fallback == "cpu") {
			EXPECT_EQ(std::string(policy.backend_name()), "cpu");
			EXPECT_EQ(policy.mode(), PolicyMode::enforce);
			EXPECT_TRUE(names(policy.error(), {"backend gpu", "cpu"}));
		} else {
			EXPECT_EQ(policy.mode(), PolicyMode::off);
			EXPECT_TRUE(names(policy.error(), {"backend gpu"}));
		}
		EXPECT_EQ(push_through(router, west, east, ipv4_frame(Ecn::not_ect), 64, 1000), 64u);
		policy.poll(1000);
		policy.flush(1000);
		EXPECT_EQ(policy.stats().published > 0, policy.mode() == PolicyMode::enforce);
	}

	void fails_mid_run(const std::string &fallback);
};

TEST_F(RouterRingGpu, AGpuBackendThatCannotStartHandsThePolicyToTheCpuBackend) { gpu_unavailable("cpu"); }
TEST_F(RouterRingGpu, AGpuBackendThatCannotStartLeavesTheAqmsAloneWithoutAFallback) { gpu_unavailable("none"); }

// A backend that works for two passes and then fails as a lost GPU would.
class FailingBackend final : public policy::Backend {
public:
	explicit FailingBackend(const policy::Model &m) : model_(m), cpu_(m) {}
	const char *name() const override { return "gpu"; }
	const policy::ModelConfig &config() const override { return cpu_.config(); }
	size_t pass_slots() const override { return 2; }
	bool submit(const policy::Window *w, size_t n) override
	{
		if (++passes_ > 2) {
			error_ = "cudaGraphLaunch: unspecified launch failure";
			return false;
		}
		return cpu_.submit(w, n);
	}
	bool collect(policy::Probs *out) override { return cpu_.collect(out); }
	std::unique_ptr<policy::Backend> fallback() const override { return std::make_unique<policy::CpuBackend>(model_); }

private:
	policy::Model model_;
	policy::CpuBackend cpu_;
	int passes_ = 0;
};

// The backend fails mid-run: reported once, the fallback decides from then
// on (the queues of the lost pass included), and with gpu_fallback "none"
// the AQMs alone decide once the overrides expire; the router forwards
// every packet throughout.
void RouterRingGpu::fails_mid_run(const std::string &fallback)
{
	ASSERT_EQ(start_toml(policy_toml("enforce", "gpu_fallback = \"" + fallback + "\"\n")), "");
	PolicyWorker policy;
	policy.init(router.config().policy, router, std::make_unique<FailingBackend>(leaning_model(1, 20)));
	uint64_t now = 1000, forwarded = 0;
	for (int round = 0; round < 6; round++) {
		forwarded += push_through(router, west, east, ipv4_frame(Ecn::ect1), 32, now);
		policy.poll(now);
		now += 1000000;
	}
	const PolicyStats s = policy.stats();
	EXPECT_EQ(s.backend_failures, 1u);
	// It names the backend and carries the backend's own error.
	EXPECT_TRUE(names(s.backend_failure, {"backend gpu", "cudaGraphLaunch: unspecified launch failure"}));
	EXPECT_EQ(forwarded, 6u * 32); // L4S: marked, never dropped
	if (fallback == "cpu") {
		EXPECT_EQ(std::string(s.backend), "cpu");
		EXPECT_EQ(policy.mode(), PolicyMode::enforce);
		EXPECT_EQ(s.forward_passes, 6u); // two on the failing backend, four on the cpu one
		EXPECT_TRUE(names(policy.summary(), {"policy backend failures: 1", s.backend_failure}));
	} else {
		EXPECT_EQ(std::string(s.backend), "none");
		EXPECT_EQ(policy.mode(), PolicyMode::off);
		EXPECT_EQ(s.forward_passes, 2u);
		// 25 ms on, the last override has expired: DualPI2 alone marks nothing at this load.
		const PortStats before = router.port_stats(1);
		EXPECT_EQ(push_through(router, west, east, ipv4_frame(Ecn::ect1), 1000, now + 25000000), 1000u);
		EXPECT_EQ(router.port_stats(1).overridden, before.overridden);
	}
}

TEST_F(RouterRingGpu, ABackendThatFailsMidRunIsReplacedByTheCpuBackend) { fails_mid_run("cpu"); }
TEST_F(RouterRingGpu, ABackendThatFailsMidRunLeavesTheAqmsAloneWithoutAFallback) { fails_mid_run("none"); }

// A model file that cannot be used leaves the router to its AQMs.
TEST_F(RouterRing, ABadModelFileLeavesTheAqmsInCharge)
{
	ASSERT_EQ(start_toml(policy_toml("enforce")), "");
	PolicyWorker policy;
	policy.init(router.config().policy, router);
	EXPECT_EQ(policy.mode(), PolicyMode::off);
	EXPECT_TRUE(names(policy.error(), {"in-memory.dpm"}));
	EXPECT_EQ(push_through(router, west, east, ipv4_frame(Ecn::not_ect), 1000, 1000), 1000u);
}
} // namespace
} // namespace dualpilot::dataplane::bed

int main(int argc, char **argv) { return dualpilot::dataplane::bed::run_with_eal(argc, argv, false); }
