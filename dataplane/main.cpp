// dualpilot-router --config FILE [--check | --check-host] [-- EAL args]
// Forwards between the configured ports through each egress port's AQM and
// shaper until SIGINT or SIGTERM, then drains, prints a summary and exits.
// SIGHUP reloads the configured model file (checked as at start-up; a bad one
// is refused and the running model stays). rte_pdump is initialised, so
// dpdk-dumpcap and dpdk-pdump can capture any port from outside.
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_pdump.h>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <optional>

#include "aqm/units.hpp"
#include "common/cli.hpp"
#include "common/eal_args.hpp"
#include "common/toml_reader.hpp"
#include "dataplane/config.hpp"
#include "dataplane/placement.hpp"
#include "dataplane/policy_worker.hpp"
#include "dataplane/router.hpp"
#include "dataplane/telemetry.hpp"
#include "experience/objective.hpp"
#include "dataplane/telemetry_changes.hpp"

using namespace dualpilot;

namespace {

std::atomic<bool> stop_requested{false};

std::atomic<bool> reload_requested{false};

void on_signal(int) { stop_requested.store(true, std::memory_order_relaxed); }

// The objective (sim/objective.hpp) of each shaped AQM port over the run:
// its queues' delays as the objective scores them (each forwarded packet's
// sojourn, each drop at its wait plus drop_penalty_ms, as the simulator
// scores them), one line a queue, and its utilisation, tx bytes over the
// shaper's rate for the run's time. The router sees no flows: no Jain term.
std::vector<std::string> objective_lines(const dataplane::Router &router, const experience::Objective &objective,
					 uint64_t run_ns)
{
	std::vector<std::string> lines;
	const auto penalty_ns = static_cast<uint64_t>(objective.drop_penalty_ms * 1e6);
	for (size_t i = 0; i < router.ports().size(); i++) {
		const dataplane::Port &p = router.ports()[i];
		const uint64_t rate = p.cfg.rate_bps ? p.cfg.rate_bps : p.sizing_rate_bps;
		if (!router.queue(i).aqm || rate == 0 || run_ns == 0)
			continue;
		experience::ObjectiveInputs in;
		for (int q = 1; q >= 0; q--) {
			const aqm::DelayHistogram scored = router.scored_delay(i, q, penalty_ns);
			in.queue[q].present = scored.count() > 0;
			in.queue[q].p50_ms = scored.percentile_ns(0.5) / 1e6;
			in.queue[q].p99_ms = scored.percentile_ns(0.99) / 1e6;
			if (in.queue[q].present)
				lines.push_back(fmt::format("{} {} queue scored delay: p50 {:.3f} ms p99 {:.3f} ms ({} drops at their "
							    "wait + {:g} ms)",
							    p.cfg.name, q == 1 ? "L4S" : "Classic", in.queue[q].p50_ms,
							    in.queue[q].p99_ms, scored.count() - router.sojourn(i, q).count(),
							    objective.drop_penalty_ms));
		}
		in.utilisation = std::min(1.0, router.port_stats(i).tx_bytes * 8e9 / (static_cast<double>(rate) * run_ns));
		lines.push_back(p.cfg.name + " " + experience::objective_line(in, objective));
	}
	return lines;
}
void on_hangup(int) { reload_requested.store(true, std::memory_order_relaxed); }

// --check-host: what the host lacks for this config, each item named with
// how to provide it. Exit status 0 when nothing is missing.
int check_host(const dataplane::RouterConfig &cfg, const std::vector<std::string> &eal_args)
{
	dataplane::HostNeeds needs;
	for (const std::string &a : eal_args)
		needs.hugepages = needs.hugepages && a != "--no-huge";
	for (const auto &p : cfg.ports) {
		if (!p.device.starts_with("net_"))
			needs.pci_devices.push_back(p.device.substr(0, p.device.find(',')));
		else if (const std::string iface = dataplane::vdev_arg(p.device, "iface"); !iface.empty())
			needs.interfaces.push_back(iface);
	}
	int missing = 0;
	for (const dataplane::HostCheck &c : dataplane::check_host(needs)) {
		fmt::print("{:8} {}: {}\n", c.ok ? "ok" : "MISSING", c.what, c.detail);
		missing += !c.ok;
	}
	if (missing)
		fmt::print("{} missing: the router would not start\n", missing);
	else
		fmt::print("the host has what this config needs\n");
	return missing ? 1 : 0;
}

// Checks the cores the EAL args name against the ports' NUMA nodes, or picks
// them with hwloc and adds -l to eal_args. Error text or empty.
[[nodiscard]] std::string place(const dataplane::RouterConfig &cfg, std::vector<std::string> &eal_args)
{
	dataplane::PlacementRequest req;
	req.workers = cfg.workers;
	req.service = cfg.policy.mode != dataplane::PolicyMode::off || cfg.policy.sampling() ? 1 : 0;
	req.allow_cross_numa = cfg.allow_cross_numa;
	bool unchecked = false;
	if (std::string err = dataplane::eal_cores(eal_args, req.eal_cores, unchecked); !err.empty())
		return "EAL args: " + err;
	if (unchecked) {
		fmt::print("placement: --lcores given; cores taken as they are, NUMA locality not checked\n");
		return {};
	}
	for (const auto &p : cfg.ports)
		req.ports.push_back({p.name, dataplane::device_numa_node(p.device)});
	std::vector<dataplane::Cpu> cpus;
	if (std::string err = dataplane::load_cpus(cpus); !err.empty())
		return err;
	const dataplane::Placement pl = dataplane::plan_placement(cpus, req);
	if (!pl.error.empty())
		return pl.error;
	for (const std::string &n : pl.notes)
		fmt::print("{}\n", n);
	if (req.eal_cores.empty()) {
		std::string list;
		for (unsigned c : pl.cores)
			list += (list.empty() ? "" : ",") + std::to_string(c);
		eal_args.insert(eal_args.end(), {"-l", list});
	}
	return {};
}

// What main's steps share: the command line's choices.
struct Options {
	std::string config_path;
	bool check_only = false;
	bool check_host_only = false;
};

// The lcores the router runs on: the first [router] workers worker lcores run
// the packet path; one more, if there is one, runs the policy worker.
struct Lcores {
	std::vector<unsigned> workers;
	unsigned service = UINT32_MAX; // UINT32_MAX: none; the main lcore serves
};

// The tool's own arguments (the EAL's come after "--"). An exit status when
// the process should stop here (--help, a parse error).
std::optional<int> parse_command_line(common::CommandLine &cmd, Options &o)
{
	CLI::App app{"dualpilot-router: a DPDK software router running DualPI2 (RFC 9332) per egress port"};
	app.add_option("--config", o.config_path, "router config (TOML); see configs/router.example.toml")->required();
	app.add_flag("--check", o.check_only, "check the config and exit");
	app.add_flag("--check-host", o.check_host_only,
		     "check that the host has what the config needs (hugepages, hugetlbfs, NIC drivers; FreeBSD: contigmem, "
		     "nic_uio), name what is missing, and exit (1 if anything is)");
	app.footer("EAL arguments after --, the tool's own before it.\n" +
		   common::example({"dualpilot-router --config configs/router.example.toml --check",
				    "dualpilot-router --config r.toml -- -l 0-1 --no-huge -m 1024"}));
	try {
		app.parse(static_cast<int>(cmd.own.size()), cmd.own.data());
	} catch (const CLI::ParseError &e) {
		return app.exit(e);
	}
	return std::nullopt;
}

// The router's config and its [objective] (how the summary scores the run),
// both from one reading of the file. Error text or empty.
[[nodiscard]] std::string read_config(const std::string &path, dataplane::RouterConfig &cfg, experience::Objective &objective)
{
	std::string text;
	if (std::string err = common::read_file(path, "config file", text); !err.empty())
		return err;
	if (std::string err = dataplane::parse_router_config(text, path, cfg); !err.empty())
		return err;
	return experience::parse_objective(text, path, objective);
}

bool start_eal(std::vector<std::string> eal_args)
{
	eal_args.insert(eal_args.begin(), "dualpilot-router");
	std::vector<char *> eal_argv;
	for (std::string &a : eal_args)
		eal_argv.push_back(a.data());
	if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
		fmt::print(stderr, "error: EAL initialisation failed ({}); see the EAL messages above. {}\n",
			   rte_errno ? rte_strerror(rte_errno) : "no reason given", dataplane::second_process_hint());
		return false;
	}
	return true;
}

