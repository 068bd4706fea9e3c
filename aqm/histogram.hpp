// A log-linear histogram of delays (HDR style): 64 linear sub-buckets per
// power of two, so any percentile is within 1/64 (1.6 %) of the true value,
// one increment per sample. Up to 2^36 ns (68.7 s; a longer delay counts as
// that, its true value kept in max_ns), which is 31 powers of two: 1,984
// buckets, a 15.5 KiB table. A queue touches a few lines of it (the buckets
// around its sojourn), not the whole table. Used wherever the project
// reports sojourn-time percentiles.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace dualpilot::aqm {

class DelayHistogram {
public:
	static constexpr int kSubBits = 6;
	static constexpr int kSub = 1 << kSubBits;
	static constexpr int kMaxBits = 36; // values from 2^36 ns on share the last bucket
	static constexpr int kBuckets = (kMaxBits - kSubBits + 1) * kSub;

	void add(uint64_t value_ns, uint64_t count = 1)
	{
		counts_[index(value_ns)] += count;
		total_ += count;
		sum_ns_ += value_ns * count;
		if (value_ns > max_ns_)
			max_ns_ = value_ns;
	}

	uint64_t count() const { return total_; }
	uint64_t max_ns() const { return max_ns_; }
	double mean_ns() const { return total_ ? static_cast<double>(sum_ns_) / total_ : 0; }

	// The smallest recorded bucket value v with at least q of samples <= v.
	uint64_t percentile_ns(double q) const
	{
		if (total_ == 0)
			return 0;
		const auto rank = static_cast<uint64_t>(q * static_cast<double>(total_ - 1)) + 1;
		uint64_t seen = 0;
		for (int i = 0; i < kBuckets; i++) {
			seen += counts_[i];
			if (seen >= rank) {
				const uint64_t upper = upper_bound(i);
				return upper < max_ns_ ? upper : max_ns_;
			}
		}
		return max_ns_;
	}

	// Each bucket that holds samples: f(the bucket's largest value, its count).
	template <typename F>
	void each_bucket(F &&f) const
	{
		for (int i = 0; i < kBuckets; i++)
			if (counts_[i] != 0)
				f(upper_bound(i), counts_[i]);
	}

	void merge(const DelayHistogram &other)
	{
		for (int i = 0; i < kBuckets; i++)
			counts_[i] += other.counts_[i];
		total_ += other.total_;
		sum_ns_ += other.sum_ns_;
		if (other.max_ns_ > max_ns_)
			max_ns_ = other.max_ns_;
	}

private:
	static int index(uint64_t v)
	{
		if (v >> kMaxBits)
			v = (uint64_t{1} << kMaxBits) - 1;
		if (v < kSub)
			return static_cast<int>(v);
		const int shift = std::bit_width(v) - kSubBits - 1;
		return (shift + 1) * kSub + static_cast<int>((v >> shift) - kSub);
	}
	// Largest value that maps to bucket i.
	static uint64_t upper_bound(int i)
	{
		if (i < kSub)
			return static_cast<uint64_t>(i);
		const int shift = i / kSub - 1;
		const uint64_t base = static_cast<uint64_t>(i % kSub + kSub) << shift;
		return base + ((uint64_t{1} << shift) - 1);
	}

	std::array<uint64_t, kBuckets> counts_{};
	uint64_t total_ = 0;
	uint64_t sum_ns_ = 0;
	uint64_t max_ns_ = 0;
};

} // namespace dualpilot::aqm
