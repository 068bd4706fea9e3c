// Runs of the simulator over worker threads: each run is deterministic by
// itself, so the figures do not depend on how many threads share them.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace dualpilot::sim {

// Jobs 0..n-1 over `threads` workers, each job once; fn(job, worker).
inline void parallel_for(size_t n, uint32_t threads, const std::function<void(size_t, uint32_t)> &fn)
{
	std::atomic<size_t> next{0};
	auto work = [&](uint32_t w) {
		for (size_t j = next++; j < n; j = next++)
			fn(j, w);
	};
	std::vector<std::thread> pool;
	for (uint32_t w = 1; w < threads; w++)
		pool.emplace_back(work, w);
	work(0);
	for (std::thread &t : pool)
		t.join();
}

} // namespace dualpilot::sim
