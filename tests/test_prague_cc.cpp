// dualpilot-prague's congestion control without sockets: a loss-free path
// that marks a given share of packets, and the window's answers to it.
#include <gtest/gtest.h>

#include <cmath>

#include "perf/prague/cc.hpp"

namespace dualpilot::prague {
namespace {

// A path of one round trip: each round the sender sends what its window
// allows, the receiver gets every packet (marking one in every mark_every,
// 0: none) and each is acknowledged with the running counts.
struct Path {
	Cc &cc;
	uint64_t seq = 0, received = 0, ce = 0, now = 0;
	static constexpr uint64_t kRtt = 10000000; // 10 ms

	void round(uint64_t mark_every)
	{
		const uint64_t first = seq;
		while (cc.can_send())
			cc.on_send(seq++, now);
		now += kRtt;
		for (uint64_t s = first; s < seq; s++) {
			received++;
			if (mark_every && received % mark_every == 0)
				ce++;
			cc.on_ack({received, ce, s}, kRtt, now);
		}
	}
};

TEST(PragueCc, SlowStartDoublesUntilTheFirstMarkThenAlphaOneHalves)
{
	Cc cc;
	Path path{cc};
	path.round(0);
	EXPECT_DOUBLE_EQ(cc.cwnd(), 20); // 10 acked, each +1
	path.round(0);
	EXPECT_DOUBLE_EQ(cc.cwnd(), 40);
	EXPECT_TRUE(cc.slow_start());
	// The next round's first packet marked. Alpha starts at 1 and has only
	// decayed by 15/16 a round since, so the first cut is close to Reno's
	// half; the 39 clean acks after it add about 2 (one packet per round).
	const double before = cc.cwnd();
	path.round(31); // received 30 so far: the 31st is marked
	EXPECT_FALSE(cc.slow_start());
	EXPECT_EQ(cc.reductions(), 1u);
	EXPECT_GT(cc.alpha(), 0.8);
	EXPECT_GT(cc.cwnd(), before / 2);
	EXPECT_LT(cc.cwnd(), before * (1 - 0.8 / 2) + 2.5);
}

TEST(PragueCc, AlphaTracksTheMarkedFractionAndCutsAreProportional)
{
	Cc cc;
	Path path{cc};
	for (int r = 0; r < 400; r++)
		path.round(10); // 10 % of packets marked
	EXPECT_NEAR(cc.alpha(), 0.10, 0.03);
	// With alpha near 0.1 a round with marks cuts the window by about 5 %,
	// once, however many of its packets are marked.
	const double before = cc.cwnd();
	const uint64_t cuts = cc.reductions();
	path.round(2);
	EXPECT_EQ(cc.reductions(), cuts + 1);
	EXPECT_GT(cc.cwnd(), before * 0.85);
	EXPECT_LT(cc.cwnd(), before);
	EXPECT_EQ(cc.lost(), 0u);
	EXPECT_EQ(cc.inflight(), 0u);
}

TEST(PragueCc, ClassicResponseHalvesOnCeOncePerRoundTrip)
{
	CcParams p;
	p.response = Response::classic;
	Cc cc(p);
	Path path{cc};
	for (int r = 0; r < 3; r++)
		path.round(0);
	const double before = cc.cwnd();
	path.round(3); // many marks in one round: one halving
	EXPECT_EQ(cc.reductions(), 1u);
	EXPECT_NEAR(cc.cwnd(), before / 2, 3);
	EXPECT_DOUBLE_EQ(cc.alpha(), 1.0); // the classic response has no alpha
}

TEST(PragueCc, AGapInTheSequenceIsALossAndLeavesTheWindow)
{
	Cc cc;
	uint64_t now = 0;
	for (uint64_t s = 0; s < 10; s++)
		cc.on_send(s, now);
	EXPECT_EQ(cc.inflight(), 10u);
	now += 10000000;
	// Packets 0..3 arrive, 4 is lost, 5 arrives.
	for (uint64_t s = 0; s < 4; s++)
		cc.on_ack({s + 1, 0, s}, 10000000, now);
	const double before = cc.cwnd();
	cc.on_ack({5, 0, 5}, 10000000, now);
	EXPECT_EQ(cc.lost(), 1u);
	EXPECT_EQ(cc.losses(), 1u);
	EXPECT_NEAR(cc.cwnd(), before / 2, 1);
	EXPECT_EQ(cc.inflight(), 4u); // 10 sent, 5 delivered, 1 lost
}

// Off slow start the window grows (srtt / rtt_target)^2 packets a round
// trip: on a 10 ms path with the 25 ms target, 0.16 packets, so its rate
// grows as fast per second as a 25 ms flow's.
TEST(PragueCc, AdditiveIncreaseIsScaledToTheTargetRoundTrip)
{
	Cc cc;
	Path path{cc};
	path.round(0);
	path.round(11); // one mark: slow start ends
	ASSERT_FALSE(cc.slow_start());
	for (int r = 0; r < 5; r++)
		path.round(0);
	const double before = cc.cwnd();
	for (int r = 0; r < 10; r++)
		path.round(0);
	EXPECT_NEAR(cc.cwnd() - before, 10 * 0.16, 0.1);
}

// Below one packet the window still paces: one packet in flight at a time,
// at cwnd packets per round trip.
TEST(PragueCc, AScalableWindowFallsBelowOnePacket)
{
	Cc cc;
	Path path{cc};
	path.round(0);
	for (int r = 0; r < 30; r++)
		path.round(1); // every packet marked
	EXPECT_NEAR(cc.cwnd(), 0.25, 0.01);
	EXPECT_TRUE(cc.can_send());
	cc.on_send(path.seq++, path.now);
	EXPECT_FALSE(cc.can_send());
	EXPECT_NEAR(cc.pacing_rate(1000), 1.25 * 0.25 * 1000 * 1e9 / Path::kRtt, 1);
}

TEST(PragueCc, SilenceForAnRtoTakesEverythingInFlightAsLost)
{
	Cc cc;
	for (uint64_t s = 0; s < 10; s++)
		cc.on_send(s, 0);
	EXPECT_FALSE(cc.check_timeout(cc.rto_ns() - 1));
	EXPECT_TRUE(cc.check_timeout(cc.rto_ns()));
	EXPECT_EQ(cc.inflight(), 0u);
	EXPECT_EQ(cc.lost(), 10u);
	EXPECT_DOUBLE_EQ(cc.cwnd(), 1); // the loss window
	EXPECT_EQ(cc.timeouts(), 1u);
}

} // namespace
} // namespace dualpilot::prague
