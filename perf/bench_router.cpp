// bench-router: the router's fast path in TSC cycles per forwarded packet,
// on net_null vdevs (64-byte IPv4/UDP frames; rx allocates and tx frees, so
// only the per-packet software path is measured). Every router row and the
// rte_sched rows run the same rx callback that makes each port's frames
// alternate ECT(1) / Not-ECT (a branch, a checksum rewrite, a dirty line a
// frame), so the rows differ only in what they measure. One run measures:
//   testpmd io-fwd                      a child process, one core; touches no
//                                       frame data (information only)
//   the stages, unshaped:               aqm none -> fifo -> dualpi2 (the
//                                       empty-queue bypass on, the default;
//                                       and off) -> + sampling every 10
//                                       packets, the policy in shadow -> +
//                                       enforce (the policy worker on the
//                                       other CPU); each stage's marginal cost;
//                                       and, apart, the tuner's counting
//                                       (tune mode, [policy] action "tune")
//                                       over the dualpi2 row
//   router, dualpi2, standing queue     both ports shaped at half the
//                                       unshaped load, limit = "auto": the
//                                       queue stands at DualPI2's target; L4S
//                                       and Classic sojourn p50 / p99
//   rte_sched + PIE, standing queue     one subport, one traffic class, PIE,
//                                       the same shaped rate: one pipe (its
//                                       worst case) and 64 pipes (frames
//                                       spread over them in turn)
//   router, dualpi2, one / two workers  two ports, each worker on its own
//                                       core, the main lcore asleep
//   hand-off                            two workers, two rx queues a port:
//                                       half the frames cross to the worker
//                                       that owns their egress
//   one port's egress, one / two        a's frames to b's egress only (b
//   workers                             receives nothing), a's two rx
//                                       queues; one worker and one egress
//                                       queue, then two workers and
//                                       egress_queues = 2, each worker
//                                       polling one rx queue and owning one
//                                       egress queue: with the software
//                                       hash (half the frames cross to the
//                                       other worker; the goal figure),
//                                       and with the RSS hash a NIC would
//                                       stamp (an rx callback: none cross;
//                                       information)
// The figures end with `name: value` lines: the cycle goals, then the
// ratios; router_vs_iofwd_ratio is information, no longer a goal.
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
#include "policy_beside.hpp"
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
constexpr uint16_t kSchedQueueManyPipes = 1024;
constexpr uint32_t kSchedManyPipes = 64;
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