Lcores assign_lcores(const dataplane::RouterConfig &cfg)
{
	Lcores l;
	unsigned lcore = 0;
	RTE_LCORE_FOREACH_WORKER(lcore)
	{
		if (l.workers.size() < cfg.workers)
			l.workers.push_back(lcore);
		else if (l.service == UINT32_MAX)
			l.service = lcore;
	}
	return l;
}

// The policy worker (when the config runs a policy or samples) and the
// telemetry commands. Whether the policy worker runs.
bool start_policy_and_telemetry(const dataplane::RouterConfig &cfg, const experience::Objective &objective,
				dataplane::Router &router, dataplane::PolicyWorker &policy)
{
	const bool policy_on = cfg.policy.mode != dataplane::PolicyMode::off || cfg.policy.sampling();
	if (policy_on) {
		policy.set_objective(objective);
		policy.init(cfg.policy, router);
		if (!policy.error().empty())
			fmt::print(stderr, "warning: {}\n", policy.error());
	}
	if (std::string err = dataplane::publish_telemetry(&router, policy_on ? &policy : nullptr); !err.empty())
		fmt::print(stderr, "warning: {}\n", err);
	if (std::string err = dataplane::publish_telemetry_changes(&router, policy_on ? &policy : nullptr,
								   cfg.telemetry_allow_changes);
	    !err.empty())
		fmt::print(stderr, "warning: {}\n", err);
	return policy_on;
}

