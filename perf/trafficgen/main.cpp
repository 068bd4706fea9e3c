// dualpilot-trafficgen: an open-loop DPDK traffic generator and receiver for
// NIC and vdev perf tests. The tool's arguments come first, the EAL's after
// "--", as for dualpilot-router (common/eal_args.hpp):
//
//   dualpilot-trafficgen --flows configs/traffic/l4s-mix.toml --tx-port net_memif0 --rx-port net_memif1
//       --json out.json -- -l 0,1,2 --no-huge -m 1024 --no-pci
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
#include <thread>

#include "aqm/units.hpp"
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

} // namespace

int main(int argc, char **argv)
{
	common::CommandLine cmd = common::split_command_line(argc, argv);

	std::string flows_file, tx_name = "0", rx_name, mode = "both", json_path, duration_text, drain_text = "200ms";
	std::vector<std::string> flow_shorthands;
	uint32_t burst = 0, mbufs = 16384;
	bool per_flow = false, quiet = false;
	CLI::App app{"dualpilot-trafficgen: open-loop DPDK traffic generator and receiver"};
	app.add_option("--flows", flows_file, "TOML traffic file (configs/traffic/*.toml)");
	app.add_option("--flow", flow_shorthands,
		       "one flow as key=value,... (the [[flows]] keys; ecn mix as ect1:1/not-ect:1); repeatable");
	app.add_option("--tx-port", tx_name, "port to send on: id or device name (default 0)");
	app.add_option("--rx-port", rx_name, "port to receive on (default: port 1 if there is one, else the tx port)");
	app.add_option("--mode", mode, "both | tx | rx")->check(CLI::IsMember({"both", "tx", "rx"}));
	app.add_option("--duration", duration_text, "overrides [traffic] duration (\"10s\")");
	app.add_option("--burst", burst, "overrides [traffic] burst")->check(CLI::Range(1, 512));
	app.add_option("--drain", drain_text, "receive this long after the generator stops (default 200ms)");
	app.add_option("--mbufs", mbufs, "mbufs in the tx pool (default 16384)")->check(CLI::Range(1024u, 4u << 20));
	app.add_option("--json", json_path, "write the results as JSON here (- for stdout)");
	app.add_flag("--per-flow", per_flow, "a table row per flow as well");
	app.add_flag("--quiet", quiet, "no progress lines");
	app.footer("EAL arguments after --, e.g. dualpilot-trafficgen --flow size=64,rate=250kpps -- -l 0-2 --no-huge "
		   "--vdev net_null0");
	// The tool once took EAL arguments first: that order is refused, with the
	// command in this one.
	std::vector<std::string> own_options;
	for (const CLI::Option *o : app.get_options())
		for (const std::string &name : o->get_lnames())
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

	TrafficSpec spec;
	if (!flows_file.empty())
		if (std::string err = load_traffic_spec(flows_file, spec); !err.empty()) {
			fmt::print(stderr, "dualpilot-trafficgen: {}\n", err);
			return 1;
		}
	for (const std::string &f : flow_shorthands)
		if (std::string err = parse_flow_shorthand(f, spec); !err.empty()) {
			fmt::print(stderr, "dualpilot-trafficgen: {}\n", err);
			return 1;
		}
	if (spec.flows.empty() && mode != "rx") {
		fmt::print(stderr, "dualpilot-trafficgen: nothing to send: give --flows FILE or --flow key=value,...\n");
		return 2;
	}
	if (spec.flows.size() > kMaxFlows) {
		fmt::print(stderr, "dualpilot-trafficgen: {} flows: at most {}\n", spec.flows.size(), kMaxFlows);
		return 1;
	}
	uint64_t drain_ns = 0;
	if (!duration_text.empty())
		if (std::string err = aqm::parse_time_ns(duration_text, spec.duration_ns); !err.empty() || !spec.duration_ns) {
			fmt::print(stderr, "dualpilot-trafficgen: --duration {}: {}\n", duration_text,
				   err.empty() ? "must be above 0" : err);
			return 2;
		}
	if (std::string err = aqm::parse_time_ns(drain_text, drain_ns); !err.empty()) {
		fmt::print(stderr, "dualpilot-trafficgen: --drain {}: {}\n", drain_text, err);
		return 2;
	}
	if (burst)
		spec.burst = burst;

	std::vector<char *> eal_argv{argv[0]};
	for (std::string &a : cmd.eal)
		eal_argv.push_back(a.data());
	if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
		fmt::print(stderr, "dualpilot-trafficgen: EAL initialisation failed ({}); EAL arguments go after --\n",
			   rte_strerror(rte_errno));
		return 1;
	}
	std::signal(SIGINT, on_signal);
	std::signal(SIGTERM, on_signal);
	auto fail = [](const std::string &msg) {
		fmt::print(stderr, "dualpilot-trafficgen: {}\n", msg);
		rte_eal_cleanup();
		return 1;
	};

	uint16_t tx_port = 0, rx_port = 0;
	const bool sending = mode != "rx", receiving = mode != "tx";
	if (rte_eth_dev_count_avail() == 0)
		return fail("no ports: pass vdevs (--vdev net_null0) or NICs to the EAL after --");
	if (std::string err = find_port(tx_name, tx_port); sending && !err.empty())
		return fail(err);
	if (rx_name.empty())
		rx_name = rte_eth_dev_count_avail() > 1 && mode == "both" ? "1" : tx_name;
	if (std::string err = find_port(rx_name, rx_port); receiving && !err.empty())
		return fail(err);

	uint16_t largest = 0;
	for (const FlowSpec &f : spec.flows)
		for (uint16_t s : f.sizes)
			largest = std::max(largest, s);
	const auto room = static_cast<uint16_t>(std::max<int>(RTE_MBUF_DEFAULT_BUF_SIZE, largest + RTE_PKTMBUF_HEADROOM));
	rte_mempool *tx_pool = nullptr, *rx_pool = nullptr;
	if (sending && !(tx_pool = rte_pktmbuf_pool_create("tg_tx", mbufs, 256, 0, room, static_cast<int>(rte_socket_id()))))
		return fail(fmt::format("tx mbuf pool ({} mbufs): {}; try -m with more memory or fewer --mbufs", mbufs,
					rte_strerror(rte_errno)));
	if (receiving &&
	    !(rx_pool = rte_pktmbuf_pool_create("tg_rx", 16384, 256, 0, room, static_cast<int>(rte_socket_id()))))
		return fail(fmt::format("rx mbuf pool: {}", rte_strerror(rte_errno)));
	std::vector<uint16_t> started;
	if (sending) {
		if (std::string err = start_port(tx_port, receiving && rx_port == tx_port ? rx_pool : nullptr, 10000);
		    !err.empty())
			return fail(err);
		started.push_back(tx_port);
	}
	if (receiving && (!sending || rx_port != tx_port)) {
		if (std::string err = start_port(rx_port, rx_pool, 10000); !err.empty())
			return fail(err);
		started.push_back(rx_port);
	}

	const Clock clock = Clock::anchored();
	Generator gen;
	Receiver rx;
	Run run;
	if (sending) {
		if (std::string err = gen.init(spec, tx_port, 0, tx_pool, clock); !err.empty())
			return fail(err);
		run.gen = &gen;
	}
	if (receiving) {
		rx.init(rx_port, 0, spec.burst, clock);
		run.rx = &rx;
	}
	run.drain_tsc = clock.tsc_of_ns(drain_ns);

	char tx_dev[RTE_ETH_NAME_MAX_LEN] = "-", rx_dev[RTE_ETH_NAME_MAX_LEN] = "-";
	rte_eth_dev_get_name_by_port(tx_port, tx_dev);
	rte_eth_dev_get_name_by_port(rx_port, rx_dev);
	fmt::print("dualpilot-trafficgen: {} flows, {:g} s, burst {}; send on {} ({}), receive on {} ({})\n",
		   spec.flows.size(), static_cast<double>(spec.duration_ns) / 1e9, spec.burst, sending ? tx_dev : "-",
		   tx_port, receiving ? rx_dev : "-", rx_port);
	std::fflush(stdout);

	// Lcores: generator on the first worker, receiver on the next; whatever
	// has no worker of its own runs on the main lcore.
	std::vector<unsigned> workers;
	unsigned lc;
	RTE_LCORE_FOREACH_WORKER(lc)
	workers.push_back(lc);
	const uint64_t start = rte_rdtsc() + clock.tsc_of_ns(1000000);
	if (sending)
		gen.start(start);
	run.rx_deadline_tsc = start + clock.tsc_of_ns(spec.duration_ns) + run.drain_tsc;
	while (rte_rdtsc() < start) {
	}
	enum class Where { none, worker, main };
	Where gen_at = Where::none, rx_at = Where::none;
	size_t next_worker = 0;
	if (sending && next_worker < workers.size()) {
		rte_eal_remote_launch(generator_main, &run, workers[next_worker++]);
		gen_at = Where::worker;
	}
	if (receiving && next_worker < workers.size()) {
		rte_eal_remote_launch(receiver_main, &run, workers[next_worker++]);
		rx_at = Where::worker;
	}
	if (sending && gen_at == Where::none && receiving && rx_at == Where::none) {
		both_main(&run);
	} else if (sending && gen_at == Where::none) {
		generator_main(&run);
	} else if (receiving && rx_at == Where::none) {
		// The main lcore receives; progress lines would cost it frames.
		receiver_main(&run);
	} else {
		// Both on workers: the main lcore reports progress once a second.
		uint64_t last_tx = 0, last_rx = 0;
		uint64_t next = start + clock.tsc_of_ns(1000000000);
		while (!(rte_eal_get_lcore_state(workers[0]) == WAIT &&
			 (workers.size() < 2 || rte_eal_get_lcore_state(workers[1]) == WAIT))) {
			std::this_thread::sleep_for(std::chrono::milliseconds(20));
			if (quiet || rte_rdtsc() < next)
				continue;
			// Plain reads of the workers' 64-bit counters: a progress line may be a burst behind.
			const uint64_t tx_now = sending ? gen.counters().pkts : 0;
			const uint64_t rx_now = receiving ? rx.counters().pkts : 0;
			fmt::print("  {:>5.1f} s  tx {:>8.3f} Mpps  rx {:>8.3f} Mpps\n",
				   static_cast<double>(next - start) / clock.tsc_hz, (tx_now - last_tx) / 1e6,
				   (rx_now - last_rx) / 1e6);
			std::fflush(stdout);
			last_tx = tx_now;
			last_rx = rx_now;
			next += clock.tsc_of_ns(1000000000);
		}
	}
	rte_eal_mp_wait_lcore();

	const uint64_t end = sending ? run.end_tsc : rte_rdtsc();
	const double seconds = static_cast<double>(end - start) / clock.tsc_hz;
	const Report report = make_report(spec, sending ? &gen : nullptr, receiving ? &rx : nullptr, seconds);
	fmt::print("\n{}", format_table(report, per_flow));
	if (sending)
		fmt::print("generator: {} frames in {:.3f} s = {:.3f} Mpps\n", gen.counters().pkts, seconds,
			   static_cast<double>(gen.counters().pkts) / seconds / 1e6);
	if (!json_path.empty()) {
		const std::string text = to_json(report).dump(2) + "\n";
		if (json_path == "-") {
			fmt::print("{}", text);
		} else {
			std::ofstream out(json_path);
			out << text;
			if (!out)
				return fail("cannot write " + json_path);
		}
	}
	for (uint16_t p : started) {
		rte_eth_dev_stop(p);
		rte_eth_dev_close(p);
	}
	rte_eal_cleanup();
	return interrupted.load() ? 130 : 0;
}
