// The pilot profile (configs/pilot/profile.toml) is what the compiled-in
// defaults say: the generated policy/pilot_profile.hpp against the file read
// here with toml++ (the router's TOML reader, not the generator's), and the
// router's, the simulator's, fine-tuning's and the held-out benchmark's
// defaults against the header.
#include <gtest/gtest.h>
#include <toml++/toml.h>

#include <algorithm>
#include <string>
#include <vector>

#include "aqm/units.hpp"
#include "dataplane/config.hpp"
#include "policy/model_file.hpp"
#include "policy/pilot_profile.hpp"
#include "policy/tune_loop.hpp"
#include "sim/finetune.hpp"
#include "sim/heldout_bench.hpp"
#include "sim/simulation.hpp"

using namespace dualpilot;
namespace profile = dualpilot::policy::pilot_profile;

namespace {

toml::table read_profile()
{
	return toml::parse_file(DUALPILOT_SOURCE_DIR "/configs/pilot/profile.toml");
}

uint64_t ns_of(const toml::node *n)
{
	uint64_t ns = 0;
	EXPECT_NE(n, nullptr);
	if (n) {
		EXPECT_EQ(aqm::parse_time_ns(n->value_or(std::string{}), ns), "");
	}
	return ns;
}

std::vector<uint64_t> profile_delays_ns()
{
	return {profile::kDecisionDelaysNs.begin(), profile::kDecisionDelaysNs.end()};
}

} // namespace

TEST(PilotProfile, HeaderHoldsTheFilesValues)
{
	const toml::table t = read_profile();
	std::vector<std::string> sets;
	for (const auto &[key, value] : *t["base"].as_table()) {
		const std::string v = value.is_string() ? value.value_or(std::string{})
							: std::to_string(value.value_or(int64_t{0}));
		sets.push_back(std::string(key.str()) + "=" + v);
	}
	// toml++ keeps a table's keys in name order, the generator in the file's.
	std::vector<std::string> header_sets = profile::base_sets(), from_settings;
	for (const aqm::Setting &s : profile::base_settings())
		from_settings.push_back(s.key + "=" + s.value);
	EXPECT_EQ(from_settings, header_sets);
	std::sort(header_sets.begin(), header_sets.end());
	std::sort(sets.begin(), sets.end());
	EXPECT_EQ(header_sets, sets);

	EXPECT_EQ(profile::kInferenceInterval, t["closed_loop"]["inference_interval"].value_or(int64_t{0}));
	EXPECT_EQ(profile::kOverrideTtlNs, ns_of(t["closed_loop"]["override_ttl"].node()));
	const toml::array *delays = t["closed_loop"]["decision_delays"].as_array();
	ASSERT_NE(delays, nullptr);
	ASSERT_EQ(delays->size(), profile::kDecisionDelaysNs.size());
	for (size_t i = 0; i < delays->size(); i++)
		EXPECT_EQ(profile::kDecisionDelaysNs[i], ns_of(delays->get(i))) << "decision_delays[" << i << "]";
}

// The base is a DualPI2 setting make_aqm takes, as every tool builds it.
TEST(PilotProfile, BaseIsAValidDualPi2Setting)
{
	const std::vector<aqm::Setting> base = profile::base_settings();
	EXPECT_EQ(aqm::make_aqm("dualpi2", base).error, "");
}

// The router's [policy], one simulated closed loop, fine-tuning and the
// held-out benchmark start from the profile, not from values of their own.
TEST(PilotProfile, EveryClosedLoopDefaultsToTheProfile)
{
	const dataplane::PolicyConfig router;
	EXPECT_EQ(router.inference_interval, profile::kInferenceInterval);
	EXPECT_EQ(router.override_ttl_ns, profile::kOverrideTtlNs);

	const sim::RunOptions run;
	EXPECT_EQ(run.inference_interval, profile::kInferenceInterval);
	EXPECT_EQ(run.override_ttl_ns, profile::kOverrideTtlNs);
	EXPECT_EQ(run.decision_delay_ns, profile::kDecisionDelaysNs[0]);

	const sim::FinetuneConfig finetune;
	EXPECT_EQ(finetune.decision_delays_ns, profile_delays_ns());
	ASSERT_EQ(finetune.base.size(), profile::base_settings().size());
	for (size_t i = 0; i < finetune.base.size(); i++) {
		EXPECT_EQ(finetune.base[i].key, profile::base_settings()[i].key);
		EXPECT_EQ(finetune.base[i].value, profile::base_settings()[i].value);
	}

	const sim::BenchConfig bench;
	EXPECT_EQ(bench.decision_delays_ns, profile_delays_ns());
	EXPECT_EQ(bench.inference_interval, profile::kInferenceInterval);
	EXPECT_EQ(bench.override_ttl_ns, profile::kOverrideTtlNs);
}

// The pilot that ships ([shipped] action) is a model of that action, and
// the DualPI2 it runs over is a valid setting: scripts/demo's pilot row and
// configs/router.example.toml start from them.
TEST(PilotProfile, TheShippedPilotIsAModelOfItsActionOverAValidBase)
{
	const toml::table t = read_profile();
	const std::string action = t["shipped"]["action"].value_or(std::string{});
	ASSERT_TRUE(action == "tune" || action == "verdict") << action;
	const std::string table = action == "tune" ? "tuner_base" : "base";
	const toml::table *base = t[table].as_table();
	ASSERT_NE(base, nullptr) << table;
	std::vector<aqm::Setting> settings;
	for (const auto &[key, value] : *base)
		settings.push_back({std::string(key.str()),
				    value.is_string() ? *value.value<std::string>()
						      : std::to_string(value.value_or(int64_t{0}))});
	EXPECT_EQ(aqm::make_aqm("dualpi2", settings).error, "") << table;

	policy::Model model;
	const std::string path = std::string(DUALPILOT_SOURCE_DIR "/configs/models/") +
				 (action == "tune" ? "tuner-student.dpm" : "pilot-student.dpm");
	ASSERT_EQ(policy::read_model(path, model), "") << path;
	EXPECT_EQ(policy::is_tuner_model(model.config), action == "tune");
}
