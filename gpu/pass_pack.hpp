// Packs a batch of context windows into one pass block (gpu/pass_layout.hpp)
// on the host, into the pinned buffer the pass's copy reads. Host code only:
// built and tested wherever the project builds, GPU or not.
#pragma once

#include <cstddef>
#include <string>

#include "gpu/pass_layout.hpp"
#include "policy/window.hpp"

namespace dualpilot::gpu {

// Writes the header, n rows' metadata (n <= shape.bucket) and the fresh steps
// of each window (its newest `fresh` steps, at most its steps) into block,
// which holds shape.capacity_bytes(). Returns the bytes to copy, or 0 with
// err set: a window without its raw steps (a cache-only window), with 0 or
// more than w steps, or a queue >= queues.
size_t pack_pass(const PassShape &shape, const policy::Window *windows, size_t n, uint32_t queues, std::byte *block,
		 std::string &err);

} // namespace dualpilot::gpu
