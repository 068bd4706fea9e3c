// bench-router: the router's forwarding rate against DPDK's own floor and
// DPDK's own QoS framework, on the same net_null vdevs (64-byte IPv4/UDP
// frames, half ECT(1) and half Not-ECT; rx allocates and tx frees, so only
// the per-packet software path is measured). One run measures, in turn:
//   testpmd io-fwd                       a child process, one forwarding core
//   router, aqm none / fifo / dualpi2    shaper off: parse, classify, AQM, tx
//   router, dualpi2, standing queue      both ports shaped at half the
//                                        unshaped load, limit = "auto": the
//                                        queue stands at DualPI2's target
//   rte_sched + PIE, standing queue      one subport, one pipe, one traffic
//                                        class, PIE congestion management, the
//                                        same shaped rate
//   router, dualpi2, one / two workers   two ports, each worker on its own
//                                        core, the main lcore asleep
// Mpps are packets per second over both directions; cycles per packet are
// the polling cores' TSC cycles per packet received (each is forwarded or
// dropped: the work is per packet received) and, for the shaped rows, per
// packet forwarded too. The figures end with the four ratios; the last line
// is router_vs_iofwd_ratio.
//
// usage: bench-router [--seconds S] [--core N] [--testpmd PATH] [--huge] [--only CASE] [--standing-target T]
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_sched.h>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <unistd.h>

#include "common/eal_args.hpp"
#include "dataplane/config.hpp"
#include "dataplane/router.hpp"
#include "router_bench.hpp"
#include "testpmd_rates.hpp"

using namespace dualpilot;
using bench::RouterCase;
using bench::RouterRate;

