// The engine's arithmetic for its matrix products (gpu/gemm.hpp), as the
// config names it: "fp32", "tf32" or "bf16".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/enum_names.hpp"

namespace dualpilot::gpu {

enum class Precision : uint8_t { fp32, tf32, bf16 };
inline constexpr const char *kPrecisionNames[] = {"fp32", "tf32", "bf16"};

inline const char *precision_name(Precision p) { return kPrecisionNames[static_cast<size_t>(p)]; }

// False for a name that is none of the three.
[[nodiscard]] inline bool parse_precision(std::string_view name, Precision &p)
{
	return common::parse_choice(name, kPrecisionNames, p);
}

} // namespace dualpilot::gpu
