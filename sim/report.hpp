// What a run leaves behind: the summary table, and the files of a run
// directory (summary, delay CDF, utilisation, flows, experience pool).
#pragma once

#include <string>

#include "sim/scenario.hpp"
#include "sim/simulation.hpp"

namespace dualpilot::sim {

std::string summary_table(const Scenario &scenario, const RunResult &r, uint64_t seed);
// One line per AQM, side by side: the --compare table.
std::string compare_header();
std::string compare_row(const std::string &aqm_name, const RunResult &r, const experience::Objective &objective);
// Writes the run's files into dir (created if missing). Error text, or empty.
[[nodiscard]]
std::string write_run_dir(const Scenario &scenario, const RunResult &r, uint64_t seed, const std::string &dir,
			  bool write_pool_json, bool write_pool_dpp);

} // namespace dualpilot::sim
