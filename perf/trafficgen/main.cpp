// dualpilot-trafficgen: an open-loop DPDK traffic generator and receiver for
// NIC and vdev perf tests. The tool's arguments come first, the EAL's after
// "--", as for dualpilot-router (common/eal_args.hpp):
//
//   dualpilot-trafficgen --flows configs/traffic/l4s-mix.toml --tx-port net_memif0 --rx-port net_memif1
//       -o out.json -- -l 0,1,2 --no-huge -m 1024 --no-pci
//       --vdev net_memif0,role=client,socket=/tmp/west.sock
//       --vdev net_memif1,role=client,socket=/tmp/east.sock
//
// The generator runs on the first worker lcore, the receiver on the second
// (or on the main lcore, or both on the main lcore when it is alone); the
// main lcore prints one progress line a second. --mode tx / rx runs one half
// (two hosts: loss then comes from sequence numbers, latency needs clocks in
// step).
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <optional>
#include <thread>

#include "aqm/units.hpp"
#include "common/cli.hpp"
#include "common/eal_args.hpp"
#include "perf/trafficgen/generator.hpp"
#include "perf/trafficgen/port.hpp"
#include "perf/trafficgen/receiver.hpp"
#include "perf/trafficgen/report.hpp"

using namespace dualpilot;
using namespace dualpilot::trafficgen;

