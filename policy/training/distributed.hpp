// Data-parallel training over torch.distributed's C++ core (c10d): every rank
// joins a Gloo process group that rendezvouses through a TCPStore served by
// rank 0, trains on its own shard of the episodes, and after each backward
// pass the gradients are summed across the ranks in buckets and divided by
// the world size, so every rank takes the same optimiser step: the step a
// single process would take on the union of the ranks' batches (the global
// batch).
//
// Failures: joining waits at most `timeout_s` for every rank; every
// collective fails after at most `timeout_s` (sooner when a peer's
// connection drops, as when it is killed). Each rank beats a counter in the
// store every 250 ms, so that a surviving rank can name the ranks that
// stopped beating; when the store itself is gone, rank 0 (which serves it)
// is the one lost.
#pragma once

#include <torch/torch.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace c10d {
class Store;
class ProcessGroup;
} // namespace c10d

namespace dualpilot::policy {

struct DistributedOptions {
	uint32_t world_size = 1;
	uint32_t rank = 0;
	std::string master_host = "127.0.0.1"; // where rank 0 serves the store
	uint16_t master_port = 29500;
	double timeout_s = 60; // to join, and for any collective
};

class DataParallel {
    public:
	// Joins the group (rank 0 serves the store). Error text or empty.
	static std::string join(const DistributedOptions &opt, std::unique_ptr<DataParallel> &out);
	~DataParallel();

	uint32_t rank() const { return opt_.rank; }
	uint32_t world() const { return opt_.world_size; }

	// Element-wise sum (or maximum) across the ranks, in place.
	[[nodiscard]] std::string sum(std::vector<double> &values);
	[[nodiscard]] std::string max(std::vector<double> &values);
	// Rank 0's tensors to every rank (the initial weights).
	[[nodiscard]] std::string broadcast(std::vector<torch::Tensor> &tensors);
	// The gradients of `params` averaged across the ranks, in buckets of at
	// most kBucketFloats; `stop` goes in as this rank's vote and comes out
	// true when any rank voted to stop (it rides in the last bucket).
	[[nodiscard]] std::string average_gradients(const std::vector<torch::Tensor> &params, bool &stop);
	// Seconds spent in all-reduces so far (gradients and flags).
	double allreduce_seconds() const { return allreduce_seconds_; }

	static constexpr int64_t kBucketFloats = 1 << 18; // 1 MiB of fp32 per all-reduce

    private:
	DataParallel() = default;
	[[nodiscard]] std::string run(const char *what, const std::function<void()> &collective);
	std::string lost_ranks();

	DistributedOptions opt_;
	c10::intrusive_ptr<c10d::Store> store_;
	c10::intrusive_ptr<c10d::ProcessGroup> group_;
	std::thread heartbeat_;
	std::atomic<bool> stopping_{false};
	double allreduce_seconds_ = 0;
};

} // namespace dualpilot::policy
