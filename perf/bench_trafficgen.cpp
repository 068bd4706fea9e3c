// bench-trafficgen: dualpilot-trafficgen's generator against DPDK's own,
// dpdk-testpmd --forward-mode=txonly, on a net_null vdev, one core each, in
// one run. Both send 64-byte IPv4/UDP frames in bursts of 32 as fast as the
// core allows (net_null frees what it is given, so only the software path is
// measured: mbuf allocation, header writing, the tx call). The generator also
// writes its 16-byte stamp (flow, sequence number, send time) into every
// frame and keeps per-flow, per-codepoint counts. Figures are the median of
// per-second rates after a second of warm-up.
//
// usage: bench-trafficgen [--seconds S] [--core N] [--testpmd PATH]
// Last line: trafficgen_vs_testpmd_ratio: X (goal >= 0.9).
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <cstdio>
#include <unistd.h>
#include <vector>

#include "common/eal_args.hpp"
#include "perf/trafficgen/generator.hpp"
#include "perf/trafficgen/port.hpp"
#include "perf/testpmd_rates.hpp"

using namespace dualpilot;
using namespace dualpilot::trafficgen;

namespace {

// testpmd txonly on its own net_null for seconds+2 s: the median of its
// per-second Tx-pps after the first two reports.
double run_testpmd(const std::string &exe, unsigned core, double seconds, std::string &error)
{
	const std::string cmd = fmt::format(
		"timeout -s INT {} {} -l 0,{} --main-lcore 0 --no-huge -m 1024 --no-pci --vdev net_null0 "
		"{} --log-level=lib.eal:error -- --forward-mode=txonly --nb-cores=1 "
		"--port-topology=chained --txpkts=64 --burst=32 --stats-period 1 </dev/null 2>&1",
		static_cast<int>(seconds) + 3, exe, core == 0 ? 1 : core,
		dualpilot::common::eal_private_files_arg(fmt::format("dp_bench_tg_tp_{}", getpid())));
	const std::vector<double> rates = bench::testpmd_tx_rates(cmd, exe, 1, error);
	return error.empty() ? bench::median(rates) / 1e6 : 0;
}

// The generator on net_null0, one flow as fast as possible: median Mpps of
// one-second windows after a second of warm-up.
double run_generator(uint16_t port, rte_mempool *pool, double seconds, uint64_t &cycles_per_pkt, std::string &error)
{
	TrafficSpec spec;
	if (std::string err = parse_flow_shorthand("size=64,rate=max", spec); !err.empty()) {
		error = err;
		return 0;
	}
	spec.duration_ns = static_cast<uint64_t>((seconds + 1.5) * 1e9);
	const Clock clock = Clock::anchored();
	Generator gen;
	if (std::string err = gen.init(spec, port, 0, pool, clock); !err.empty()) {
		error = err;
		return 0;
	}
	const uint64_t second = rte_get_tsc_hz();
	uint64_t start = rte_rdtsc();
	gen.start(start);
	uint64_t window_end = start + second, window_pkts = 0;
	std::vector<double> rates;
	for (;;) {
		const uint64_t now = rte_rdtsc();
		if (now >= window_end) {
			rates.push_back(static_cast<double>(gen.counters().pkts - window_pkts));
			window_pkts = gen.counters().pkts;
			window_end += second;
			if (gen.finished(now))
				break;
		}
		gen.poll(now);
	}
	gen.stop();
	if (rates.size() < 2) {
		error = "the generator ran less than two seconds";
		return 0;
	}
	rates.erase(rates.begin());
	const double mpps = bench::median(rates) / 1e6;
	cycles_per_pkt = static_cast<uint64_t>(static_cast<double>(second) / (mpps * 1e6));
	return mpps;
}

} // namespace

int main(int argc, char **argv)
{
	double seconds = 5;
	unsigned core = 1;
	std::string testpmd = "dpdk-testpmd";
	CLI::App app{"bench-trafficgen: the generator against dpdk-testpmd txonly on net_null, one core"};
	app.add_option("--seconds", seconds, "measuring time per case")->check(CLI::Range(2.0, 600.0));
	app.add_option("--core", core, "the CPU both send on (default 1)");
	app.add_option("--testpmd", testpmd, "dpdk-testpmd to compare with");
	CLI11_PARSE(app, argc, argv);

	const std::string core_arg = std::to_string(core);
	const std::string prefix = dualpilot::common::eal_private_files_arg(fmt::format("dp_bench_tg_{}", getpid()));
	const char *eal[] = {"bench-trafficgen", "-l", core_arg.c_str(), "--no-huge", "-m", "1024", "--no-pci",
			     "--vdev", "net_null0", "--log-level=lib.eal:error", "--no-telemetry", prefix.c_str()};
	if (rte_eal_init(static_cast<int>(std::size(eal)), const_cast<char **>(eal)) < 0) {
		fmt::print(stderr, "bench-trafficgen: EAL initialisation failed ({})\n", rte_strerror(rte_errno));
		return 1;
	}
	fmt::print("bench-trafficgen: 64-byte frames, bursts of 32, on net_null, one core (CPU {}), {:g} s per case, "
		   "TSC {:.0f} MHz\n",
		   core, seconds, static_cast<double>(rte_get_tsc_hz()) / 1e6);
	std::string err;
	const double tp = run_testpmd(testpmd, core, seconds, err);
	if (!err.empty()) {
		fmt::print(stderr, "bench-trafficgen: {}\n", err);
		return 1;
	}
	uint16_t port = 0;
	rte_mempool *pool = rte_pktmbuf_pool_create("bench_tg", 16384, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
						    static_cast<int>(rte_socket_id()));
	if (!pool || !(err = find_port("net_null0", port)).empty() || !(err = start_port(port, nullptr, 1000)).empty()) {
		fmt::print(stderr, "bench-trafficgen: {}\n", err.empty() ? "mbuf pool: " + std::string(rte_strerror(rte_errno)) : err);
		return 1;
	}
	uint64_t cycles = 0;
	const double tg = run_generator(port, pool, seconds, cycles, err);
	if (!err.empty()) {
		fmt::print(stderr, "bench-trafficgen: {}\n", err);
		return 1;
	}
	const auto tp_cycles = static_cast<uint64_t>(static_cast<double>(rte_get_tsc_hz()) / (tp * 1e6));
	fmt::print("{:<32} {:>10} {:>12}\n", "generator", "Mpps", "cycles/pkt");
	fmt::print("{:<32} {:>10.2f} {:>12}\n", "dpdk-testpmd txonly", tp, tp_cycles);
	fmt::print("{:<32} {:>10.2f} {:>12}\n", "dualpilot-trafficgen", tg, cycles);
	rte_eth_dev_stop(port);
	rte_eth_dev_close(port);
	rte_eal_cleanup();
	fmt::print("trafficgen_vs_testpmd_ratio: {:.3f}\n", tg / tp);
	return 0;
}