void print_plan(const dataplane::RouterConfig &cfg, const dataplane::Router &router,
		const dataplane::PolicyWorker *policy, unsigned service_lcore)
{
	fmt::print("dualpilot-router: {} ports, forwarding (Ctrl-C to stop)\n", router.ports().size());
	for (const auto &p : router.ports())
		fmt::print("  {} = {} (port {}), egress {} at {}{}{}\n", p.cfg.name, p.cfg.device, p.port_id, p.cfg.aqm,
			   p.cfg.rate_bps ? fmt::format("{:g} Mbit/s", p.cfg.rate_bps / 1e6) : "line rate",
			   p.cfg.delay_ns ? ", then a delay of " + aqm::format_time(p.cfg.delay_ns) : "",
			   p.queues > 1 ? fmt::format(", over {} egress queues", p.queues) : "");
	std::fflush(stdout);
	for (const auto &w : router.workers())
		fmt::print("  worker on lcore {}: {} rx queue(s), {} egress queue(s)\n", w.lcore, w.rx.size(),
			   w.egress.size());
	std::fflush(stdout);
	if (policy && policy->tuning())
		fmt::print("  policy worker on lcore {}: mode {}, backend {}, tuning {} every {}\n",
			   service_lcore == UINT32_MAX ? rte_lcore_id() : service_lcore,
			   dataplane::to_string(policy->mode()), policy->backend_name(),
			   fmt::join(cfg.policy.tune_ports, " "), aqm::format_time(cfg.policy.tune.interval_ns));
	else if (policy)
		fmt::print("  policy worker on lcore {}: mode {}{}, backend {}, a sample every {} packets\n",
			   service_lcore == UINT32_MAX ? rte_lcore_id() : service_lcore,
			   dataplane::to_string(policy->mode()),
			   policy->mode() == dataplane::PolicyMode::off ? " (sampling only)" : "",
			   policy->backend_name(), cfg.policy.inference_interval);
	std::fflush(stdout);
}

// The policy lcore's loop body: a SIGHUP's reload of the configured model,
// then a poll. An idle policy worker naps 50 us: samples wait in the rings
// that long at most (a PI update is 16 ms), and the workers' ring cache lines
// are not pulled back and forth by a consumer spinning on them.
dataplane::Router::ServiceFn policy_service(dataplane::PolicyWorker &policy, const dataplane::RouterConfig &cfg)
{
	return [&policy, &cfg](uint64_t now) {
		if (reload_requested.exchange(false, std::memory_order_relaxed)) {
			dataplane::PolicyChange reload;
			reload.model = cfg.policy.model;
			// request_change posts the reload (the next poll loads it), or
			// refuses it while an earlier change still waits.
			if (cfg.policy.model.empty())
				fmt::print(stderr, "SIGHUP: no [policy] model configured: nothing to reload\n");
			else if (const auto r = policy.request_change(reload, std::chrono::milliseconds(0)); !r.ok)
				fmt::print(stderr, "SIGHUP: model not reloaded: {}\n", r.error);
		}
		if (policy.poll(now) == 0 && !policy.busy()) // a GPU pass in flight: keep polling for it
			rte_delay_us_sleep(dataplane::kPolicyIdleNapUs);
	};
}