// rte_sched on one egress port: one subport of `pipes` pipes (a power of
// two), traffic class 0 (one queue a pipe), PIE, shaped to rate_bps with no
// framing overhead (a vdev, as the router's default there); each pipe may
// take the whole rate. Null with the reason in error.
rte_sched_port *make_sched(const std::string &name, uint64_t rate_bps, uint32_t pipes, std::string &error)
{
	// One pipe holds the whole standing queue; 64 pipes share it (and
	// rte_sched allocates every pipe's 16 queues of qsize each).
	const uint16_t qsize = pipes == 1 ? kSchedQueue : kSchedQueueManyPipes;
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
	port.n_pipes_per_subport = pipes;
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
		pie = rte_pie_params{kSchedPieTargetMs, 15, 150, qsize};
	rte_sched_subport_params subport{};
	subport.n_pipes_per_subport_enabled = pipes;
	std::fill(std::begin(subport.qsize), std::end(subport.qsize), qsize);
	subport.pipe_profiles = &pipe;
	subport.n_pipe_profiles = 1;
	subport.n_max_pipe_profiles = 1;
	subport.cman_params = &cman;
	int rc = rte_sched_subport_config(sched, 0, &subport, 0);
	for (uint32_t pipe = 0; pipe < pipes && rc == 0; pipe++)
		rc = rte_sched_pipe_config(sched, 0, pipe, 0);
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

// The rte_sched rows' two ports: each with its scheduler for the frames
// that leave by it, and the ECN callback the router's rows run.
struct SchedPair {
	rte_mempool *pool = nullptr;
	uint16_t port[2] = {0, 0};
	rte_sched_port *sched[2] = {nullptr, nullptr};
	uint32_t ecn_count[2] = {0, 1};
	const rte_eth_rxtx_callback *ecn_cb[2] = {nullptr, nullptr};
	uint32_t pipes = 1;
	uint32_t next_pipe = 0;
};

// The pool, the two net_null ports and their schedulers. Error text or empty.
std::string open_sched_pair(uint64_t rate_bps, uint32_t pipes, SchedPair &sp)
{
	static int n = 0;
	const int id = 900 + 2 * n++;
	sp.pipes = pipes;
	sp.pool = rte_pktmbuf_pool_create(fmt::format("sched_pool_{}", id).c_str(), 4 * kSchedQueue + 8192, 256, 0,
					  RTE_MBUF_DEFAULT_BUF_SIZE, static_cast<int>(rte_socket_id()));
	if (!sp.pool)
		return "cannot create the rte_sched row's pool";
	rte_mempool_obj_iter(sp.pool, bench::fill_frame, nullptr);
	std::string error;
	for (int i = 0; i < 2 && error.empty(); i++) {
		error = start_null_port(fmt::format("net_null{}", id + i), sp.pool, sp.port[i]);
		if (error.empty())
			sp.sched[i] = make_sched(fmt::format("sched_{}", id + i), rate_bps, pipes, error);
		if (error.empty() &&
		    !(sp.ecn_cb[i] = rte_eth_add_rx_callback(sp.port[i], 0, bench::alternate_ecn, &sp.ecn_count[i])))
			error = "cannot add the ECN rx callback";
	}
	return error;
}

// One pass over both directions: rx a burst, classify each frame into a
// pipe in turn, enqueue, dequeue a burst, tx. Adds what it received and sent.
inline void poll_sched_pair(SchedPair &sp, uint64_t &rx, uint64_t &tx)
{
	for (int in = 0; in < 2; in++) {
		const int out = 1 - in;
		rte_mbuf *pkts[32];
		const uint16_t got = rte_eth_rx_burst(sp.port[in], 0, pkts, 32);
		for (uint16_t i = 0; i < got; i++)
			rte_sched_port_pkt_write(sp.sched[out], pkts[i], 0, sp.next_pipe++ & (sp.pipes - 1), 0, 0,
						 RTE_COLOR_GREEN);
		if (got > 0)
			rte_sched_port_enqueue(sp.sched[out], pkts, got); // drops are freed inside
		const int deq = rte_sched_port_dequeue(sp.sched[out], pkts, 32);
		const uint16_t sent = rte_eth_tx_burst(sp.port[out], 0, pkts, static_cast<uint16_t>(deq));
		if (sent < deq)
			rte_pktmbuf_free_bulk(pkts + sent, static_cast<unsigned>(deq - sent));
		rx += got;
		tx += sent;
	}
}

// PIE's share of the schedulers' drops.
double pie_drop_share(const SchedPair &sp)
{
	rte_sched_subport_stats st{};
	uint32_t tc_ov = 0;
	uint64_t cman = 0, dropped = 0;
	for (rte_sched_port *s : sp.sched) {
		if (rte_sched_subport_read_stats(s, 0, &st, &tc_ov) == 0)
			for (int tc = 0; tc < RTE_SCHED_TRAFFIC_CLASSES_PER_PIPE; tc++) {
				cman += st.n_pkts_cman_dropped[tc];
				dropped += st.n_pkts_tc_dropped[tc];
			}
	}
	return dropped ? static_cast<double>(cman) / static_cast<double>(dropped) : 0;
}

// The ports stopped and closed; what rte_sched still holds goes back before
// the pool does.
void close_sched_pair(SchedPair &sp)
{
	for (int i = 0; i < 2; i++) {
		rte_eth_dev_stop(sp.port[i]);
		if (rte_eth_remove_rx_callback(sp.port[i], 0, sp.ecn_cb[i]) == 0)
			rte_free(const_cast<rte_eth_rxtx_callback *>(sp.ecn_cb[i]));
		rte_mbuf *pkts[32];
		while (const int deq = rte_sched_port_dequeue(sp.sched[i], pkts, 32))
			rte_pktmbuf_free_bulk(pkts, static_cast<unsigned>(deq));
		rte_sched_port_free(sp.sched[i]);
		rte_eth_dev_close(sp.port[i]);
	}
	rte_mempool_free(sp.pool);
}

// The l2 pair of the router's rows through rte_sched instead: rx a burst
// (through the same ECN callback as the router's rows), classify each frame
// into a pipe in turn, enqueue, dequeue a burst, tx, on this lcore.
RouterRate run_rte_sched(uint64_t rate_bps, uint32_t pipes, double seconds, std::string &error)
{
	RouterRate r;
	SchedPair sp;
	error = open_sched_pair(rate_bps, pipes, sp);
	if (!error.empty())
		return r;
	uint64_t rx = 0, tx = 0;
	const uint64_t hz = rte_get_tsc_hz();
	uint64_t end = rte_rdtsc() + static_cast<uint64_t>(kStandingWarmupS * static_cast<double>(hz));
	while (rte_rdtsc() < end) {
		uint64_t warm_rx = 0, warm_tx = 0;
		poll_sched_pair(sp, warm_rx, warm_tx);
	}
	const uint64_t start = rte_rdtsc();
	end = start + static_cast<uint64_t>(seconds * static_cast<double>(hz));
	uint64_t now = start;
	while (now < end) {
		poll_sched_pair(sp, rx, tx);
		now = rte_rdtsc();
	}
	const double secs = static_cast<double>(now - start) / static_cast<double>(hz);
	r.mpps = static_cast<double>(tx) / secs / 1e6;
	r.rx_mpps = static_cast<double>(rx) / secs / 1e6;
	r.cycles_per_pkt = static_cast<double>(now - start) / static_cast<double>(tx);
	r.cycles_per_rx = static_cast<double>(now - start) / static_cast<double>(rx);
	r.aqm_drop_share = pie_drop_share(sp);
	close_sched_pair(sp);
	return r;
}

void row(const std::string &name, const RouterRate &r)
{
	fmt::print("{:<52} {:>9.2f} {:>9.2f} {:>12.1f} {:>12.1f} {:>9.1f}\n", name, r.mpps, r.rx_mpps, r.cycles_per_rx,
		   r.cycles_per_pkt, 100 * r.bypass_share);
	std::fflush(stdout);
}

// What one run measured, row by row (zero where a row did not run).
struct Figures {
	RouterRate iofwd, none, fifo, dualpi2, nobypass, sampling, enforce, tune;
	RouterRate standing, sched_one, sched_many, one, two, handoff;
	RouterRate port_one, port_two, port_two_rss; // one port's egress over one worker, over two (software hash, RSS)
};

// The command line's choices.
struct Options {
	double seconds = 3;
	unsigned core = 1;
	unsigned other = 0; // the second CPU: the two-worker rows and the policy worker
	std::string testpmd = "dpdk-testpmd";
	bool huge = false;
	std::string only;
	std::string standing_target = "15ms";
	bool want(const char *c) const { return only.empty() || only == c; }
};

// The stages, unshaped: none -> fifo -> dualpi2 (bypass on, then off) ->
// + sampling with the policy in shadow -> + enforce. Error text or empty.
std::string measure_stages(const Options &o, Figures &f)
{
	struct Stage {
		const char *name;
		const char *label;
		const char *aqm;
		const char *router_keys;
		const char *policy; // a [policy] table, or empty
		RouterRate *out;
		bool beside = true; // with a [policy] table: the policy worker on the other CPU
	};
	const Stage stages[] = {
		{"none", "router, aqm none, shaper off", "none", "", "", &f.none},
		{"fifo", "router, fifo, shaper off", "fifo", "", "", &f.fifo},
		{"dualpi2", "router, dualpi2, shaper off", "dualpi2", "", "", &f.dualpi2},
		{"nobypass", "router, dualpi2, shaper off, bypass off", "dualpi2", "empty_queue_bypass = false", "",
		 &f.nobypass},
		{"sampling", "  + sampling every 10, policy in shadow", "dualpi2", "",
		 "[policy]\nmode = \"shadow\"\nmodel = \"in-memory\"\ninference_interval = 10\n", &f.sampling},
		{"enforce", "  + policy enforcing", "dualpi2", "",
		 "[policy]\nmode = \"enforce\"\nmodel = \"in-memory\"\ninference_interval = 10\n", &f.enforce},
		// Tune mode, its own row over dualpi2's, not a stage of the verdict
		// pilot's: the workers' counting alone, no policy worker (its naps
		// and wake-ups are not the fast path's; the tune-step rings fill and
		// their later steps are counted lost).
		{"tune", "router, dualpi2, tuner counting (tune mode)", "dualpi2", "",
		 "[policy]\nmode = \"shadow\"\naction = \"tune\"\nmodel = \"in-memory\"\n", &f.tune, false},
	};
	// The standing and rte_sched rows are shaped at half the dualpi2 row's rate.
	const bool need_dualpi2 = o.want("standing") || o.want("rte_sched");
	for (const Stage &st : stages) {
		if (!o.want(st.name) && !(std::string_view(st.name) == "dualpi2" && need_dualpi2))
			continue;
		RouterCase c;
		c.aqm = st.aqm;
		c.seconds = o.seconds;
		c.router_keys = st.router_keys;
		c.extra = st.policy;
		bench::PolicyBeside policy;
		policy.cpu = o.other;
		const bool with_policy = *st.policy != '\0' && st.beside;
		std::string err;
		*st.out = bench::measure_router(
			c, err, [&](dataplane::Router &r) { if (with_policy) policy.start(r); },
			[&](dataplane::Router &) { if (with_policy) policy.join(); });
		if (!err.empty())
			return fmt::format("router, {}: {}", st.name, err);
		row(st.label, *st.out);
	}
	return {};
}

// Both ports shaped at half_bps: DualPI2 with a standing queue. Error text or empty.
std::string measure_standing(const Options &o, uint64_t half_bps, Figures &f)
{
	RouterCase c;
	c.rate = std::to_string(half_bps) + "bit";
	c.router_keys = fmt::format("queue_memory = \"{}\"", kStandingQueueMemory);
	c.port_tables = fmt::format("[ports.dualpi2]\ntarget = \"{}\"", o.standing_target);
	c.seconds = o.seconds;
	c.warmup_s = kStandingWarmupS;
	std::string err;
	f.standing = bench::measure_router(c, err);
	if (!err.empty())
		return "standing queue: " + err;
	const RouterRate &r = f.standing;
	row(fmt::format("router, dualpi2, standing queue ({:.0f} Mbit/s)", half_bps / 1e6), r);
	// Both ports at half_bps, 64-byte frames, no overhead (vdevs): what the
	// shapers allow, against what went out.
	const double allowed_mpps = 2.0 * static_cast<double>(half_bps) / (64 * 8) / 1e6;
	fmt::print("  standing queue: sojourn L4S p50 {:.3f} / p99 {:.3f} ms, Classic p50 {:.2f} / p99 {:.2f} ms "
		   "(target {}); AQM drops {:.1f} %, overflow {:.2f} % of rx; forwarded {:.1f} % of the {:.2f} Mpps "
		   "the shapers allow\n",
		   r.l4s_p50_ms, r.l4s_p99_ms, r.classic_p50_ms, r.classic_p99_ms, o.standing_target,
		   100 * r.aqm_drop_share, 100 * r.overflow_share, 100 * r.mpps / allowed_mpps, allowed_mpps);
	for (const std::string &w : r.warnings)
		fmt::print("  router: {}\n", w);
	return {};
}

// rte_sched + PIE at half_bps, one pipe and many. Error text or empty.
std::string measure_rte_sched(const Options &o, uint64_t half_bps, Figures &f)
{
	std::string err;
	f.sched_one = run_rte_sched(half_bps, 1, o.seconds, err);
	if (!err.empty())
		return "rte_sched, one pipe: " + err;
	row(fmt::format("rte_sched + PIE, standing queue, one pipe ({:.0f} Mbit/s)", half_bps / 1e6), f.sched_one);
	f.sched_many = run_rte_sched(half_bps, kSchedManyPipes, o.seconds, err);
	if (!err.empty())
		return "rte_sched, many pipes: " + err;
	row(fmt::format("rte_sched + PIE, standing queue, {} pipes", kSchedManyPipes), f.sched_many);
	fmt::print("  rte_sched: PIE (target {} ms; a pipe's queue {} packets with one pipe, {} with {}) made {:.1f} % / "
		   "{:.1f} % of the drops\n",
		   kSchedPieTargetMs, kSchedQueue, kSchedQueueManyPipes, kSchedManyPipes, 100 * f.sched_one.aqm_drop_share,
		   100 * f.sched_many.aqm_drop_share);
	return {};
}

// One worker, two workers, and two workers with the frames crossing
// between them. Error text or empty.
std::string measure_workers(const Options &o, Figures &f)
{
	struct Workers {
		const char *name;
		std::vector<unsigned> lcores;
		unsigned rx_queues;
		RouterRate *out;
	};
	const Workers cases[] = {
		{"workers", {2}, 1, &f.one},
		{"workers", {1, 2}, 1, &f.two},
		{"handoff", {1, 2}, 2, &f.handoff},
	};
	for (const Workers &wc : cases) {
		// The hand-off row is judged against the two-worker row.
		if (!o.want(wc.name) && !(o.want("handoff") && wc.out == &f.two))
			continue;
		RouterCase c;
		c.seconds = o.seconds;
		c.worker_lcores = wc.lcores;
		c.rx_queues = wc.rx_queues;
		c.router_keys = fmt::format("workers = {}", wc.lcores.size());
		std::string err;
		*wc.out = bench::measure_router(c, err);
		if (!err.empty())
			return fmt::format("{}: {}", wc.name, err);
		const std::string cpus = wc.lcores.size() > 1 ? fmt::format("{},{}", o.other, o.core) : std::to_string(o.core);
		row(wc.rx_queues > 1 ? fmt::format("router, dualpi2, hand-off: 2 workers, 2 rx queues (CPU {})", cpus)
				     : fmt::format("router, dualpi2, {} worker{} (CPU {})", wc.lcores.size(),
						   wc.lcores.size() > 1 ? "s" : "", cpus),
		    *wc.out);
	}
	return {};
}

// One port's egress (b's, fed by a's two rx queues; b receives nothing)
// over one worker with one egress queue, then over two workers with two
// egress queues. Error text or empty.
std::string measure_one_port(const Options &o, Figures &f)
{
	struct OnePort {
		std::vector<unsigned> lcores;
		bool rss;
		RouterRate *out;
	};
	const OnePort cases[] = {{{2}, false, &f.port_one}, {{1, 2}, false, &f.port_two}, {{1, 2}, true, &f.port_two_rss}};
	for (const OnePort &pc : cases) {
		RouterCase c;
		c.seconds = o.seconds;
		c.worker_lcores = pc.lcores;
		c.rx_queues = 2;
		c.b_no_rx = true;
		c.stamp_rss = pc.rss;
		c.b_egress_queues = static_cast<unsigned>(pc.lcores.size());
		c.router_keys = fmt::format("workers = {}", pc.lcores.size());
		std::string err;
		*pc.out = bench::measure_router(c, err);
		if (!err.empty())
			return "one_port: " + err;
		const std::string cpus = pc.lcores.size() > 1 ? fmt::format("{},{}", o.other, o.core) : std::to_string(o.core);
		row(pc.lcores.size() == 1 ? fmt::format("router, dualpi2, one port's egress: 1 worker (CPU {})", cpus)
					  : fmt::format("  2 workers, 2 egress queues, {} hash (CPU {})", pc.rss ? "RSS" : "sw", cpus),
		    *pc.out);
	}
	return {};
}

// The goal lines, in cycles and ratios, for the rows that ran.
void print_figures(const Options &o, const Figures &f)
{
	auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
	auto cycles = [](const char *name, double v) { fmt::print("{}: {:.1f}\n", name, v); };
	fmt::print("\n");
	if (o.want("none") && o.want("dualpi2"))
		cycles("dualpi2_marginal_cycles", f.dualpi2.cycles_per_pkt - f.none.cycles_per_pkt);
	if (o.want("none") && o.want("fifo"))
		cycles("fifo_marginal_cycles", f.fifo.cycles_per_pkt - f.none.cycles_per_pkt);
	if (o.want("none") && o.want("nobypass"))
		cycles("dualpi2_nobypass_marginal_cycles", f.nobypass.cycles_per_pkt - f.none.cycles_per_pkt);
	if (o.want("dualpi2") && o.want("sampling"))
		cycles("sampling10_marginal_cycles", f.sampling.cycles_per_pkt - f.dualpi2.cycles_per_pkt);
	if (o.want("sampling") && o.want("enforce"))
		cycles("enforce_marginal_cycles", f.enforce.cycles_per_pkt - f.sampling.cycles_per_pkt);
	if (o.want("dualpi2") && o.want("tune"))
		cycles("tune_marginal_cycles", f.tune.cycles_per_pkt - f.dualpi2.cycles_per_pkt);
	if (o.want("standing")) {
		cycles("standing_cycles_per_pkt", f.standing.cycles_per_pkt);
		fmt::print("standing_vs_unshaped_cycles: {:.3f}\n", ratio(f.standing.cycles_per_pkt, f.dualpi2.cycles_per_pkt));
		fmt::print("standing_vs_unshaped_ratio: {:.3f}\n", ratio(f.standing.rx_mpps, f.dualpi2.rx_mpps));
	}
	if (o.want("standing") && o.want("rte_sched")) {
		fmt::print("dualpi2_vs_rte_sched_ratio: {:.3f}\n", ratio(f.standing.rx_mpps, f.sched_one.rx_mpps));
		fmt::print("dualpi2_vs_rte_sched_many_pipes_ratio: {:.3f}\n", ratio(f.standing.rx_mpps, f.sched_many.rx_mpps));
	}
	if (o.want("workers"))
		fmt::print("two_workers_vs_one_ratio: {:.3f}\n", ratio(f.two.rx_mpps, f.one.rx_mpps));
	if (o.want("handoff"))
		fmt::print("handoff_vs_local_ratio: {:.3f}\n", ratio(f.handoff.rx_mpps, f.two.rx_mpps));
	if (o.want("one_port"))
	{
		fmt::print("one_port_two_workers_rss_vs_one: {:.3f}\n", ratio(f.port_two_rss.mpps, f.port_one.mpps));
		fmt::print("one_port_two_workers_vs_one: {:.3f}\n", ratio(f.port_two.mpps, f.port_one.mpps));
	}
	if (o.want("iofwd") && o.want("dualpi2"))
		fmt::print("router_vs_iofwd_ratio: {:.3f}\n", ratio(f.dualpi2.mpps, f.iofwd.mpps));
}

} // namespace

