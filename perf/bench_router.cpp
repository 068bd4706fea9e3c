// bench-router: the router's forwarding rate on one core against DPDK's own
// floor, dpdk-testpmd in io-forward mode, on the same net_null vdevs (64-byte
// frames, rx allocates and tx frees, so only the per-packet software path is
// measured). One run measures, in turn:
//   testpmd io-fwd                         (a child process, one forwarding core)
//   router, aqm none                       parse + classify + forward
//   router, fifo / dualpi2, shaper off     + the AQM's enqueue and dequeue
//   router, dualpi2, shaper at half load   the queue always full, the AQM busy
// Mpps are packets forwarded per second summed over both directions; cycles
// per packet are the core's TSC cycles over those packets (the core polls
// all the time). The last line is router_vs_iofwd_ratio: dualpi2 with the
// shaper off over testpmd.
//
// usage: bench-router [--seconds S] [--core N] [--testpmd PATH]
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <unistd.h>

#include "dataplane/config.hpp"
#include "dataplane/router.hpp"
#include "router_bench.hpp"
#include "testpmd_rates.hpp"

using namespace dualpilot;
using bench::RouterRate;
using bench::measure_router;

namespace {

struct Result {
	double mpps = 0;        // forwarded
	double rx_mpps = 0;
	double cycles_per_pkt = 0;
};

// Runs testpmd for seconds+2 s and takes the median of its per-second Tx-pps
// sums (both ports) after the first two reports.
Result run_testpmd(const std::string &exe, unsigned core, double seconds, std::string &error)
{
	const std::string cmd = fmt::format(
		"timeout -s INT {} {} -l 0,{} --main-lcore 0 --no-huge -m 1024 --no-pci --vdev net_null0 --vdev net_null1 "
		"--file-prefix dp_bench_tp_{} --log-level=lib.eal:error -- --forward-mode=io --nb-cores=1 "
		"--stats-period 1 </dev/null 2>&1",
		static_cast<int>(seconds) + 5, exe, core == 0 ? 1 : core, getpid());
	const std::vector<double> sums = bench::testpmd_tx_rates(cmd, exe, 2, error);
	if (!error.empty())
		return {};
	Result r;
	r.mpps = r.rx_mpps = bench::median(sums) / 1e6;
	r.cycles_per_pkt = static_cast<double>(rte_get_tsc_hz()) / (r.mpps * 1e6);
	return r;
}

Result run_router(const std::string &aqm, uint64_t rate_bps, double seconds, std::string &error)
{
	const RouterRate r = measure_router(aqm, rate_bps ? std::to_string(rate_bps) + "bit" : "line", "", seconds, error);
	return Result{r.mpps, r.rx_mpps, r.cycles_per_pkt};
}

} // namespace

int main(int argc, char **argv)
{
	double seconds = 3;
	unsigned core = 1;
	std::string testpmd = "dpdk-testpmd";
	CLI::App app{"bench-router: dualpilot-router against dpdk-testpmd io-fwd on net_null vdevs, one core"};
	app.add_option("--seconds", seconds, "measuring time per case")->check(CLI::Range(0.5, 600.0));
	app.add_option("--core", core, "the CPU both forward on (default 1)");
	app.add_option("--testpmd", testpmd, "dpdk-testpmd to compare with");
	CLI11_PARSE(app, argc, argv);

	// This process's EAL first (its TSC rate turns testpmd's pps into
	// cycles); it stays idle while testpmd runs, then the router runs in it.
	std::string err = bench::init_eal("bench-router", core);
	if (!err.empty()) {
		fmt::print(stderr, "bench-router: {}\n", err);
		return 1;
	}
	fmt::print("bench-router: 64-byte frames on net_null vdevs, one core (CPU {}), {:g} s per case, TSC {:.0f} MHz\n",
		   core, seconds, static_cast<double>(rte_get_tsc_hz()) / 1e6);
	fmt::print("{:<34} {:>10} {:>10} {:>12}\n", "case", "fwd Mpps", "rx Mpps", "cycles/pkt");
	auto row = [](const std::string &name, const Result &r) {
		fmt::print("{:<34} {:>10.2f} {:>10.2f} {:>12.1f}\n", name, r.mpps, r.rx_mpps, r.cycles_per_pkt);
		std::fflush(stdout);
	};
	const Result tp = run_testpmd(testpmd, core, seconds, err);
	if (!err.empty()) {
		fmt::print(stderr, "bench-router: {}\n", err);
		return 1;
	}
	row("dpdk-testpmd io-fwd", tp);
	Result dualpi2;
	for (const char *aqm : {"none", "fifo", "dualpi2"}) {
		const Result r = run_router(aqm, 0, seconds, err);
		if (!err.empty()) {
			fmt::print(stderr, "bench-router: router with aqm {}: {}\n", aqm, err);
			return 1;
		}
		row(fmt::format("dualpilot-router {} shaper off", aqm), r);
		if (std::string_view(aqm) == "dualpi2")
			dualpi2 = r;
	}
	// Half the unshaped rate, in bits of 64-byte frames, on each port.
	const auto half_bps = static_cast<uint64_t>(dualpi2.mpps / 2 / 2 * 1e6 * 64 * 8);
	const Result shaped = run_router("dualpi2", half_bps, seconds, err);
	if (!err.empty()) {
		fmt::print(stderr, "bench-router: shaped run: {}\n", err);
		return 1;
	}
	row(fmt::format("dualpilot-router dualpi2 shaped {:.0f} Mbit/s", half_bps / 1e6), shaped);
	rte_eal_cleanup();
	fmt::print("router_vs_iofwd_ratio: {:.3f}\n", dualpi2.mpps / tp.mpps);
	return 0;
}
