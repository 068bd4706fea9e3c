// One clock for send stamps and receive times: the TSC, anchored once to
// CLOCK_REALTIME. Within one process both ends read the same TSC, so one-way
// latency is exact; two processes on one host anchor separately and agree to
// within the anchoring's few microseconds; two hosts need synchronised
// clocks (PTP), and without them latency reads as their offset.
#pragma once

#include <rte_cycles.h>

#include <cstdint>
#include <ctime>

namespace dualpilot::trafficgen {

struct Clock {
	uint64_t tsc0 = 0;
	uint64_t real0_ns = 0;
	double ns_per_tsc = 0;
	double tsc_hz = 0;

	static Clock anchored()
	{
		Clock c;
		timespec ts{};
		clock_gettime(CLOCK_REALTIME, &ts);
		c.tsc0 = rte_rdtsc();
		c.real0_ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
		c.tsc_hz = static_cast<double>(rte_get_tsc_hz());
		c.ns_per_tsc = 1e9 / c.tsc_hz;
		return c;
	}
	uint64_t ns(uint64_t tsc) const
	{
		return real0_ns + static_cast<uint64_t>(static_cast<double>(tsc - tsc0) * ns_per_tsc);
	}
	uint64_t tsc_of_ns(uint64_t duration_ns) const
	{
		return static_cast<uint64_t>(static_cast<double>(duration_ns) / ns_per_tsc);
	}
};

} // namespace dualpilot::trafficgen
