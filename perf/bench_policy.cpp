// bench-policy: the policy path's costs.
//  1. The cpu backend's decision latency: the default-size student and the
//     default teacher, windows of 10 and 20 steps, batches of 1, 16 and 256
//     queues, fp32 and int8 weights: microseconds per forward pass and per
//     queue decision; and fp32 with each step's work cached on arrival (the
//     policy worker's way: one new step cached per decision, its keys and
//     values for the student, its tokens for the teacher), which is the
//     student_us_per_queue_batch256 figure.
//  2. The router's forwarding rate (net_null, one worker core, dualpi2, shaper
//     off) with sampling every 1, 10 and 100 packets against sampling off,
//     in the same run, the policy worker (shadow mode, the student) draining
//     the ring on another thread as it would on its service lcore.
// Last line: sampling10_vs_off_ratio.
//
// usage: bench-policy [--seconds S] [--core N] [--policy-core N]
#include <rte_eal.h>
#include <rte_errno.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <fmt/core.h>
#include <unistd.h>

#include "aqm/random.hpp"
#include "dataplane/policy_worker.hpp"
#include "policy/cpu_backend.hpp"
#include "policy/forward_cpu.hpp"
#include "policy/model_file.hpp"
#include "policy/tune_loop.hpp"
#include "model_shapes.hpp"
#include "policy_beside.hpp"
#include "router_bench.hpp"
#include "experience/pool.hpp"

using namespace dualpilot;