namespace {

std::atomic<bool> interrupted{false};
void on_signal(int) { interrupted.store(true, std::memory_order_relaxed); }

struct Run {
	Generator *gen = nullptr;     // null: receive only
	Receiver *rx = nullptr;       // null: send only
	std::atomic<bool> gen_done{false};
	uint64_t drain_tsc = 0;
	uint64_t rx_deadline_tsc = 0; // receive-only runs stop here
	uint64_t end_tsc = 0;         // when the generator finished
};

// One generator pass. At the end of the run (or on a signal) it records the
// time, frees what the port never took and tells the receiver; then it
// returns false.
bool generator_pass(Run &run, uint64_t now)
{
	if (!run.gen->finished(now) && !interrupted.load(std::memory_order_relaxed)) {
		run.gen->poll(now);
		return true;
	}
	run.end_tsc = now;
	run.gen->stop();
	run.gen_done.store(true, std::memory_order_release);
	return false;
}

int generator_main(void *arg)
{
	Run &run = *static_cast<Run *>(arg);
	while (generator_pass(run, rte_rdtsc())) {
	}
	return 0;
}

int receiver_main(void *arg)
{
	Run &run = *static_cast<Run *>(arg);
	uint64_t done_at = 0;
	for (;;) {
		const uint64_t now = rte_rdtsc();
		run.rx->poll();
		if (interrupted.load(std::memory_order_relaxed))
			break;
		if (run.gen) {
			// After the generator stops, frames still in flight (a router's
			// queues) get drain time to arrive.
			if (!done_at && run.gen_done.load(std::memory_order_acquire))
				done_at = now;
			if (done_at && now - done_at >= run.drain_tsc)
				break;
		} else if (now >= run.rx_deadline_tsc) {
			break;
		}
	}
	return 0;
}

// Both halves on one lcore, taking turns.
int both_main(void *arg)
{
	Run &run = *static_cast<Run *>(arg);
	uint64_t done_at = 0;
	for (;;) {
		const uint64_t now = rte_rdtsc();
		if (!done_at && !generator_pass(run, now))
			done_at = now;
		run.rx->poll();
		if (interrupted.load(std::memory_order_relaxed) || (done_at && now - done_at >= run.drain_tsc))
			break;
	}
	return 0;
}

// What the command line asks for, checked before the EAL starts.
struct Options {
	std::string flows_file, tx_name = "0", rx_name, mode = "both", json_path, duration_text, drain_text = "200ms";
	std::vector<std::string> flow_shorthands;
	uint32_t burst = 0, mbufs = 16384;
	bool per_flow = false, quiet = false;
	// From the above (read_traffic).
	TrafficSpec spec;
	uint64_t drain_ns = 0;
	bool sending = true, receiving = true;
};

// The ports and mbuf pools the run uses, on the EAL.
struct Ports {
	uint16_t tx = 0, rx = 0;
	rte_mempool *tx_pool = nullptr, *rx_pool = nullptr;
	std::vector<uint16_t> started; // stopped and closed at the end
};

int fail(const std::string &msg)
{
	fmt::print(stderr, "error: {}\n", msg);
	return 1;
}

// After rte_eal_init: the EAL is cleaned up as well.
int fail_on_eal(const std::string &msg)
{
	fail(msg);
	rte_eal_cleanup();
	return 1;
}

// The tool's options (CLI11). The exit status where the program ends here
// (--help, a bad option, EAL arguments before the tool's), else nothing.
std::optional<int> parse_command_line(const common::CommandLine &cmd, Options &o)
{
	CLI::App app{"dualpilot-trafficgen: open-loop DPDK traffic generator and receiver"};
	app.add_option("--flows", o.flows_file, "TOML traffic file (configs/traffic/*.toml)");
	app.add_option("--flow", o.flow_shorthands,
		       "one flow as key=value,... (the [[flows]] keys; ecn mix as ect1:1/not-ect:1); repeatable");
	app.add_option("--tx-port", o.tx_name, "port to send on: id or device name (default 0)");
	app.add_option("--rx-port", o.rx_name, "port to receive on (default: port 1 if there is one, else the tx port)");
	app.add_option("--mode", o.mode, "both | tx | rx")->check(CLI::IsMember({"both", "tx", "rx"}));
	app.add_option("--duration", o.duration_text, "overrides [traffic] duration (\"10s\")");
	app.add_option("--burst", o.burst, "overrides [traffic] burst")->check(CLI::Range(1, 512));
	app.add_option("--drain", o.drain_text, "receive this long after the generator stops (default 200ms)");
	app.add_option("--mbufs", o.mbufs, "mbufs in the tx pool (default 16384)")->check(CLI::Range(1024u, 4u << 20));
	app.add_option("-o,--out,--json", o.json_path, "write the results as JSON here (- for stdout)");
	app.add_flag("--per-flow", o.per_flow, "a table row per flow as well");
	app.add_flag("-q,--quiet", o.quiet, "no progress lines");
	app.footer("EAL arguments after --, the tool's own before it.\n" +
		   common::example({"dualpilot-trafficgen --flow size=64,rate=250kpps -o out.json -- -l 0-2 --no-huge "
				    "--vdev net_null0"}));
	// The tool once took EAL arguments first: that order is refused, with the
	// command in this one.
	std::vector<std::string> own_options;
	for (const CLI::Option *opt : app.get_options())
		for (const std::string &name : opt->get_lnames())
			if (name != "help") // the EAL has a --help of its own
				own_options.push_back("--" + name);
	if (std::string fixed = common::reordered_command(cmd, own_options); !fixed.empty()) {
		fmt::print(stderr,
			   "dualpilot-trafficgen: the tool's options go before --, the EAL's after it (as for "
			   "dualpilot-router):\n  {}\n",
			   fixed);
		return 2;
	}
	try {
		app.parse(static_cast<int>(cmd.own.size()), cmd.own.data());
	} catch (const CLI::ParseError &e) {
		return app.exit(e);
	}
	return std::nullopt;
}

// The flows (--flows, then each --flow) and the options that override the
// traffic file's. 0, or the exit status after saying what was wrong.
int read_traffic(Options &o)
{
	o.sending = o.mode != "rx";
	o.receiving = o.mode != "tx";
	if (!o.flows_file.empty())
		if (std::string err = load_traffic_spec(o.flows_file, o.spec); !err.empty())
			return fail(err);
	for (const std::string &f : o.flow_shorthands)
		if (std::string err = parse_flow_shorthand(f, o.spec); !err.empty())
			return fail(err);
	if (o.spec.flows.empty() && o.sending) {
		fail("nothing to send: give --flows FILE or --flow key=value,...");
		return 2;
	}
	if (o.spec.flows.size() > kMaxFlows)
		return fail(fmt::format("{} flows: at most {}", o.spec.flows.size(), kMaxFlows));
	if (!o.duration_text.empty())
		if (std::string err = aqm::parse_time_ns(o.duration_text, o.spec.duration_ns); !err.empty() ||
											   !o.spec.duration_ns) {
			fail(fmt::format("--duration {}: {}", o.duration_text, err.empty() ? "must be above 0" : err));
			return 2;
		}
	if (std::string err = aqm::parse_time_ns(o.drain_text, o.drain_ns); !err.empty()) {
		fail(fmt::format("--drain {}: {}", o.drain_text, err));
		return 2;
	}
	if (o.burst)
		o.spec.burst = o.burst;
	return 0;
}

// The EAL, with the arguments after --. False after saying why it failed.
[[nodiscard]] bool start_eal(char *program, const common::CommandLine &cmd)
{
	std::vector<std::string> args = cmd.eal;
	std::vector<char *> eal_argv{program};
	for (std::string &a : args)
		eal_argv.push_back(a.data());
	if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
		fail(fmt::format("EAL initialisation failed ({}); EAL arguments go after --", rte_strerror(rte_errno)));
		return false;
	}
	return true;
}

