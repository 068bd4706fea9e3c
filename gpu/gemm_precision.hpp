// The engine's arithmetic for its matrix products (gpu/gemm.hpp), as the
// config names it: "fp32", "tf32" or "bf16".
#pragma once

#include <cstdint>
#include <string>

namespace dualpilot::gpu {

enum class Precision : uint8_t { fp32, tf32, bf16 };

inline const char *precision_name(Precision p)
{
	return p == Precision::fp32 ? "fp32" : p == Precision::tf32 ? "tf32" : "bf16";
}

// False for a name that is none of the three.
inline bool parse_precision(const std::string &name, Precision &p)
{
	for (Precision c : {Precision::fp32, Precision::tf32, Precision::bf16})
		if (name == precision_name(c)) {
			p = c;
			return true;
		}
	return false;
}

} // namespace dualpilot::gpu
