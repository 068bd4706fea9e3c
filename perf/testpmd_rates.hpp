// dpdk-testpmd as the benchmarks' yardstick: runs it (a child process with
// its own EAL) and reads the per-second rates its --stats-period 1 prints.
#pragma once

#include <fmt/core.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace dualpilot::bench {

// Runs cmd (a testpmd command line, its output to stdout) and returns one
// rate per report, the sum of the "Tx-pps:" lines of `ports` ports, leaving
// out the first two (start-up and the first partial second). No rate left
// is an error (testpmd missing or failing).
inline std::vector<double> testpmd_tx_rates(const std::string &cmd, const std::string &exe, int ports,
					    std::string &error)
{
	constexpr int kSkipped = 2;
	int reports = 0;
	FILE *p = popen(cmd.c_str(), "r");
	if (!p) {
		error = "cannot run " + exe;
		return {};
	}
	std::vector<double> sums;
	double current = 0;
	int seen = 0;
	char line[512];
	while (std::fgets(line, sizeof(line), p)) {
		unsigned long long pps = 0;
		if (std::sscanf(line, " Tx-pps: %llu", &pps) == 1) {
			current += static_cast<double>(pps);
			if (++seen == ports) {
				if (++reports > kSkipped)
					sums.push_back(current);
				current = 0;
				seen = 0;
			}
		}
	}
	const int rc = pclose(p);
	if (sums.empty())
		error = fmt::format("testpmd gave {} rate reports (exit status {}); is {} installed?", reports, rc, exe);
	return sums;
}

inline double median(std::vector<double> v)
{
	if (v.empty())
		return 0;
	std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
	return v[v.size() / 2];
}

} // namespace dualpilot::bench
