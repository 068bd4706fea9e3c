// dualpilot-router --config FILE [-- EAL args]
// Forwards between the configured ports through each egress port's AQM and
// shaper until SIGINT or SIGTERM, then drains, prints a summary and exits.
#include <rte_eal.h>
#include <rte_ethdev.h>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <atomic>
#include <csignal>

#include "dataplane/config.hpp"
#include "dataplane/router.hpp"

using namespace dualpilot;

namespace {

std::atomic<bool> stop_requested{false};

void on_signal(int) { stop_requested.store(true, std::memory_order_relaxed); }

} // namespace

int main(int argc, char **argv)
{
	// Everything after "--" belongs to the EAL and replaces [eal] args.
	std::vector<std::string> eal_override;
	int our_argc = argc;
	for (int i = 1; i < argc; i++) {
		if (std::string_view(argv[i]) == "--") {
			our_argc = i;
			for (int j = i + 1; j < argc; j++)
				eal_override.emplace_back(argv[j]);
			break;
		}
	}
	std::string config_path;
	bool check_only = false;
	CLI::App app{"dualpilot-router: a DPDK software router running DualPI2 (RFC 9332) per egress port"};
	app.add_option("--config", config_path, "router config (TOML); see configs/router.example.toml")->required();
	app.add_flag("--check", check_only, "check the config and exit");
	app.footer("EAL arguments after --, e.g. dualpilot-router --config r.toml -- -l 0-1 --no-huge -m 1024");
	try {
		app.parse(our_argc, argv);
	} catch (const CLI::ParseError &e) {
		return app.exit(e);
	}

	dataplane::RouterConfig cfg;
	if (std::string err = dataplane::load_router_config(config_path, cfg); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 2;
	}
	if (check_only) {
		fmt::print("{}: ok, {} ports\n", config_path, cfg.ports.size());
		return 0;
	}
	std::vector<std::string> eal_args = {"dualpilot-router"};
	const auto &extra = eal_override.empty() ? cfg.eal_args : eal_override;
	eal_args.insert(eal_args.end(), extra.begin(), extra.end());
	std::vector<char *> eal_argv;
	for (std::string &a : eal_args)
		eal_argv.push_back(a.data());
	if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
		fmt::print(stderr, "error: EAL initialisation failed ({}); see the EAL messages above. A second "
				   "DPDK process needs its own --file-prefix.\n",
			   rte_errno ? rte_strerror(rte_errno) : "no reason given");
		return 1;
	}
	std::signal(SIGINT, on_signal);
	std::signal(SIGTERM, on_signal);

	dataplane::Router router;
	if (std::string err = router.init(cfg); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		router.shutdown();
		rte_eal_cleanup();
		return 1;
	}
	for (const std::string &w : router.warnings())
		fmt::print(stderr, "warning: {}\n", w);
	fmt::print("dualpilot-router: {} ports, forwarding (Ctrl-C to stop)\n", router.ports().size());
	for (const auto &p : router.ports())
		fmt::print("  {} = {} (port {}), egress {} at {}\n", p.cfg.name, p.cfg.device, p.port_id, p.cfg.aqm,
			   p.cfg.rate_bps ? fmt::format("{:g} Mbit/s", p.cfg.rate_bps / 1e6) : "line rate");
	std::fflush(stdout);
	router.run(stop_requested);
	const uint64_t left = router.queued_pkts();
	fmt::print("\n{}", router.summary());
	if (left)
		fmt::print("{} packets were still queued at exit and were freed\n", left);
	router.shutdown();
	for (const auto &p : router.ports())
		rte_eth_dev_close(p.port_id);
	rte_eal_cleanup();
	return 0;
}
