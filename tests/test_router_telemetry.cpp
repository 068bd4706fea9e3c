// The telemetry commands on EAL's socket: the ports' counters and an AQM's
// state, as dpdk-telemetry.py reads them.
#include <nlohmann/json.hpp>

#include "dataplane/telemetry.hpp"
#include "ring_bed.hpp"

namespace dualpilot::dataplane::bed {
namespace {

TEST_F(RouterRing, TelemetryReportsPortsAndTheAqm)
{
	ASSERT_EQ(start("aqm = \"dualpi2\"\n"), "");
	ASSERT_EQ(publish_telemetry(&router), "");
	inject(west, {ipv4_frame(Ecn::ect1), ipv4_frame(Ecn::not_ect), std::vector<uint8_t>(5, 0)});
	router.poll(1000);
	const auto stats = nlohmann::json::parse(telemetry_reply("/dualpilot/stats"), nullptr, false);
	ASSERT_FALSE(stats.is_discarded());
	EXPECT_EQ(stats["/dualpilot/stats"]["west"]["rx_pkts"], 3);
	EXPECT_EQ(stats["/dualpilot/stats"]["west"]["malformed"], 1);
	EXPECT_EQ(stats["/dualpilot/stats"]["east"]["tx_pkts"], 2);
	const auto aqm = nlohmann::json::parse(telemetry_reply("/dualpilot/aqm,east"), nullptr, false);
	ASSERT_FALSE(aqm.is_discarded());
	EXPECT_EQ(aqm["/dualpilot/aqm"]["aqm"], "dualpi2");
	EXPECT_EQ(aqm["/dualpilot/aqm"]["l4s_forwarded_pkts"], 1);
	EXPECT_EQ(aqm["/dualpilot/aqm"]["classic_forwarded_pkts"], 1);
	EXPECT_TRUE(aqm["/dualpilot/aqm"].contains("prob_base_ppm"));
	const auto unknown = nlohmann::json::parse(telemetry_reply("/dualpilot/aqm,nosuch"), nullptr, false);
	EXPECT_TRUE(unknown["/dualpilot/aqm"].is_null());
	publish_telemetry(nullptr);
	const auto gone = nlohmann::json::parse(telemetry_reply("/dualpilot/stats"), nullptr, false);
	EXPECT_TRUE(gone["/dualpilot/stats"].is_null());
}

} // namespace
} // namespace dualpilot::dataplane::bed

int main(int argc, char **argv) { return dualpilot::dataplane::bed::run_with_eal(argc, argv, true); }
