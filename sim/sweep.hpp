// Sweeps: experience pools over a grid of bottlenecks, flow mixes and
// behaviour policies, so that offline training sees the decisions of many
// AQMs in many conditions and their consequences, not DualPI2's alone.
//
// A sweep is a [sweep] table, with the mixes as [[mix]] tables beside it (a
// scenario file with a [sweep] table is itself the one mix):
//
//   [sweep]
//   name = "train"
//   rates = ["8mbit", "20mbit", ...]        # bottleneck rates
//   rtts = ["1ms", "10ms", ...]             # base RTTs, for every flow without its own
//   behaviours = ["dualpi2", "dualpi2-random", "pie", "codel"]
//   epsilon = [0, 0.05]                     # exploration: each mark/drop decision re-drawn with this probability
//   seeds = 1                               # runs of each cell (seed, seed + 1, ...)
//   cells = 0                               # 0: the whole grid; N: N cells drawn from it (seeded)
//   seed = 1
//   duration = "10s"
//   warmup = "2s"
//
//   [[mix]]
//   name = "cubic-scalable"
//   flows = [{cc = "cubic", count = 2}, {cc = "scalable", count = 2, start = "2s"}]
//
// Behaviours: dualpi2 (tc's defaults), dualpi2-random (target, tupdate,
// alpha and beta, coupling_factor and step_thresh drawn per cell from ranges
// around the defaults, docs/simulator.md, "Sweeps"), pie, codel, fifo. Every cell is
// deterministic: the same sweep and seed give byte-identical pools.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "aqm/aqm.hpp"
#include "sim/scenario.hpp"

namespace dualpilot::sim {

struct SweepMix {
	std::string name;
	std::string flows_toml; // the [[flows]] tables, each without rtt where the cell's is meant
};

struct Sweep {
	std::string name = "sweep";
	std::vector<uint64_t> rates_bps;
	std::vector<uint64_t> rtts_ns;
	std::vector<std::string> behaviours;
	std::vector<double> epsilons{0};
	std::vector<SweepMix> mixes;
	uint32_t seeds = 1;
	uint32_t cells = 0;
	uint64_t seed = 1;
	uint64_t duration_ns = 10000000000ull;
	uint64_t warmup_ns = 2000000000ull;
	experience::Objective objective; // the file's [objective], if any
};

// One run of the grid: its scenario, AQM, settings and exploration rate.
struct SweepCell {
	std::string name; // RATE-RTT-MIX-BEHAVIOUR-eEPS-sSEED, unique in the sweep
	std::string mix, behaviour;
	uint64_t rtt_ns = 0;
	Scenario scenario;
	std::string aqm;
	std::vector<aqm::Setting> settings;
	double epsilon = 0;
	uint64_t seed = 1;
};

// Reads the [sweep] and [[mix]] tables of a file (every key checked; a
// scenario file's own flows are the mix when it has no [[mix]]). Error text
// naming file, line and key, or empty.
// no_sweep_table, when given, is set when the file parsed but has no
// [sweep] table (a plain scenario file): the caller can tell that from
// every other error without reading the message.
[[nodiscard]] std::string load_sweep(const std::string &path, Sweep &out, bool *no_sweep_table = nullptr);
[[nodiscard]] std::string parse_sweep(std::string_view text, const std::string &origin, Sweep &out,
				      bool *no_sweep_table = nullptr);

// The cells in order (rate, rtt, mix, behaviour, epsilon, seed), or the
// `cells` of them drawn without replacement by the sweep's seed. Error text
// (a cell's scenario that does not parse, a behaviour not known) or empty.
[[nodiscard]] std::string sweep_cells(const Sweep &sweep, std::vector<SweepCell> &out);

// Filtered behaviour cloning's choice (scripts/train-pilot): for each
// scenario of the grid (rate, RTT and mix), the index of the cell whose run
// scored best by the objective, whatever its behaviour, exploration or seed;
// in the order the scenarios first appear. scores[i] is cells[i]'s.
std::vector<size_t> best_cell_per_scenario(const std::vector<SweepCell> &cells, const std::vector<double> &scores);

// The held-out family's rates and RTTs (configs/heldout/*.toml): a sweep
// that would train on one of them, or on a mix or sweep named held-out, is
// refused. Error text or empty.
[[nodiscard]] std::string check_sweep_against_heldout(const Sweep &sweep, const std::string &heldout_dir);

// Training cells of a sweep file for a search or a tuner's data: `count`
// cells drawn by the sweep's seed, of one behaviour (their scenarios only:
// DualPI2, no exploration) and one seed each; the sweep refused if it
// touches the held-out family or a near twin of it. Error text or empty.
[[nodiscard]] std::string training_cells(const std::string &sweep_path, const std::string &heldout_dir, uint32_t count,
					 std::vector<Scenario> &scenarios, std::vector<uint64_t> &seeds);

} // namespace dualpilot::sim