// Finds the ports, makes the pools (the tx pool's mbufs hold the largest
// frame) and starts the ports the run uses. Error text or empty.
[[nodiscard]] std::string open_ports(Options &o, Ports &p)
{
	if (rte_eth_dev_count_avail() == 0)
		return "no ports: pass vdevs (--vdev net_null0) or NICs to the EAL after --";
	if (std::string err = find_port(o.tx_name, p.tx); o.sending && !err.empty())
		return err;
	if (o.rx_name.empty())
		o.rx_name = rte_eth_dev_count_avail() > 1 && o.mode == "both" ? "1" : o.tx_name;
	if (std::string err = find_port(o.rx_name, p.rx); o.receiving && !err.empty())
		return err;

	uint16_t largest = 0;
	for (const FlowSpec &f : o.spec.flows)
		for (uint16_t s : f.sizes)
			largest = std::max(largest, s);
	const auto room = static_cast<uint16_t>(std::max<int>(RTE_MBUF_DEFAULT_BUF_SIZE, largest + RTE_PKTMBUF_HEADROOM));
	const int socket = static_cast<int>(rte_socket_id());
	if (o.sending && !(p.tx_pool = rte_pktmbuf_pool_create("tg_tx", o.mbufs, 256, 0, room, socket)))
		return fmt::format("tx mbuf pool ({} mbufs): {}; try -m with more memory or fewer --mbufs", o.mbufs,
				   rte_strerror(rte_errno));
	if (o.receiving && !(p.rx_pool = rte_pktmbuf_pool_create("tg_rx", 16384, 256, 0, room, socket)))
		return fmt::format("rx mbuf pool: {}", rte_strerror(rte_errno));
	if (o.sending) {
		if (std::string err = start_port(p.tx, o.receiving && p.rx == p.tx ? p.rx_pool : nullptr, 10000);
		    !err.empty())
			return err;
		p.started.push_back(p.tx);
	}
	if (o.receiving && (!o.sending || p.rx != p.tx)) {
		if (std::string err = start_port(p.rx, p.rx_pool, 10000); !err.empty())
			return err;
		p.started.push_back(p.rx);
	}
	return {};
}

void close_ports(const Ports &p)
{
	for (uint16_t port : p.started) {
		rte_eth_dev_stop(port);
		rte_eth_dev_close(port);
	}
}

// The generator and the receiver on their ports, as the run's halves.
// Error text or empty.
[[nodiscard]] std::string set_up_halves(const Options &o, const Ports &p, const Clock &clock, Generator &gen,
					Receiver &rx, Run &run)
{
	if (o.sending) {
		if (std::string err = gen.init(o.spec, p.tx, 0, p.tx_pool, clock); !err.empty())
			return err;
		run.gen = &gen;
	}
	if (o.receiving) {
		rx.init(p.rx, 0, o.spec.burst, clock);
		run.rx = &rx;
	}
	run.drain_tsc = clock.tsc_of_ns(o.drain_ns);
	return {};
}

void print_plan(const Options &o, const Ports &p)
{
	char tx_dev[RTE_ETH_NAME_MAX_LEN] = "-", rx_dev[RTE_ETH_NAME_MAX_LEN] = "-";
	rte_eth_dev_get_name_by_port(p.tx, tx_dev);
	rte_eth_dev_get_name_by_port(p.rx, rx_dev);
	fmt::print("dualpilot-trafficgen: {} flows, {:g} s, burst {}; send on {} ({}), receive on {} ({})\n",
		   o.spec.flows.size(), static_cast<double>(o.spec.duration_ns) / 1e9, o.spec.burst,
		   o.sending ? tx_dev : "-", p.tx, o.receiving ? rx_dev : "-", p.rx);
	std::fflush(stdout);
}

// While both halves run on workers: one line a second on the main lcore
// until they have finished.
void print_progress(const Options &o, const Clock &clock, const std::vector<unsigned> &workers, uint64_t start,
		    const Generator &gen, const Receiver &rx)
{
	uint64_t last_tx = 0, last_rx = 0;
	uint64_t next = start + clock.tsc_of_ns(1000000000);
	while (!(rte_eal_get_lcore_state(workers[0]) == WAIT &&
		 (workers.size() < 2 || rte_eal_get_lcore_state(workers[1]) == WAIT))) {
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
		if (o.quiet || rte_rdtsc() < next)
			continue;
		// Plain reads of the workers' 64-bit counters: a progress line may be a burst behind.
		const uint64_t tx_now = o.sending ? gen.counters().pkts : 0;
		const uint64_t rx_now = o.receiving ? rx.counters().pkts : 0;
		fmt::print("  {:>5.1f} s  tx {:>8.3f} Mpps  rx {:>8.3f} Mpps\n",
			   static_cast<double>(next - start) / clock.tsc_hz, (tx_now - last_tx) / 1e6,
			   (rx_now - last_rx) / 1e6);
		std::fflush(stdout);
		last_tx = tx_now;
		last_rx = rx_now;
		next += clock.tsc_of_ns(1000000000);
	}
}