namespace {

using bench::student;
using bench::teacher;

// Median microseconds per forward pass of `batch` full windows. cached: the
// steps come cached (as the policy worker keeps them) and each pass caches
// one new step per window, which is the work of one decision round.
double pass_us(policy::CpuForward &fwd, uint32_t batch, double seconds, bool cached = false)
{
	const policy::ModelConfig &c = fwd.config();
	aqm::Rng rng(7);
	std::vector<float> returns(size_t{batch} * c.window), states(size_t{batch} * c.window * c.feature_count);
	std::vector<uint8_t> actions(size_t{batch} * c.window);
	for (float &v : returns)
		v = static_cast<float>(rng.next_double() * 100);
	for (float &v : states)
		v = static_cast<float>(rng.next_double());
	for (uint8_t &a : actions)
		a = static_cast<uint8_t>(rng.next_u32() % 3);
	std::vector<policy::Window> w(batch);
	const uint32_t cf = fwd.cache_floats(); // per queue
	std::vector<float> cache(cached ? size_t{batch} * cf : 0);
	for (uint32_t i = 0; i < batch; i++) {
		w[i] = policy::Window{c.window, &returns[size_t{i} * c.window], &states[size_t{i} * c.window * c.feature_count],
				      &actions[size_t{i} * c.window], 0, nullptr};
		if (cached) {
			for (uint32_t t = 0; t < c.window; t++)
				fwd.cache_step(returns[size_t{i} * c.window + t], &states[(size_t{i} * c.window + t) * c.feature_count],
					       actions[size_t{i} * c.window + t], t, &cache[size_t{i} * cf]);
			w[i].cache = &cache[size_t{i} * cf];
		}
	}
	std::vector<policy::Probs> out(batch);
	std::vector<double> times;
	const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
	fwd.forward(w.data(), batch, out.data()); // warm: scratch sized
	while (std::chrono::steady_clock::now() < deadline || times.size() < 5) {
		const auto t0 = std::chrono::steady_clock::now();
		if (cached) // each window's newest step arrives and is cached once
			for (uint32_t i = 0; i < batch; i++) {
				const size_t newest = size_t{i} * c.window + c.window - 1;
				fwd.cache_step(returns[newest], &states[newest * c.feature_count], actions[newest], c.window - 1,
					       &cache[size_t{i} * cf]);
			}
		fwd.forward(w.data(), batch, out.data());
		times.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
	}
	std::nth_element(times.begin(), times.begin() + static_cast<long>(times.size() / 2), times.end());
	return times[times.size() / 2];
}

// The cpu backend's rows: each model and window at batch 1, 16 and 256,
// fp32, int8 and fp32 with the step cache. Returns the student's cached
// us a queue at window 10, batch 256 (the goal line).
double cpu_rows(double seconds)
{
	fmt::print("bench-policy: cpu backend, one thread (the policy worker's)\n");
	fmt::print("{:<26} {:>6} {:>6} {:>13} {:>10} {:>13} {:>10} {:>15}\n", "model", "window", "batch", "fp32 us/pass",
		   "us/queue", "int8 us/pass", "us/queue", "cached us/queue");
	double student_256_us = 0;
	for (const bool is_student : {true, false}) {
		for (const uint32_t window : {10u, 20u}) {
			const policy::ModelConfig c = is_student ? student(window) : teacher(window);
			policy::Model m = policy::random_model(c, 1);
			policy::Model q = m;
			policy::quantize_int8(q);
			policy::CpuForward f32(m), i8(q);
			for (const uint32_t batch : {1u, 16u, 256u}) {
				const double a = pass_us(f32, batch, seconds / 9), b = pass_us(i8, batch, seconds / 9);
				const double k = pass_us(f32, batch, seconds / 9, true);
				fmt::print("{:<26} {:>6} {:>6} {:>13.1f} {:>10.3f} {:>13.1f} {:>10.3f} {:>15.3f}\n",
					   fmt::format("{} ({} params)", is_student ? "student" : "teacher", m.parameter_count()),
					   window, batch, a, a / batch, b, b / batch, k / batch);
				std::fflush(stdout);
				if (is_student && window == 10 && batch == 256)
					student_256_us = k / batch;
			}
		}
	}
	return student_256_us;
}

// Counts what a tuner publishes (the router's setting records or the
// simulator's delay line would take it).
class CountingSink final : public policy::TuneSink {
public:
	uint64_t published = 0;
	void publish_setting(uint32_t, uint32_t, uint64_t, uint64_t) override { published++; }
	void withdraw_setting(uint32_t, uint64_t) override {}
};

// One port's 10 ms step of a busy, mixed queue (the figures vary a little
// from step to step, so that the features are not constant).
experience::TuneStep busy_step(uint64_t end_ns, aqm::Rng &rng)
{
	experience::TuneStep s;
	s.end_ns = end_ns;
	s.len_ns = 10000000;
	s.rate_bps = 100000000;
	s.sent_bytes = 120000 + rng.next_u32() % 5000;
	s.arrived_bytes = s.sent_bytes + rng.next_u32() % 3000;
	s.forwarded = {40 + rng.next_u32() % 5, 40 + rng.next_u32() % 5};
	s.marked = {0, 4 + rng.next_u32() % 4};
	s.dropped = {rng.next_u32() % 2, 0};
	s.sojourn_max_ns = {8000000, 900000};
	s.sojourn[0][20] = s.forwarded[0];
	s.sojourn[1][12] = s.forwarded[1];
	s.prob_q32 = 1u << 28;
	return s;
}

// The tuner's decision (issue 27): a port's interval closing to its
// published setting (the features, the context window, one forward pass on
// the cpu backend, the choice, the record), as the loop itself times it
// (TuneStats::decision_ns), one port, for models from the trained size up.
// Returns the trained size's median, us.
double tuner_rows(double seconds)
{
	struct Size {
		uint32_t d, layers, heads, window;
		bool ring; // ring-slot time embedding: one layer caches its keys and values
	};
	// The first is docs/training.md's tuner recipe.
	const Size sizes[] = {{64, 1, 4, 10, true},   {64, 2, 4, 10, false},  {128, 4, 4, 10, false},
			      {256, 6, 8, 20, false}, {512, 8, 8, 20, false}};
	fmt::print("\nbench-policy: the tuner's decision per port per interval, cpu backend, one thread\n");
	fmt::print("{:<34} {:>8} {:>12} {:>12} {:>26}\n", "model", "window", "p50 us", "p99 us",
		   "ports per 100 ms interval");
	double trained_us = 0;
	for (const Size &z : sizes) {
		policy::ModelConfig c = bench::tuner(z.d, z.layers, z.heads, z.window);
		if (z.ring)
			c.time_embedding = policy::TimeEmbedding::ring_position;
		policy::Model m = policy::random_model(c, 1);
		aqm::DualPi2Params base;
		(void)aqm::dualpi2_finalize(base);
		policy::TuneLoop loop;
		policy::TuneLoopConfig lc;
		if (std::string err = loop.init(lc, {{base, 50000000}}, std::make_unique<policy::CpuBackend>(m)); !err.empty()) {
			fmt::print("{}: {}\n", z.d, err);
			continue;
		}
		CountingSink sink;
		aqm::Rng rng(3);
		uint64_t now = 0;
		const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds / 4);
		while (std::chrono::steady_clock::now() < deadline || loop.stats().decisions < 20)
			loop.observe(0, busy_step(now += 10000000, rng), &sink);
		const double p50 = loop.stats().decision_ns.percentile_ns(0.5) / 1e3;
		const double p99 = loop.stats().decision_ns.percentile_ns(0.99) / 1e3;
		fmt::print("{:<34} {:>8} {:>12.1f} {:>12.1f} {:>26.0f}\n",
			   fmt::format("d {} x {}{} ({} params)", z.d, z.layers, z.ring ? ", ring" : "", m.parameter_count()),
			   z.window, p50, p99,
			   1e5 / p99);
		std::fflush(stdout);
		if (&z == &sizes[0])
			trained_us = p50;
	}
	return trained_us;
}

