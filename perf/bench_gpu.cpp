// bench-gpu: the CUDA engine's step (the pass block in from pinned memory,
// the forward, the probabilities back, waited for) for batches of 1, 32,
// 256 and 1024 queues and windows of 10 and 20 steps, graph replay against
// eager launches of the same kernels. Steady state: every queue's window is
// full and one step arrived since its previous pass (what the router's
// policy worker sends at one sample per queue per pass). Also decisions per
// second with two passes in flight, as the worker runs them.
//
// Model: the default student's shape (policy/training: d_model 16, one
// block, 2 heads, MLP 32, slot time embedding) with random weights,
// --shape teacher (d_model 64, two blocks, 4 heads, MLP 256), or --model
// FILE (its own window then). First line: the GPU, the driver's and
// the runtime's CUDA versions (--device-info: that line alone). Exits 77
// where no GPU can be used. Every batch is one of the engine's buckets: a
// pass of that many rows, not one padded up. Last line:
// gpu_p99_us_b256_w20 (graph replay).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "gpu/engine.hpp"
#include "model_shapes.hpp"
#include "policy/model_file.hpp"

namespace {

using namespace dualpilot;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kBatches[] = {1, 32, 256, 1024};

// Full windows of `batch` queues whose newest step is the only fresh one.
struct Batch {
	std::vector<float> returns, states;
	std::vector<uint8_t> actions;
	std::vector<policy::Window> windows;
	Batch(const policy::ModelConfig &c, uint32_t batch)
		: returns(size_t{batch} * c.window, 1.0f), states(size_t{batch} * c.window * c.feature_count, 0.5f),
		  actions(size_t{batch} * c.window, 0)
	{
		for (uint32_t i = 0; i < batch; i++)
			windows.push_back(policy::Window{c.window, &returns[size_t{i} * c.window],
							 &states[size_t{i} * c.window * c.feature_count],
							 &actions[size_t{i} * c.window], 0, nullptr, i, c.window});
	}
	void advance(uint32_t window) // the windows slide on by a step
	{
		for (policy::Window &w : windows) {
			w.first_slot = (w.first_slot + 1) % window;
			w.fresh = 1;
		}
	}
};

double percentile_us(std::vector<double> v, double q)
{
	std::sort(v.begin(), v.end());
	return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(q * double(v.size())))];
}

struct Figures {
	double p50_us = 0, p99_us = 0, pipelined_decisions_per_s = 0;
};

Figures measure(gpu::Engine &engine, Batch &batch, uint32_t n, bool graphs, int iterations)
{
	engine.set_graphs(graphs);
	std::vector<policy::Probs> out(n);
	std::vector<double> step_us;
	for (int i = 0; i < iterations + iterations / 10; i++) { // the first tenth warms up
		batch.advance(engine.config().window);
		const auto t0 = Clock::now();
		if (!engine.forward(batch.windows.data(), n, out.data()))
			return {};
		if (i >= iterations / 10)
			step_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
	}
	Figures f;
	f.p50_us = percentile_us(step_us, 0.5);
	f.p99_us = percentile_us(step_us, 0.99);
	// Two in flight: submit the next before collecting the previous.
	const auto t0 = Clock::now();
	batch.advance(engine.config().window);
	if (!engine.submit(batch.windows.data(), n))
		return {};
	for (int i = 1; i < iterations; i++) {
		batch.advance(engine.config().window);
		if (!engine.submit(batch.windows.data(), n) || !engine.collect(out.data()))
			return {};
	}
	if (!engine.collect(out.data()))
		return {};
	f.pipelined_decisions_per_s = double(n) * iterations / std::chrono::duration<double>(Clock::now() - t0).count();
	return f;
}

// The command line's choices.
struct Options {
	int iterations = 2000;
	std::string precision = "tf32", model_path, shape = "student";
	int device = 0;
	bool device_info = false;
	gpu::Precision prec{};
};

// What the goal line reads: the window 20, batch 256 rows.
struct Goal {
	double graph_p99_b256_w20 = 0, eager_p99_b256_w20 = 0;
	std::string graph_mode;
};

