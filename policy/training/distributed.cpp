#include "policy/training/distributed.hpp"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <fmt/format.h>

#include <chrono>

namespace dualpilot::policy {

namespace {

constexpr auto kBeatPeriod = std::chrono::milliseconds(250);

std::string beat_key(uint32_t rank) { return fmt::format("dualpilot/beat/{}", rank); }

// A connection to the store. A rank's own (`member`) counts itself in, and
// rank 0's, which serves the store, waits until every rank has; the
// heartbeat's and the failure probe's connections count for nothing.
c10::intrusive_ptr<c10d::TCPStore> client(const DistributedOptions &o, bool member, std::chrono::milliseconds timeout)
{
	c10d::TCPStoreOptions so;
	so.port = o.master_port;
	so.isServer = member && o.rank == 0;
	so.numWorkers = member ? c10::optional<size_t>(o.world_size) : c10::nullopt;
	so.waitWorkers = member;
	so.timeout = timeout;
	return c10::make_intrusive<c10d::TCPStore>(o.master_host, so);
}

std::chrono::milliseconds millis(double seconds)
{
	return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

} // namespace

std::string DataParallel::join(const DistributedOptions &opt, std::unique_ptr<DataParallel> &out)
{
	if (opt.world_size < 1 || opt.rank >= opt.world_size)
		return fmt::format("rank {} is not in a world of {}", opt.rank, opt.world_size);
	std::unique_ptr<DataParallel> dp(new DataParallel());
	dp->opt_ = opt;
	const std::string where = fmt::format("{}:{}", opt.master_host, opt.master_port);
	try {
		// Rank 0 serves the store and waits for every rank to connect.
		dp->store_ = client(opt, true, millis(opt.timeout_s));
		auto options = c10d::ProcessGroupGloo::Options::create();
		options->timeout = millis(opt.timeout_s);
		options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(
			opt.master_host == "localhost" ? "127.0.0.1" : opt.master_host));
		dp->group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(dp->store_, static_cast<int>(opt.rank),
									 static_cast<int>(opt.world_size), options);
	} catch (const std::exception &e) {
		return fmt::format("rank {} could not join a world of {} at {} within {} s: {}", opt.rank, opt.world_size,
				   where, opt.timeout_s, e.what());
	}
	DataParallel *self = dp.get();
	dp->heartbeat_ = std::thread([self] {
		try {
			auto beat = client(self->opt_, false, millis(self->opt_.timeout_s));
			while (!self->stopping_) {
				beat->add(beat_key(self->opt_.rank), 1);
				std::this_thread::sleep_for(kBeatPeriod);
			}
		} catch (const std::exception &) {
			// The store is gone (rank 0 ended or was lost): a failing
			// collective says so; nothing to do here.
		}
	});
	out = std::move(dp);
	return {};
}

DataParallel::~DataParallel()
{
	stopping_ = true;
	if (heartbeat_.joinable())
		heartbeat_.join();
}

// The ranks whose heartbeat stopped: counters read twice, a second apart.
std::string DataParallel::lost_ranks()
{
	try {
		auto probe = client(opt_, false, std::chrono::milliseconds(3000));
		std::vector<int64_t> before(opt_.world_size);
		for (uint32_t r = 0; r < opt_.world_size; r++)
			before[r] = probe->add(beat_key(r), 0);
		std::this_thread::sleep_for(4 * kBeatPeriod);
		std::vector<std::string> lost;
		for (uint32_t r = 0; r < opt_.world_size; r++)
			if (r != opt_.rank && probe->add(beat_key(r), 0) == before[r])
				lost.push_back(std::to_string(r));
		if (lost.empty())
			return "no rank stopped beating (a network fault, or a rank stuck longer than the timeout)";
		std::string names;
		for (const std::string &r : lost)
			names += (names.empty() ? "" : ", ") + r;
		return (lost.size() == 1 ? "lost rank " : "lost ranks ") + names;
	} catch (const std::exception &) {
		return fmt::format("lost rank 0 (it served the store at {}:{}, which no longer answers)", opt_.master_host,
				   opt_.master_port);
	}
}

std::string DataParallel::run(const char *what, const std::function<void()> &collective)
{
	const auto t0 = std::chrono::steady_clock::now();
	try {
		collective();
	} catch (const std::exception &e) {
		return fmt::format("rank {}: {} failed: {}: {}", opt_.rank, what, lost_ranks(), e.what());
	}
	allreduce_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
	return {};
}

std::string DataParallel::sum(std::vector<double> &values)
{
	std::vector<at::Tensor> t{torch::from_blob(values.data(), {static_cast<int64_t>(values.size())}, torch::kDouble)};
	return run("all-reduce (sum)", [&] { group_->allreduce(t)->wait(); });
}

std::string DataParallel::max(std::vector<double> &values)
{
	std::vector<at::Tensor> t{torch::from_blob(values.data(), {static_cast<int64_t>(values.size())}, torch::kDouble)};
	c10d::AllreduceOptions o;
	o.reduceOp = c10d::ReduceOp::MAX;
	return run("all-reduce (max)", [&] { group_->allreduce(t, o)->wait(); });
}

std::string DataParallel::broadcast(std::vector<torch::Tensor> &tensors)
{
	torch::NoGradGuard g;
	for (torch::Tensor &p : tensors) {
		std::vector<at::Tensor> one{p.detach()};
		if (std::string err = run("broadcast", [&] { group_->broadcast(one)->wait(); }); !err.empty())
			return err;
	}
	return {};
}

std::string DataParallel::average_gradients(const std::vector<torch::Tensor> &params, bool &stop)
{
	torch::NoGradGuard g;
	const double scale = 1.0 / static_cast<double>(opt_.world_size);
	size_t first = 0;
	while (first < params.size()) {
		// A bucket: consecutive gradients up to kBucketFloats (one at least).
		size_t last = first;
		int64_t floats = 0;
		while (last < params.size() && (last == first || floats + params[last].numel() <= kBucketFloats))
			floats += params[last++].numel();
		const bool final_bucket = last == params.size();
		std::vector<torch::Tensor> parts;
		for (size_t i = first; i < last; i++) {
			const torch::Tensor &p = params[i];
			parts.push_back(p.grad().defined() ? p.grad().reshape({-1}) : torch::zeros({p.numel()}));
		}
		if (final_bucket)
			parts.push_back(torch::full({1}, stop ? 1.0f : 0.0f));
		std::vector<at::Tensor> flat{torch::cat(parts)};
		if (std::string err = run("gradient all-reduce", [&] { group_->allreduce(flat)->wait(); }); !err.empty())
			return err;
		int64_t at = 0;
		for (size_t i = first; i < last; i++) {
			const torch::Tensor &p = params[i];
			// The same multiply a process emulating the ranks applies to its
			// summed gradients (train.cpp), so two ranks match it to the bit.
			const torch::Tensor avg = flat[0].slice(0, at, at + p.numel()).view_as(p).mul(scale);
			at += p.numel();
			if (p.grad().defined())
				p.grad().copy_(avg);
		}
		if (final_bucket)
			stop = flat[0][at].item<float>() > 0.5f;
		first = last;
	}
	return {};
}

} // namespace dualpilot::policy
