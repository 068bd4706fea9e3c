// libFuzzer target for the restricted pickle reader and the pool importer
// behind it (the paper's pool files): any bytes at all must give either pool
// entries or an error message, never a crash, an out-of-bounds read, an
// absurd allocation or a leak (ASan and UBSan watch).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sim/pool_import.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dualpilot::experience::Pool pool;
	dualpilot::sim::ImportReport report;
	const std::string err = dualpilot::sim::import_pickle(
		std::string_view(reinterpret_cast<const char *>(data), size), "fuzz", nullptr, pool, report);
	if (err.empty() && pool.states.size() != pool.size() * dualpilot::experience::kFeatureCount)
		std::abort(); // accepted, yet the columns disagree
	return 0;
}