int main(int argc, char **argv)
{
	Options o;
	CLI::App app{"bench-router: dualpilot-router's fast path in cycles, against dpdk-testpmd io-fwd and rte_sched "
		     "on net_null vdevs"};
	app.add_option("--seconds", o.seconds, "measuring time per case")->check(CLI::Range(0.5, 600.0));
	app.add_option("--core", o.core, "the CPU the one-core rows run on (default 1; the two-worker rows use 0 and 1)");
	app.add_option("--testpmd", o.testpmd, "dpdk-testpmd to compare with");
	app.add_flag("--huge", o.huge, "hugepages instead of --no-huge (reserve them first: /proc/sys/vm/nr_hugepages)");
	app.add_option("--only", o.only,
		       "one case, for profiling: iofwd none fifo dualpi2 nobypass sampling enforce tune standing rte_sched "
		       "workers handoff one_port");
	app.add_option("--standing-target", o.standing_target,
		       "DualPI2's target in the standing rows (default 15ms; shorter: a queue of fewer, less cold mbufs)");
	app.footer("example: echo 2048 > /proc/sys/vm/nr_hugepages && build/perf/bench-router --seconds 3 --huge");
	CLI11_PARSE(app, argc, argv);

	// lcore 0 (main) on `core`; lcores 1 and 2 on CPUs 0 and 1 for the
	// worker rows. The main lcore sleeps while they run.
	o.other = o.core == 0 ? 1 : 0;
	const std::string lcores = fmt::format("0@{},1@{},2@{}", o.core, o.other, o.core);
	if (std::string err = bench::init_eal("bench-router", o.core, o.huge, kEalMemoryMb, lcores); !err.empty()) {
		fmt::print(stderr, "bench-router: {}\n", err);
		return 1;
	}
	fmt::print("bench-router: 64-byte frames on net_null vdevs, ECN alternated in every row, CPU {}, {:g} s per "
		   "case, TSC {:.0f} MHz, {}\n",
		   o.core, o.seconds, static_cast<double>(rte_get_tsc_hz()) / 1e6,
		   o.huge ? "hugepages" : "--no-huge (4 kB pages)");
	fmt::print("{:<52} {:>9} {:>9} {:>12} {:>12} {:>9}\n", "case", "fwd Mpps", "rx Mpps", "cycles/rx", "cycles/fwd",
		   "bypass %");
	Figures f;
	std::string err;
	if (o.want("iofwd")) {
		f.iofwd = run_testpmd(o.testpmd, o.core, o.seconds, o.huge, err);
		if (err.empty())
			row("dpdk-testpmd io-fwd (touches no frame data)", f.iofwd);
		else
			err = "testpmd: " + err;
	}
	// Half the unshaped load, in bits of 64-byte frames, on each port.
	auto half_bps = [&] { return static_cast<uint64_t>(f.dualpi2.rx_mpps / 2 / 2 * 1e6 * 64 * 8); };
	if (err.empty())
		err = measure_stages(o, f);
	if (err.empty() && o.want("standing"))
		err = measure_standing(o, half_bps(), f);
	if (err.empty() && o.want("rte_sched"))
		err = measure_rte_sched(o, half_bps(), f);
	if (err.empty() && (o.want("workers") || o.want("handoff")))
		err = measure_workers(o, f);
	if (err.empty() && o.want("one_port"))
		err = measure_one_port(o, f);
	rte_eal_cleanup();
	if (!err.empty()) {
		fmt::print(stderr, "bench-router: {}\n", err);
		return 1;
	}
	print_figures(o, f);
	return 0;
}