// One window's rows: an engine for the model (the file's, else a random one
// of the shape), every batch with graphs and with eager launches. 0, or 1
// after printing the error.
int measure_window(const Options &o, const policy::Model &file_model, uint32_t window, Goal &goal)
{
	const policy::ModelConfig c = o.shape == "teacher" ? bench::teacher(window) : bench::student(window);
	const policy::Model m = o.model_path.empty() ? policy::random_model(c, 1) : file_model;
	gpu::EngineOptions opt;
	opt.device = o.device;
	opt.precision = o.prec;
	opt.max_batch = 1024;
	opt.queues = 1024;
	std::string err;
	auto engine = gpu::Engine::create(m, opt, err);
	if (!engine) {
		fmt::print(stderr, "error: {}\n", err);
		return 1;
	}
	const std::vector<uint32_t> buckets = engine->buckets();
	for (uint32_t n : kBatches)
		if (std::find(buckets.begin(), buckets.end(), n) == buckets.end()) {
			fmt::print(stderr, "error: batch {} is not one of the engine's buckets\n", n);
			return 1;
		}
	goal.graph_mode = engine->graph_mode();
	Batch batch(m.config, 1024);
	std::vector<policy::Probs> out(1024);
	if (!engine->forward(batch.windows.data(), 1024, out.data())) { // every ring filled once
		fmt::print(stderr, "error: {}\n", engine->error());
		return 1;
	}
	for (uint32_t n : kBatches)
		for (bool graphs : {true, false}) {
			const Figures f = measure(*engine, batch, n, graphs, o.iterations);
			if (!engine->error().empty()) {
				fmt::print(stderr, "error: {}\n", engine->error());
				return 1;
			}
			fmt::print("{:>6} {:>6} {:>7} {:>10.1f} {:>10.1f} {:>16.0f}\n", n, window, graphs ? "graph" : "eager",
				   f.p50_us, f.p99_us, f.pipelined_decisions_per_s);
			if (n == 256 && window == 20)
				(graphs ? goal.graph_p99_b256_w20 : goal.eager_p99_b256_w20) = f.p99_us;
		}
	return 0;
}

} // namespace

int main(int argc, char **argv)
{
	CLI::App app{"bench-gpu: the CUDA engine's step latency and decision rate"};
	Options o;
	app.add_option("--iterations", o.iterations, "steps measured per case")->check(CLI::Range(10, 1000000));
	app.add_option("--precision", o.precision, "fp32 | tf32 | bf16");
	app.add_option("--shape", o.shape, "student | teacher: the random model's shape")
		->check(CLI::IsMember({"student", "teacher"}));
	app.add_option("--model", o.model_path, "a .dpm model instead of a random one");
	app.add_option("--device", o.device, "GPU index");
	app.add_flag("--device-info", o.device_info, "print the GPU, driver and runtime versions, and stop");
	CLI11_PARSE(app, argc, argv);
	if (!gpu::parse_precision(o.precision, o.prec)) {
		fmt::print(stderr, "error: --precision: unknown '{}' (known: fp32 tf32 bf16)\n", o.precision);
		return 2;
	}
	fmt::print("{}\n", gpu::device_summary(o.device));
	if (o.device_info)
		return 0;
	std::string why;
	if (!gpu::gpu_present(o.device, why)) {
		fmt::print("bench-gpu: skipped: {}\n", why);
		return 77;
	}
	policy::Model file_model;
	if (!o.model_path.empty())
		if (std::string err = policy::read_model(o.model_path, file_model); !err.empty()) {
			fmt::print(stderr, "error: {}\n", err);
			return 1;
		}
	fmt::print("{:>6} {:>6} {:>7} {:>10} {:>10} {:>16}\n", "batch", "window", "launch", "p50_us", "p99_us",
		   "decisions/s (2 in flight)");
	Goal goal;
	for (uint32_t window : {10u, 20u}) {
		if (!o.model_path.empty() && window != file_model.config.window)
			continue;
		if (const int rc = measure_window(o, file_model, window, goal); rc != 0)
			return rc;
	}
	fmt::print("graphs: {}\n", goal.graph_mode);
	if (goal.graph_p99_b256_w20 > 0)
		fmt::print("graph replay vs eager launch at batch 256, window 20: {:.1f}x faster (p99)\n",
			   goal.eager_p99_b256_w20 / goal.graph_p99_b256_w20);
	fmt::print("gpu_p99_us_b256_w20: {:.1f}\n", goal.graph_p99_b256_w20);
	return 0;
}
