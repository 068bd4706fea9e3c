// A whole file into memory, for the readers of pools, models and other data
// files that check every byte themselves.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

namespace dualpilot::common {

// False when the file cannot be opened or read.
[[nodiscard]] inline bool read_file(const std::string &path, std::string &out)
{
	std::ifstream in(path, std::ios::binary);
	if (!in)
		return false;
	std::ostringstream ss;
	ss << in.rdbuf();
	if (in.bad())
		return false;
	out = std::move(ss).str();
	return true;
}

} // namespace dualpilot::common