// The router's rows: sampling off, then every 100, 10 and 1 packets with
// the policy worker in shadow on policy_core. Error text or empty; off and
// every10: the rates the goal line compares.
std::string router_rows(double seconds, unsigned core, unsigned policy_core, double &off, double &every10)
{
	fmt::print("\nrouter, net_null, 64-byte frames, dualpi2 shaper off, worker on CPU {}, policy worker (shadow, "
		   "student, window 10) on CPU {}\n",
		   core, policy_core);
	fmt::print("{:<22} {:>10} {:>12} {:>10} {:>14}\n", "sampling", "fwd Mpps", "cycles/pkt", "vs off", "samples lost");
	for (const uint32_t interval : {0u, 100u, 10u, 1u}) {
		std::string err;
		bench::PolicyBeside policy;
		policy.cpu = policy_core;
		uint64_t lost = 0;
		const std::string extra =
			interval == 0 ? ""
				      : fmt::format("[policy]\nmode = \"shadow\"\nmodel = \"in-memory\"\ninference_interval = {}\n",
						    interval);
		const bench::RouterRate r = bench::measure_router(
			"dualpi2", "line", extra, seconds, err,
			[&](dataplane::Router &router) {
				if (interval != 0)
					policy.start(router);
			},
			[&](dataplane::Router &) {
				if (interval == 0)
					return;
				policy.join();
				lost = policy.policy.stats().sample_drops;
			});
		if (!err.empty())
			return err;
		if (interval == 0)
			off = r.mpps;
		if (interval == 10)
			every10 = r.mpps;
		fmt::print("{:<22} {:>10.2f} {:>12.1f} {:>10.3f} {:>14}\n",
			   interval ? fmt::format("every {} packets", interval) : "off", r.mpps, r.cycles_per_pkt,
			   r.mpps / off, lost);
		std::fflush(stdout);
	}
	return {};
}

} // namespace

int main(int argc, char **argv)
{
	double seconds = 2;
	unsigned core = 1, policy_core = 0;
	CLI::App app{"bench-policy: cpu decision latency, and the router's rate with sampling on and off"};
	app.add_option("--seconds", seconds, "measuring time per case")->check(CLI::Range(0.2, 600.0));
	app.add_option("--core", core, "the CPU the router's worker polls on");
	app.add_option("--policy-core", policy_core, "the CPU of the policy worker thread");
	CLI11_PARSE(app, argc, argv);
	const double student_256_us = cpu_rows(seconds);
	const double tuner_us = tuner_rows(seconds);
	if (std::string err = bench::init_eal("bench-policy", core); !err.empty()) {
		fmt::print(stderr, "bench-policy: {}\n", err);
		return 1;
	}
	double off = 0, every10 = 0;
	if (std::string err = router_rows(seconds, core, policy_core, off, every10); !err.empty()) {
		fmt::print(stderr, "bench-policy: {}\n", err);
		return 1;
	}
	rte_eal_cleanup();
	fmt::print("student_us_per_queue_batch256: {:.3f}\n", student_256_us);
	fmt::print("tuner_cpu_decision_us_p50: {:.1f}\n", tuner_us);
	fmt::print("sampling10_vs_off_ratio: {:.3f}\n", every10 / off);
	return 0;
}
