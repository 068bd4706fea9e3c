// bench-sim: simulated packets per second of wall time on one core, on the
// 60 s, 1 Gbit/s scenario (configs/scenarios/gigabit-mixed.toml, ~5 M
// packets through DualPI2), without and with the experience pool recorded.
// Goal: the scenario in at most 30 s. Last line: sim_pkts_per_s: X.
#include <fmt/core.h>

#include <chrono>
#include <string>

#include "sim/scenario.hpp"
#include "sim/simulation.hpp"

using namespace dualpilot;

namespace {

struct Timing {
	double wall_s;
	uint64_t packets;
	uint64_t events;
	size_t pool_entries;
};

Timing time_run(const sim::Scenario &sc, bool pool)
{
	auto built = aqm::make_aqm("dualpi2", {}, 1);
	sim::RunOptions opt;
	opt.record_pool = pool;
	const auto t0 = std::chrono::steady_clock::now();
	const sim::RunResult r = sim::run_scenario(sc, std::move(*built.aqm), opt);
	const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
	return {wall, r.packets, r.events, r.pool.size()};
}

} // namespace

int main(int argc, char **argv)
{
	const std::string path = argc > 1 ? argv[1] : DUALPILOT_SOURCE_DIR "/configs/scenarios/gigabit-mixed.toml";
	sim::Scenario sc;
	if (std::string err = sim::load_scenario(path, sc); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 2;
	}
	fmt::print("scenario {}: {} over {:g} s at {:g} Mbit/s\n", sc.name, sc.description, sc.duration_ns / 1e9,
		   sc.rate_bps / 1e6);
	const Timing plain = time_run(sc, false);
	const Timing pooled = time_run(sc, true);
	for (const auto &[name, t] : {std::pair{"no pool", plain}, std::pair{"with pool", pooled}})
		fmt::print("{:<10} {:>9} packets {:>10} events {:7.2f} s wall  {:>6.2f} M pkts/s  {:>6.2f} M events/s  "
			   "pool {} entries\n",
			   name, t.packets, t.events, t.wall_s, t.packets / t.wall_s / 1e6, t.events / t.wall_s / 1e6,
			   t.pool_entries);
	fmt::print("sim_wall_s: {:.2f}\n", plain.wall_s);
	fmt::print("sim_pkts_per_s: {:.0f}\n", plain.packets / plain.wall_s);
	return 0;
}
