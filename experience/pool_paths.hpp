// Pool arguments as the tools take them (dualpilot-pool, dualpilot-train):
// each one a pool file, a directory (its *.dpp and *.json files, sorted by
// name; hidden files, such as a rotating router's temporary ones, left out),
// or a glob(3) pattern (its matches sorted by name; a directory among them
// expanded as above).
#pragma once

#include <string>
#include <vector>

namespace dualpilot::experience {

// Appends the pool files args name to out, in order. Error text naming the
// argument: a path that does not exist, a pattern that matches nothing, a
// directory without pools, the same file named twice.
[[nodiscard]] std::string expand_pool_paths(const std::vector<std::string> &args, std::vector<std::string> &out);

} // namespace dualpilot::experience
