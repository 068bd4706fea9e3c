// The pilot loop (policy/pilot_loop.hpp) on its own, between a scripted
// backend and a sink that records what reaches it: what the router's
// policy worker and the simulator both rely on.
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "experience/features.hpp"
#include "policy/pilot_loop.hpp"
#include "tests/scripted_pilot.hpp"

using namespace dualpilot;

namespace {

struct Published {
	uint32_t queue;
	policy::OverrideProbs probs;
	uint64_t computed_ns, expires_ns;
};

struct RecordingSink final : policy::OverrideSink {
	std::vector<Published> published;
	std::vector<uint32_t> withdrawn;
	void publish(uint32_t q, const policy::OverrideProbs &p, uint64_t computed_ns, uint64_t expires_ns) override
	{
		published.push_back({q, p, computed_ns, expires_ns});
	}
	void withdraw(uint32_t q, uint64_t) override { withdrawn.push_back(q); }
};

// A Classic packet's state: `sojourn_us` of queueing, `backlog` bytes behind it.
experience::State classic_state(float sojourn_us, float backlog)
{
	experience::State s{};
	s[experience::kQueueDelayFeature] = sojourn_us;
	s[experience::kQueueBytesFeature] = backlog;
	s[experience::kPacketLengthFeature] = 1500;
	return s;
}

policy::PilotLoopConfig config(uint64_t ttl_ns)
{
	policy::PilotLoopConfig c;
	c.guard = {0, 0.25}; // no minimum delay, probabilities capped at 0.25
	c.override_ttl_ns = ttl_ns;
	c.batch_max = 4;
	return c;
}

TEST(PilotLoop, PublishesTheCappedDecisionWithItsTimeToLive)
{
	auto loop = testkit::scripted_pilot([](const float *, uint32_t, std::array<float, 3> &p) {
		p = {0, 1, 0};
		return true;
	});
	loop->restart(config(20000000), {});
	RecordingSink sink;
	const experience::State s = classic_state(20000, 60000);
	loop->observe({0, s.data(), 0, 0}, 0, 1000, &sink);
	loop->step(1000, &sink);
	ASSERT_EQ(sink.published.size(), 1u);
	EXPECT_EQ(sink.published[0].queue, 0u);
	EXPECT_EQ(sink.published[0].probs.p_drop_q16, policy::prob_q16(0.25));
	EXPECT_EQ(sink.published[0].computed_ns, 1000u);
	EXPECT_EQ(sink.published[0].expires_ns, 1000u + 20000000u);
	EXPECT_EQ(loop->stats().published, 1u);
	// Nothing new: nothing decided again.
	loop->step(2000, &sink);
	EXPECT_EQ(sink.published.size(), 1u);
}

TEST(PilotLoop, ANonFiniteOutputAndShadowModePublishNothing)
{
	auto silent = testkit::scripted_pilot([](const float *, uint32_t, std::array<float, 3> &) { return false; });
	silent->restart(config(0), {});
	RecordingSink sink;
	const experience::State s = classic_state(20000, 60000);
	silent->observe({1, s.data(), 0, 0}, 0, 1000, &sink);
	silent->step(1000, &sink);
	EXPECT_TRUE(sink.published.empty());
	EXPECT_EQ(silent->stats().invalid_outputs, 1u);

	auto shadow = testkit::scripted_pilot([](const float *, uint32_t, std::array<float, 3> &p) {
		p = {0, 1, 0};
		return true;
	});
	policy::PilotLoopConfig c = config(0);
	c.enforce = false;
	shadow->restart(c, {});
	for (int i = 0; i < 3; i++) {
		shadow->observe({0, s.data(), 0, 0}, 0, 1000 + i, &sink);
		shadow->step(1000 + i, &sink);
	}
	EXPECT_TRUE(sink.published.empty());
	// Scored against the AQM's forwards: the pilot would have dropped.
	EXPECT_EQ(shadow->stats().scored, 2u);
	EXPECT_EQ(shadow->stats().confusion[0][1], 2u);
}

// A pilot that marks every packet of a queue that never stands (the AQM
// signals nothing): the harm guard withdraws its override and publishes
// nothing for that queue while backed off; the other queue is untouched.
TEST(PilotLoop, TheHarmGuardWithdrawsAndHoldsBackAHarmfulPilot)
{
	auto loop = testkit::scripted_pilot([](const float *, uint32_t, std::array<float, 3> &p) {
		p = {0, 0, 1};
		return true;
	});
	loop->restart(config(0), {});
	RecordingSink sink;
	const experience::State idle = classic_state(100, 0); // drained, 0.1 ms
	uint64_t now = 0;
	const uint64_t step = 10000000; // 10 ms: 20 samples an interval
	for (int i = 0; i < 200 && sink.withdrawn.empty(); i++, now += step) {
		loop->observe({0, idle.data(), 0, 2}, 0, now, &sink);
		loop->step(now, &sink);
	}
	ASSERT_EQ(sink.withdrawn.size(), 1u);
	EXPECT_EQ(sink.withdrawn[0], 0u);
	EXPECT_EQ(loop->stats().pilot_backoffs, 1u);
	EXPECT_TRUE(loop->backed_off(0, now));
	EXPECT_FALSE(loop->backed_off(1, now));
	const size_t before = sink.published.size();
	loop->observe({0, idle.data(), 0, 0}, 0, now, &sink);
	loop->step(now, &sink);
	EXPECT_EQ(sink.published.size(), before);
}

// The reward a sample carries is the one formula (experience/reward.hpp).
TEST(PilotLoop, RewardsAreTheRewardSpecs)
{
	auto loop = testkit::scripted_pilot([](const float *, uint32_t, std::array<float, 3> &p) {
		p = {1, 0, 0};
		return true;
	});
	experience::RewardSpec paper; // packet_length / (delay_us + 1)
	loop->restart(config(0), paper);
	const experience::State s = classic_state(99, 0);
	EXPECT_FLOAT_EQ(loop->reward_of({0, s.data(), 0, 0}), 1500.0f / 100.0f);
	experience::RewardSpec objective;
	objective.delay_offset_us = 0;
	objective.base.classic_weight = 3;
	loop->restart(config(0), objective);
	EXPECT_FLOAT_EQ(loop->reward_of({0, s.data(), 0, 0}), objective.of_state(s.data(), 0));
	EXPECT_NE(loop->reward_of({0, s.data(), 0, 0}), 1500.0f / 100.0f);
}

} // namespace
