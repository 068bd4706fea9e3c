// A single-writer seqlock over N 64-bit words: the one protocol behind the
// verdict pilot's override slots (override.hpp) and the tuner's setting
// records (tune_setting.hpp).
//
// The writer makes the version odd, stores the words, and makes it even
// again (release). A reader loads the version (acquire), the words, and the
// version again; a record that was being written (odd, or changed under it)
// is reported as not read, and the fast path never retries or waits: it
// acts as if there were no record this time. Every word is an atomic, so
// the protocol is visible to ThreadSanitizer and correct on weakly ordered
// CPUs.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace dualpilot::dataplane {

template <size_t N> class Seqlock {
public:
	using Words = std::array<uint64_t, N>;

	explicit Seqlock(const Words &initial = {})
	{
		for (size_t i = 0; i < N; i++)
			words_[i].store(initial[i], std::memory_order_relaxed);
	}

	// Single writer.
	void publish(const Words &w)
	{
		const uint32_t v = version_.load(std::memory_order_relaxed);
		version_.store(v + 1, std::memory_order_relaxed);
		std::atomic_thread_fence(std::memory_order_release);
		for (size_t i = 0; i < N; i++)
			words_[i].store(w[i], std::memory_order_relaxed);
		version_.store(v + 2, std::memory_order_release);
	}

	// The reader's first load: acquire pairs with publish's final release
	// store, so the words of an even version are visible.
	uint32_t version() const { return version_.load(std::memory_order_acquire); }

	// The words of version v (just loaded by version()). False, out
	// untouched, when v is odd or a write came in meanwhile.
	[[nodiscard]] bool read(uint32_t v, Words &out) const
	{
		if (v & 1)
			return false;
		Words w;
		for (size_t i = 0; i < N; i++)
			w[i] = words_[i].load(std::memory_order_relaxed);
		std::atomic_thread_fence(std::memory_order_acquire);
		if (version_.load(std::memory_order_relaxed) != v)
			return false;
		out = w;
		return true;
	}

	[[nodiscard]] bool read(Words &out) const { return read(version(), out); }

private:
	std::atomic<uint32_t> version_{0};
	std::array<std::atomic<uint64_t>, N> words_{};
};

} // namespace dualpilot::dataplane
