// Helpers shared by the AQM tests: build an AQM from tc-style words, and
// drive packets through it.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "aqm/aqm.hpp"

namespace dualpilot::aqm::testing {

inline constexpr uint64_t kMs = 1000000;
inline constexpr uint64_t kUs = 1000;

template <typename T>
T make(std::string_view name, std::string_view tc_args)
{
	std::vector<Setting> settings;
	const std::string split_err = split_tc_args(name, tc_args, settings);
	EXPECT_EQ(split_err, "");
	AqmOrError built = make_aqm(name, settings, 42);
	EXPECT_EQ(built.error, "") << "while building " << name << " " << tc_args;
	return std::get<T>(std::move(built.aqm.value()));
}

inline std::string build_error(std::string_view name, std::string_view tc_args)
{
	std::vector<Setting> settings;
	if (std::string err = split_tc_args(name, tc_args, settings); !err.empty())
		return err;
	return make_aqm(name, settings).error;
}

inline Packet pkt(uint64_t at_ns, Ecn ecn, uint32_t len = 1500, uint64_t handle = 0)
{
	return Packet{at_ns, handle, len, ecn, 0};
}

// Dequeues until a packet is forwarded (drops are tallied) or the AQM is empty.
template <typename A>
bool dequeue_forwarded(A &aqm, uint64_t now_ns, Dequeued &out, uint64_t &drops)
{
	while (aqm.dequeue(now_ns, out)) {
		if (out.verdict != Verdict::drop)
			return true;
		drops++;
	}
	return false;
}

} // namespace dualpilot::aqm::testing
