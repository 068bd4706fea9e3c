// A small, fast, seedable generator for the AQMs' probability rolls. Each AQM
// owns one, so runs are reproducible from a seed and lcores share nothing.
#pragma once

#include <cstdint>

namespace dualpilot::aqm {

// SplitMix64 (Steele, Lea, Flood 2014): one add and two multiplies a draw,
// passes BigCrush, and any seed (0 included) is a good one.
struct Rng {
	uint64_t state;

	explicit Rng(uint64_t seed = 0x5eed) : state(seed) {}

	uint64_t next_u64()
	{
		uint64_t z = (state += 0x9e3779b97f4a7c15ull);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		return z ^ (z >> 31);
	}

	uint32_t next_u32() { return static_cast<uint32_t>(next_u64() >> 32); }

	// Uniform in [0, 1).
	double next_double() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
};

} // namespace dualpilot::aqm
