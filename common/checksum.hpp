// FNV-1a 64: the checksum of the project's binary files (.dpp pools, .dpm
// models) and the fingerprint of simulator runs. Not cryptographic: it
// catches damage and truncation, not tampering.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dualpilot::common {

inline uint64_t fnv1a64(const void *data, size_t len, uint64_t hash = 0xcbf29ce484222325ull)
{
	const auto *p = static_cast<const unsigned char *>(data);
	for (size_t i = 0; i < len; i++) {
		hash ^= p[i];
		hash *= 0x100000001b3ull;
	}
	return hash;
}

} // namespace dualpilot::common