namespace {

// The standing-queue rows: the queues' memory (limit = "auto" within it: 3 GB
// holds the 4 targets "auto" asks for at up to ~12 Mpps a port, where 1 GB
// cut the limit to 1.4 targets and the queue overflowed while PI2 settled)
// and the warm-up in which the queues fill and DualPI2's PI settles. The EAL
// gets kEalMemoryMb: the pool for those queues and the rest.
constexpr const char *kStandingQueueMemory = "3gb";
constexpr unsigned kEalMemoryMb = 4096;
constexpr double kStandingWarmupS = 1.5;
// rte_sched's queues hold at most 32768 packets (a power of two in a u16);
// PIE's target is set so that its standing queue fits in them.
constexpr uint16_t kSchedQueue = 32768;
constexpr uint16_t kSchedPieTargetMs = 2;

// Runs testpmd for seconds+2 s and takes the median of its per-second Tx-pps
// sums (both ports) after the first two reports.
RouterRate run_testpmd(const std::string &exe, unsigned core, double seconds, bool huge, std::string &error)
{
	const std::string cmd = fmt::format(
		"timeout -s INT {} {} -l 0,{} --main-lcore 0 {} --no-pci --vdev net_null0 --vdev net_null1 "
		"{} --log-level=lib.eal:error -- --forward-mode=io --nb-cores=1 "
		"--stats-period 1 </dev/null 2>&1",
		static_cast<int>(seconds) + 5, exe, core == 0 ? 1 : core, huge ? "" : "--no-huge -m 1024",
		common::eal_private_files_arg(fmt::format("dp_bench_tp_{}", getpid())));
	const std::vector<double> sums = bench::testpmd_tx_rates(cmd, exe, 2, error);
	if (!error.empty())
		return {};
	RouterRate r;
	r.mpps = r.rx_mpps = bench::median(sums) / 1e6;
	r.cycles_per_pkt = r.cycles_per_rx = static_cast<double>(rte_get_tsc_hz()) / (r.mpps * 1e6);
	return r;
}

// rte_sched on one egress port: one subport, one pipe, traffic class 0 (one
// queue), PIE, shaped to rate_bps with no framing overhead (a vdev, as the
// router's default there). Null with the reason in error.
rte_sched_port *make_sched(const std::string &name, uint64_t rate_bps, std::string &error)
{
	const uint64_t bytes_per_s = rate_bps / 8;
	rte_sched_subport_profile_params subport_profile{};
	subport_profile.tb_rate = bytes_per_s;
	subport_profile.tb_size = 1000000;
	std::fill(std::begin(subport_profile.tc_rate), std::end(subport_profile.tc_rate), bytes_per_s);
	subport_profile.tc_period = 10;
	rte_sched_port_params port{};
	port.name = name.c_str();
	port.socket = static_cast<int>(rte_socket_id());
	port.rate = bytes_per_s;
	port.mtu = 1514;
	port.frame_overhead = 0;
	port.n_subports_per_port = 1;
	port.subport_profiles = &subport_profile;
	port.n_subport_profiles = 1;
	port.n_max_subport_profiles = 1;
	port.n_pipes_per_subport = 1;
	rte_sched_port *sched = rte_sched_port_config(&port);
	if (!sched) {
		error = "rte_sched_port_config failed";
		return nullptr;
	}
	rte_sched_pipe_params pipe{};
	pipe.tb_rate = bytes_per_s;
	pipe.tb_size = 1000000;
	std::fill(std::begin(pipe.tc_rate), std::end(pipe.tc_rate), bytes_per_s);
	pipe.tc_period = 10;
	pipe.tc_ov_weight = 1;
	std::fill(std::begin(pipe.wrr_weights), std::end(pipe.wrr_weights), 1);
	rte_sched_cman_params cman{};
	cman.cman_mode = RTE_SCHED_CMAN_PIE;
	for (rte_pie_params &pie : cman.pie_params)
		pie = rte_pie_params{kSchedPieTargetMs, 15, 150, kSchedQueue};
	rte_sched_subport_params subport{};
	subport.n_pipes_per_subport_enabled = 1;
	std::fill(std::begin(subport.qsize), std::end(subport.qsize), kSchedQueue);
	subport.pipe_profiles = &pipe;
	subport.n_pipe_profiles = 1;
	subport.n_max_pipe_profiles = 1;
	subport.cman_params = &cman;
	int rc = rte_sched_subport_config(sched, 0, &subport, 0);
	if (rc == 0)
		rc = rte_sched_pipe_config(sched, 0, 0, 0);
	if (rc != 0) {
		error = fmt::format("rte_sched subport/pipe config: {}", rc);
		rte_sched_port_free(sched);
		return nullptr;
	}
	return sched;
}

std::string start_null_port(const std::string &name, rte_mempool *pool, uint16_t &port_id)
{
	if (rte_dev_probe(name.c_str()) != 0 || rte_eth_dev_get_port_by_name(name.c_str(), &port_id) != 0)
		return "cannot probe " + name;
	rte_eth_conf conf{};
	if (rte_eth_dev_configure(port_id, 1, 1, &conf) != 0 ||
	    rte_eth_rx_queue_setup(port_id, 0, 1024, static_cast<int>(rte_socket_id()), nullptr, pool) != 0 ||
	    rte_eth_tx_queue_setup(port_id, 0, 1024, static_cast<int>(rte_socket_id()), nullptr) != 0 ||
	    rte_eth_dev_start(port_id) != 0)
		return "cannot start " + name;
	return {};
}

// The l2 pair of the router's rows through rte_sched instead: rx a burst,
// classify it into the one queue, enqueue, dequeue a burst, tx, on this lcore.
RouterRate run_rte_sched(uint64_t rate_bps, double seconds, std::string &error)
{
	RouterRate r;
	static int n = 0;
	const int id = 900 + 2 * n++;
	rte_mempool *pool = rte_pktmbuf_pool_create(fmt::format("sched_pool_{}", id).c_str(), 2 * kSchedQueue + 8192, 256,
						    0, RTE_MBUF_DEFAULT_BUF_SIZE, static_cast<int>(rte_socket_id()));
	if (!pool) {
		error = "cannot create the rte_sched row's pool";
		return r;
	}
	rte_mempool_obj_iter(pool, bench::fill_frame, nullptr);
	uint16_t port[2];
	rte_sched_port *sched[2] = {nullptr, nullptr};
	for (int i = 0; i < 2 && error.empty(); i++) {
		error = start_null_port(fmt::format("net_null{}", id + i), pool, port[i]);
		if (error.empty())
			sched[i] = make_sched(fmt::format("sched_{}", id + i), rate_bps, error);
	}
	if (!error.empty())
		return r;
	uint64_t rx = 0, tx = 0;
	auto poll = [&](bool count) {
		for (int in = 0; in < 2; in++) {
			const int out = 1 - in;
			rte_mbuf *pkts[32];
			const uint16_t got = rte_eth_rx_burst(port[in], 0, pkts, 32);
			for (uint16_t i = 0; i < got; i++)
				rte_sched_port_pkt_write(sched[out], pkts[i], 0, 0, 0, 0, RTE_COLOR_GREEN);
			if (got > 0)
				rte_sched_port_enqueue(sched[out], pkts, got); // drops are freed inside
			const int deq = rte_sched_port_dequeue(sched[out], pkts, 32);
			const uint16_t sent = rte_eth_tx_burst(port[out], 0, pkts, static_cast<uint16_t>(deq));
			if (sent < deq)
				rte_pktmbuf_free_bulk(pkts + sent, static_cast<unsigned>(deq - sent));
			if (count) {
				rx += got;
				tx += sent;
			}
		}
	};
	const uint64_t hz = rte_get_tsc_hz();
	uint64_t end = rte_rdtsc() + static_cast<uint64_t>(kStandingWarmupS * static_cast<double>(hz));
	while (rte_rdtsc() < end)
		poll(false);
	const uint64_t start = rte_rdtsc();
	end = start + static_cast<uint64_t>(seconds * static_cast<double>(hz));
	uint64_t now = start;
	while (now < end) {
		poll(true);
		now = rte_rdtsc();
	}
	const double secs = static_cast<double>(now - start) / static_cast<double>(hz);
	r.mpps = static_cast<double>(tx) / secs / 1e6;
	r.rx_mpps = static_cast<double>(rx) / secs / 1e6;
	r.cycles_per_pkt = static_cast<double>(now - start) / static_cast<double>(tx);
	r.cycles_per_rx = static_cast<double>(now - start) / static_cast<double>(rx);
	rte_sched_subport_stats st{};
	uint32_t tc_ov = 0;
	uint64_t cman = 0, dropped = 0;
	for (rte_sched_port *s : sched) {
		if (rte_sched_subport_read_stats(s, 0, &st, &tc_ov) == 0)
			for (int tc = 0; tc < RTE_SCHED_TRAFFIC_CLASSES_PER_PIPE; tc++) {
				cman += st.n_pkts_cman_dropped[tc];
				dropped += st.n_pkts_tc_dropped[tc];
			}
	}
	r.aqm_drop_share = dropped ? static_cast<double>(cman) / static_cast<double>(dropped) : 0; // PIE's share of drops
	for (int i = 0; i < 2; i++) {
		rte_eth_dev_stop(port[i]);
		// What rte_sched still holds goes back before the pool does.
		rte_mbuf *pkts[32];
		while (const int deq = rte_sched_port_dequeue(sched[i], pkts, 32))
			rte_pktmbuf_free_bulk(pkts, static_cast<unsigned>(deq));
		rte_sched_port_free(sched[i]);
		rte_eth_dev_close(port[i]);
	}
	rte_mempool_free(pool);
	return r;
}

void row(const std::string &name, const RouterRate &r)
{
	fmt::print("{:<44} {:>9.2f} {:>9.2f} {:>12.1f} {:>12.1f}\n", name, r.mpps, r.rx_mpps, r.cycles_per_rx,
		   r.cycles_per_pkt);
	std::fflush(stdout);
}

} // namespace