// What the workers sampled last (a poll takes a bounded share), then the
// pool's last writes.
void drain_policy(dataplane::PolicyWorker &policy, const dataplane::Router &router)
{
	while (policy.poll(router.now_ns()) > 0)
		;
	policy.flush(router.now_ns());
}

// The summary, the objective per port, the policy's summary and what was
// still queued.
void report(dataplane::Router &router, const experience::Objective &objective, uint64_t run_ns,
	    dataplane::PolicyWorker *policy)
{
	const uint64_t left = router.queued_pkts();
	fmt::print("\n{}", router.summary());
	for (const std::string &line : objective_lines(router, objective, run_ns))
		fmt::print("{}\n", line);
	if (policy) {
		fmt::print("{}", policy->summary());
		if (std::string err = policy->finish(); !err.empty())
			fmt::print(stderr, "error: experience pool: {}\n", err);
	}
	if (left)
		fmt::print("{} packets were still queued at exit and were freed\n", left);
}

void close_router(dataplane::Router &router)
{
	router.shutdown();
	for (const auto &p : router.ports())
		rte_eth_dev_close(p.port_id);
	rte_pdump_uninit();
	rte_eal_cleanup();
}

} // namespace

int main(int argc, char **argv)
{
	// Everything after "--" belongs to the EAL and replaces [eal] args.
	common::CommandLine cmd = common::split_command_line(argc, argv);
	Options opt;
	if (std::optional<int> exit_status = parse_command_line(cmd, opt))
		return *exit_status;
	dataplane::RouterConfig cfg;
	experience::Objective objective;
	if (std::string err = read_config(opt.config_path, cfg, objective); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 2;
	}
	std::vector<std::string> eal_args = cmd.eal.empty() ? cfg.eal_args : cmd.eal;
	if (opt.check_host_only)
		return check_host(cfg, eal_args);
	if (std::string err = place(cfg, eal_args); !err.empty()) {
		fmt::print(stderr, "error: placement: {}\n", err);
		return 2;
	}
	if (opt.check_only) {
		fmt::print("{}: ok, {} ports\n", opt.config_path, cfg.ports.size());
		return 0;
	}
	if (!start_eal(eal_args))
		return 1;
	std::signal(SIGINT, on_signal);
	std::signal(SIGTERM, on_signal);
	// Secondary processes (dpdk-dumpcap, dpdk-pdump) capture through it.
	if (rte_pdump_init() != 0)
		fmt::print(stderr, "warning: rte_pdump_init failed ({}): dpdk-dumpcap cannot capture\n",
			   rte_strerror(rte_errno));

	const Lcores lcores = assign_lcores(cfg);
	dataplane::Router router;
	if (std::string err = router.init(cfg, lcores.workers); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		router.shutdown();
		rte_eal_cleanup();
		return 1;
	}
	for (const std::string &w : router.warnings())
		fmt::print(stderr, "warning: {}\n", w);
	dataplane::PolicyWorker policy;
	const bool policy_on = start_policy_and_telemetry(cfg, objective, router, policy);
	// SIGHUP: the configured model again, from the policy lcore's loop.
	std::signal(SIGHUP, policy_on ? on_hangup : SIG_IGN);
	print_plan(cfg, router, policy_on ? &policy : nullptr, lcores.service);

	const uint64_t started_ns = router.now_ns(); // the objective's utilisation is over the run
	router.run(stop_requested, 100000000, policy_on ? policy_service(policy, cfg) : dataplane::Router::ServiceFn{},
		   lcores.service);
	if (policy_on)
		drain_policy(policy, router);
	dataplane::publish_telemetry_changes(nullptr);
	dataplane::publish_telemetry(nullptr);

	report(router, objective, router.now_ns() - started_ns, policy_on ? &policy : nullptr);
	close_router(router);
	return 0;
}
