// The override slots: a writer publishing without pause while readers read
// never lets a reader see a torn record (fields of two publications mixed).
// scripts/test runs this under ThreadSanitizer as well.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "dataplane/override.hpp"

namespace dualpilot::dataplane {
namespace {

// Every field of publication n is a function of n, so a mix shows.
OverrideRecord record_of(uint64_t n)
{
	OverrideRecord r;
	r.seq = n;
	r.probs.p_drop_q16 = static_cast<uint32_t>(n * 7 % 65537);
	r.probs.p_mark_q16 = static_cast<uint32_t>(n * 13 % 65537);
	r.expires_ns = n * 1000 + 17;
	return r;
}

TEST(Override, ReadersNeverSeeATornRecord)
{
	OverrideSlot slot;
	std::atomic<bool> stop{false};
	constexpr uint64_t kPublications = 300000;
	std::vector<uint64_t> reads(3, 0), torn(3, 0), misses(3, 0);
	std::vector<std::thread> readers;
	for (int i = 0; i < 3; i++) {
		readers.emplace_back([&, i] {
			uint64_t last = 0;
			while (!stop.load(std::memory_order_relaxed)) {
				OverrideRecord r;
				if (!slot.read(r)) {
					misses[i]++;
					continue;
				}
				std::atomic_ref<uint64_t>(reads[i]).fetch_add(1, std::memory_order_relaxed);
				const OverrideRecord want = record_of(r.seq);
				if (r.seq != 0 &&
				    (r.probs.p_drop_q16 != want.probs.p_drop_q16 || r.probs.p_mark_q16 != want.probs.p_mark_q16 ||
				     r.expires_ns != want.expires_ns))
					torn[i]++;
				if (r.seq < last) // publications are seen in order
					torn[i]++;
				last = r.seq;
			}
		});
	}
	// Publish until every reader has read many records along the way (on a
	// loaded machine the readers may start late).
	uint64_t n = 0;
	auto all_reading = [&] {
		for (int i = 0; i < 3; i++)
			if (std::atomic_ref<uint64_t>(reads[i]).load(std::memory_order_relaxed) < 1000)
				return false;
		return true;
	};
	while (n < kPublications || !all_reading())
		slot.publish(record_of(++n));
	stop = true;
	for (auto &t : readers)
		t.join();
	for (int i = 0; i < 3; i++) {
		EXPECT_EQ(torn[i], 0u) << "reader " << i;
		EXPECT_GT(reads[i], 0u);
	}
	OverrideRecord last;
	ASSERT_TRUE(slot.read(last));
	EXPECT_EQ(last.seq, n);
}

TEST(Override, ARecordHoldsUntilItExpires)
{
	OverrideSlot slot;
	OverrideRecord r;
	ASSERT_TRUE(slot.read(r));
	EXPECT_FALSE(r.active(0)); // never published
	slot.publish(record_of(5));
	ASSERT_TRUE(slot.read(r));
	EXPECT_TRUE(r.active(5016));
	EXPECT_FALSE(r.active(5017));
}

} // namespace
} // namespace dualpilot::dataplane