int main(int argc, char **argv)
{
	double seconds = 3;
	unsigned core = 1;
	std::string testpmd = "dpdk-testpmd";
	bool huge = false;
	std::string only;
	std::string standing_target = "15ms";
	CLI::App app{"bench-router: dualpilot-router against dpdk-testpmd io-fwd and rte_sched on net_null vdevs"};
	app.add_option("--seconds", seconds, "measuring time per case")->check(CLI::Range(0.5, 600.0));
	app.add_option("--core", core, "the CPU the one-core rows run on (default 1; the two-worker row uses 0 and 1)");
	app.add_option("--testpmd", testpmd, "dpdk-testpmd to compare with");
	app.add_flag("--huge", huge, "hugepages instead of --no-huge (reserve them first: /proc/sys/vm/nr_hugepages)");
	app.add_option("--only", only, "one case, for profiling: iofwd none fifo dualpi2 standing rte_sched workers");
	app.add_option("--standing-target", standing_target,
		       "DualPI2's target in the standing rows (default 15ms; shorter: a queue of fewer, less cold mbufs)");
	CLI11_PARSE(app, argc, argv);

	// lcore 0 (main) on `core`; lcores 1 and 2 on CPUs 0 and 1 for the
	// worker rows. The main lcore sleeps while they run.
	const unsigned other = core == 0 ? 1 : 0;
	const std::string lcores = fmt::format("0@{},1@{},2@{}", core, other, core);
	std::string err = bench::init_eal("bench-router", core, huge, kEalMemoryMb, lcores);
	if (!err.empty()) {
		fmt::print(stderr, "bench-router: {}\n", err);
		return 1;
	}
	auto want = [&](const char *c) { return only.empty() || only == c; };
	auto fail = [&](const std::string &what) {
		fmt::print(stderr, "bench-router: {}: {}\n", what, err);
		return 1;
	};
	fmt::print("bench-router: 64-byte frames on net_null vdevs, CPU {}, {:g} s per case, TSC {:.0f} MHz, {}\n", core,
		   seconds, static_cast<double>(rte_get_tsc_hz()) / 1e6, huge ? "hugepages" : "--no-huge (4 kB pages)");
	fmt::print("{:<44} {:>9} {:>9} {:>12} {:>12}\n", "case", "fwd Mpps", "rx Mpps", "cycles/rx", "cycles/fwd");
	RouterRate tp, dualpi2, standing, sched, one, two;
	if (want("iofwd")) {
		tp = run_testpmd(testpmd, core, seconds, huge, err);
		if (!err.empty())
			return fail("testpmd");
		row("dpdk-testpmd io-fwd", tp);
	}
	for (const char *aqm : {"none", "fifo", "dualpi2"}) {
		if (!want(aqm) && !(std::string_view(aqm) == "dualpi2" && (want("standing") || want("rte_sched"))))
			continue;
		RouterCase c;
		c.aqm = aqm;
		c.seconds = seconds;
		const RouterRate r = bench::measure_router(c, err);
		if (!err.empty())
			return fail(fmt::format("router with aqm {}", aqm));
		row(fmt::format("router {}, shaper off", aqm), r);
		if (std::string_view(aqm) == "dualpi2")
			dualpi2 = r;
	}
	// Half the unshaped load, in bits of 64-byte frames, on each port.
	const auto half_bps = static_cast<uint64_t>(dualpi2.rx_mpps / 2 / 2 * 1e6 * 64 * 8);
	if (want("standing")) {
		RouterCase c;
		c.rate = std::to_string(half_bps) + "bit";
		c.router_keys = fmt::format("queue_memory = \"{}\"", kStandingQueueMemory);
		c.port_tables = fmt::format("[ports.dualpi2]\ntarget = \"{}\"", standing_target);
		c.alternate_ecn = true;
		c.seconds = seconds;
		c.warmup_s = kStandingWarmupS;
		standing = bench::measure_router(c, err);
		if (!err.empty())
			return fail("standing queue");
		row(fmt::format("router dualpi2, standing queue ({:.0f} Mbit/s)", half_bps / 1e6), standing);
		// Both ports at half_bps, 64-byte frames, no overhead (vdevs): what
		// the shapers allow, against what went out.
		const double allowed_mpps = 2.0 * static_cast<double>(half_bps) / (64 * 8) / 1e6;
		fmt::print("  standing queue: Classic sojourn p50 {:.2f} ms (target {}), AQM drops {:.1f} %, "
			   "overflow {:.2f} % of rx; forwarded {:.1f} % of the {:.2f} Mpps the shapers allow\n",
			   standing.classic_p50_ms, standing_target, 100 * standing.aqm_drop_share,
			   100 * standing.overflow_share, 100 * standing.mpps / allowed_mpps, allowed_mpps);
		for (const std::string &w : standing.warnings)
			fmt::print("  router: {}\n", w);
	}
	if (want("rte_sched")) {
		sched = run_rte_sched(half_bps, seconds, err);
		if (!err.empty())
			return fail("rte_sched");
		row(fmt::format("rte_sched + PIE, standing queue ({:.0f} Mbit/s)", half_bps / 1e6), sched);
		fmt::print("  rte_sched: PIE (target {} ms, queue {} packets) made {:.1f} % of its drops\n", kSchedPieTargetMs,
			   kSchedQueue, 100 * sched.aqm_drop_share);
	}
	if (want("workers")) {
		for (const std::vector<unsigned> &lc : {std::vector<unsigned>{2}, std::vector<unsigned>{1, 2}}) {
			RouterCase c;
			c.seconds = seconds;
			c.worker_lcores = lc;
			c.router_keys = fmt::format("workers = {}", lc.size());
			const RouterRate r = bench::measure_router(c, err);
			if (!err.empty())
				return fail("workers");
			row(fmt::format("router dualpi2, {} worker{} (CPU {})", lc.size(), lc.size() > 1 ? "s" : "",
					lc.size() > 1 ? fmt::format("{},{}", other, core) : std::to_string(core)),
			    r);
			(lc.size() == 1 ? one : two) = r;
		}
	}
	rte_eal_cleanup();
	auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
	if (want("standing"))
		fmt::print("standing_vs_unshaped_ratio: {:.3f}\n", ratio(standing.rx_mpps, dualpi2.rx_mpps));
	if (want("rte_sched") && want("standing"))
		fmt::print("dualpi2_vs_rte_sched_ratio: {:.3f}\n", ratio(standing.rx_mpps, sched.rx_mpps));
	if (want("workers"))
		fmt::print("two_workers_vs_one_ratio: {:.3f}\n", ratio(two.rx_mpps, one.rx_mpps));
	if (want("iofwd") && want("dualpi2"))
		fmt::print("router_vs_iofwd_ratio: {:.3f}\n", ratio(dualpi2.mpps, tp.mpps));
	return 0;
}
