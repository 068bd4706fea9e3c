// A config's word for a choice, parsed into an enum where the file is read.
// Each enum has one table of its words, in the order of its values
// (dataplane/config.hpp, gpu/gemm_precision.hpp); to_string and parse_choice
// read the same table, so what the program prints (a summary, telemetry, a
// change log) is what the config file says.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace dualpilot::common {

// The value whose word is `text`; false (out untouched) for none of them.
template <class Enum, size_t N>
[[nodiscard]] bool parse_choice(std::string_view text, const char *const (&names)[N], Enum &out)
{
	for (size_t i = 0; i < N; i++)
		if (text == names[i]) {
			out = static_cast<Enum>(i);
			return true;
		}
	return false;
}

// "(known: a b c)", for the error that names a word that is none of them.
template <size_t N>
std::string known_choices(const char *const (&names)[N])
{
	std::string out = "(known:";
	for (const char *n : names)
		out = out + " " + n;
	return out + ")";
}

} // namespace dualpilot::common