// Starts the flows 1 ms from now and runs both halves to the end: the
// generator on the first worker lcore, the receiver on the next, whatever has
// no worker of its own on the main lcore. Returns the start (TSC).
uint64_t run_traffic(const Options &o, const Clock &clock, Generator &gen, Receiver &rx, Run &run)
{
	std::vector<unsigned> workers;
	unsigned lc;
	RTE_LCORE_FOREACH_WORKER(lc)
	workers.push_back(lc);
	const uint64_t start = rte_rdtsc() + clock.tsc_of_ns(1000000);
	if (o.sending)
		gen.start(start);
	run.rx_deadline_tsc = start + clock.tsc_of_ns(o.spec.duration_ns) + run.drain_tsc;
	while (rte_rdtsc() < start) {
	}
	enum class Where { none, worker, main };
	Where gen_at = Where::none, rx_at = Where::none;
	size_t next_worker = 0;
	if (o.sending && next_worker < workers.size()) {
		rte_eal_remote_launch(generator_main, &run, workers[next_worker++]);
		gen_at = Where::worker;
	}
	if (o.receiving && next_worker < workers.size()) {
		rte_eal_remote_launch(receiver_main, &run, workers[next_worker++]);
		rx_at = Where::worker;
	}
	if (o.sending && gen_at == Where::none && o.receiving && rx_at == Where::none)
		both_main(&run);
	else if (o.sending && gen_at == Where::none)
		generator_main(&run);
	else if (o.receiving && rx_at == Where::none)
		receiver_main(&run); // the main lcore receives; progress lines would cost it frames
	else
		print_progress(o, clock, workers, start, gen, rx);
	rte_eal_mp_wait_lcore();
	return start;
}

// The table (and the generator's rate) on stdout; with --json, the report as
// JSON as well. Error text or empty.
[[nodiscard]] std::string report(const Options &o, const Clock &clock, const Generator &gen, const Receiver &rx,
				 const Run &run, uint64_t start)
{
	const uint64_t end = o.sending ? run.end_tsc : rte_rdtsc();
	const double seconds = static_cast<double>(end - start) / clock.tsc_hz;
	const Report r = make_report(o.spec, o.sending ? &gen : nullptr, o.receiving ? &rx : nullptr, seconds);
	fmt::print("\n{}", format_table(r, o.per_flow));
	if (o.sending)
		fmt::print("generator: {} frames in {:.3f} s = {:.3f} Mpps\n", gen.counters().pkts, seconds,
			   static_cast<double>(gen.counters().pkts) / seconds / 1e6);
	if (o.json_path.empty())
		return {};
	const std::string text = to_json(r).dump(2) + "\n";
	if (o.json_path == "-") {
		fmt::print("{}", text);
		return {};
	}
	std::ofstream out(o.json_path);
	out << text;
	return out ? "" : "cannot write " + o.json_path;
}

} // namespace

// parse -> set up (EAL, ports, halves) -> run -> report.
int main(int argc, char **argv)
{
	const common::CommandLine cmd = common::split_command_line(argc, argv);
	Options opt;
	if (std::optional<int> exit_status = parse_command_line(cmd, opt))
		return *exit_status;
	if (int status = read_traffic(opt))
		return status;
	if (!start_eal(argv[0], cmd))
		return 1;
	std::signal(SIGINT, on_signal);
	std::signal(SIGTERM, on_signal);

	Ports ports;
	if (std::string err = open_ports(opt, ports); !err.empty())
		return fail_on_eal(err);
	const Clock clock = Clock::anchored();
	Generator gen;
	Receiver rx;
	Run run;
	if (std::string err = set_up_halves(opt, ports, clock, gen, rx, run); !err.empty())
		return fail_on_eal(err);
	print_plan(opt, ports);

	const uint64_t start = run_traffic(opt, clock, gen, rx, run);

	if (std::string err = report(opt, clock, gen, rx, run, start); !err.empty())
		return fail_on_eal(err);
	close_ports(ports);
	rte_eal_cleanup();
	return interrupted.load() ? 130 : 0;
}
