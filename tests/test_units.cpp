// The value spellings operators type, as tc reads them.
#include <gtest/gtest.h>

#include "aqm/histogram.hpp"
#include "aqm/units.hpp"
#include "aqm/aqm.hpp"

namespace dualpilot::aqm {
namespace {

TEST(Units, TimesReadLikeTc)
{
	uint64_t ns = 0;
	EXPECT_EQ(parse_time_ns("15ms", ns), "");
	EXPECT_EQ(ns, 15000000u);
	EXPECT_EQ(parse_time_ns("1.5ms", ns), "");
	EXPECT_EQ(ns, 1500000u);
	EXPECT_EQ(parse_time_ns("500us", ns), "");
	EXPECT_EQ(ns, 500000u);
	EXPECT_EQ(parse_time_ns("2s", ns), "");
	EXPECT_EQ(ns, 2000000000u);
	EXPECT_EQ(parse_time_ns("250", ns), ""); // bare: microseconds
	EXPECT_EQ(ns, 250000u);
	EXPECT_NE(parse_time_ns("", ns), "");
	EXPECT_NE(parse_time_ns("ms", ns), "");
	EXPECT_NE(parse_time_ns("-1ms", ns), "");
	EXPECT_NE(parse_time_ns("1e999s", ns), "");
	EXPECT_NE(parse_time_ns("5 fortnights", ns).find("unknown time unit"), std::string::npos);
}

TEST(Units, SizesAndCountsReadLikeTc)
{
	uint64_t b = 0;
	EXPECT_EQ(parse_size_bytes("64kb", b), "");
	EXPECT_EQ(b, 65536u);
	EXPECT_EQ(parse_size_bytes("1514", b), "");
	EXPECT_EQ(b, 1514u);
	EXPECT_EQ(parse_size_bytes("2mb", b), "");
	EXPECT_EQ(b, 2u * 1024 * 1024);
	EXPECT_NE(parse_size_bytes("0.5b", b), "");
	uint32_t pkts = 0;
	EXPECT_EQ(parse_packets("100p", pkts), "");
	EXPECT_EQ(pkts, 100u);
	EXPECT_EQ(parse_packets("7pkt", pkts), "");
	EXPECT_EQ(pkts, 7u);
	EXPECT_NE(parse_packets("99999999999", pkts), "");
	uint32_t pct = 0;
	EXPECT_EQ(parse_percent("10%", pct), "");
	EXPECT_EQ(pct, 10u);
	EXPECT_NE(parse_percent("110", pct), "");
	EXPECT_EQ(format_time(15000000), "15ms");
	EXPECT_EQ(format_time(1500), "1.5us");
}

TEST(Units, SettingsSplitIntoKeyAndValue)
{
	const Setting s = parse_setting("target=20ms");
	EXPECT_EQ(s.key, "target");
	EXPECT_EQ(s.value, "20ms");
	const Setting f = parse_setting("overflow");
	EXPECT_EQ(f.key, "overflow");
	EXPECT_EQ(f.value, "");
	std::vector<Setting> out;
	EXPECT_EQ(split_tc_args("dualpi2", "limit 100  overflow\ttarget 5ms any_ect", out), "");
	ASSERT_EQ(out.size(), 4u);
	EXPECT_EQ(out[1].key, "overflow");
	EXPECT_EQ(out[2].value, "5ms");
}

TEST(DelayHistogram, PercentilesAreWithinOneSixtyFourth)
{
	DelayHistogram h;
	for (uint64_t v = 1; v <= 100000; v++)
		h.add(v * 1000);
	for (double q : {0.5, 0.9, 0.99, 0.999}) {
		const double want = q * 100000 * 1000;
		EXPECT_NEAR(static_cast<double>(h.percentile_ns(q)), want, want / 64 + 1000) << q;
	}
	EXPECT_EQ(h.percentile_ns(1.0), 100000u * 1000);
	EXPECT_EQ(h.count(), 100000u);
	DelayHistogram empty;
	EXPECT_EQ(empty.percentile_ns(0.5), 0u);
	h.merge(h);
	EXPECT_EQ(h.count(), 200000u);
}

} // namespace
} // namespace dualpilot::aqm
