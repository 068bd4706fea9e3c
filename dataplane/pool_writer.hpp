// Experience pools from a running router, rotated (docs/training.md,
// "Pools from a fleet"): one pool per egress port, closed when it reaches a size, an age or
// an entry count, and written by a thread of its own into a directory that a
// collector ships from. No DPDK: the policy worker drives it, the tests too.
//
// The policy lcore only appends samples and, when a pool is full, moves it
// into the writer's queue (a mutex and a condition variable: a few times a
// minute, off the packet path); the writer encodes it, writes it under a
// temporary name in the same directory (".NAME.tmp": it matches no "*.dpp"),
// fsyncs it, renames it to NAME without replacing anything and fsyncs the
// directory, so a collector listing "*.dpp" only ever sees whole, checksummed
// files. NAME is <router>-port<P>-<UTC yyyymmddTHHMMSSZ>-<seq>.dpp: the time
// the pool's first sample arrived, and a sequence number (6 digits, from 0 in
// each run, across the ports) that keeps names unique.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "experience/pool.hpp"

namespace dualpilot::dataplane {

struct PoolRotation {
	std::string dir;             // written into; made if missing (one level)
	std::string router;          // the files' first name part ([router] name)
	uint64_t max_bytes = 0;      // a pool whose .dpp would reach this closes; 0: no size limit
	uint64_t max_age_ns = 0;     // a pool this old (since its first sample) closes; 0: no age limit
	uint64_t max_entries = 5000000; // a pool closes at this count; the entries waiting for the
	                             // writer beyond it are dropped and counted (pool_max_entries)
};

// "<router>-port<P>-<yyyymmddTHHMMSSZ>-<seq>.dpp", the time in UTC.
std::string pool_file_name(const std::string &router, uint32_t port, std::time_t start_utc, uint64_t seq);

struct PoolRotatorStats {
	uint64_t entries = 0;        // accepted into a pool
	uint64_t dropped = 0;        // samples or closed pools' entries dropped: the writer fell behind
	uint64_t files = 0;          // written
	uint64_t entries_written = 0;
	uint64_t failed_files = 0;   // a write that failed (its entries are lost, counted here)
	uint64_t failed_entries = 0;
	std::string last_error;
};

class PoolRotator {
public:
	PoolRotator() = default;
	PoolRotator(const PoolRotator &) = delete;
	PoolRotator &operator=(const PoolRotator &) = delete;
	// The pools still open are written. Their failures go nowhere from here:
	// an owner that reports them calls finish() first (it is safe twice).
	~PoolRotator() { (void)finish(); }

	// Checks (or makes) the directory and starts the writer thread. Error
	// text naming the directory, or empty.
	[[nodiscard]] std::string start(const PoolRotation &cfg, size_t ports, const std::string &reward_definition);

	// Policy lcore. A sample of egress port `port`; now_ns on any monotonic
	// clock (the router's). False when it was dropped (counted).
	bool add(uint32_t port, const std::array<float, experience::kFeatureCount> &state, uint8_t action, float reward,
		 uint64_t now_ns);
	// Closes the pools older than max_age_ns (call it every pass or so).
	void tick(uint64_t now_ns);
	// At exit: every open pool queued, the queue written, the thread joined.
	// The writer's failures, if any, as error text. Safe to call twice.
	[[nodiscard]] std::string finish();

	// Any thread.
	PoolRotatorStats stats() const;
	bool running() const { return thread_.joinable(); }

private:
	struct Open {
		experience::Pool pool;
		uint64_t first_ns = 0;
		std::time_t first_utc = 0;
	};
	struct Closed {
		uint32_t port;
		std::time_t first_utc;
		experience::Pool pool;
	};

	void reset(Open &o) const;
	void close(uint32_t port, bool at_exit = false);
	void writer_loop();
	void write_one(Closed &c);
	[[nodiscard]] std::string write_atomically(const std::string &bytes, uint32_t port, std::time_t first_utc,
						   std::string &name);

	PoolRotation cfg_;
	uint64_t max_pool_entries_ = 0; // the smallest of the size's and the count's
	std::vector<Open> open_;
	std::string reward_definition_;

	mutable std::mutex mutex_; // guards queue_, stopping_ and stats_
	std::condition_variable wake_;
	std::deque<Closed> queue_;
	bool stopping_ = false;
	// Entries in queue_ and being written: added by the policy lcore, taken
	// off by the writer; relaxed, it only bounds memory.
	std::atomic<uint64_t> queued_entries_{0};
	// The policy lcore's counters (one writer: relaxed load and store).
	std::atomic<uint64_t> entries_{0}, dropped_{0};
	uint64_t seq_ = 0;       // the writer thread's
	PoolRotatorStats stats_; // the writer's counters (files, failures), under mutex_
	std::thread thread_;
};

} // namespace dualpilot::dataplane
