// Scenarios: one bottleneck and the flows through it, read from TOML
// (configs/scenarios/*.toml). Every key is checked: an unknown key, a wrong
// type or a bad value is an error naming the file, the line and the key.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "aqm/aqm.hpp"
#include "experience/objective.hpp"
#include "sim/tcp.hpp"

namespace dualpilot::sim {

struct FlowSpec {
	std::string name;
	CcKind cc = CcKind::reno;
	bool ecn = false;            // reno/cubic: ECT(0) and ECN response
	aqm::Ecn udp_ecn = aqm::Ecn::not_ect;
	uint32_t count = 1;          // parallel flows (iperf3 -P)
	uint64_t rtt_ns = 20000000;  // base round-trip time, queueing excluded
	uint64_t start_ns = 0;
	uint64_t stop_ns = 0;        // 0: runs to the end
	uint64_t udp_rate_bps = 0;   // udp only
	uint32_t udp_size_bytes = 1200;
	bool delayed_ack = true;
	// Web-like short flows (reno/cubic/scalable only): connections arrive as
	// a Poisson process of this many per second from start to stop, each
	// carrying one object of a Pareto-distributed number of packets (mean
	// mean_packets, tail index pareto_shape: heavy-tailed like web objects,
	// Crovella and Bestavros 1997) and ending when it is acknowledged.
	// 0: one long flow per count.
	double arrival_rate_per_s = 0;
	uint32_t mean_packets = 20;
	double pareto_shape = 1.3;
};

// The bottleneck's rate from at_ns on (a radio link whose rate drops, then
// recovers): [bottleneck] changes = [{at = "8s", rate = "10mbit"}, ...].
struct RateChange {
	uint64_t at_ns = 0;
	uint64_t rate_bps = 0;
};

struct Scenario {
	std::string name;
	std::string description;
	uint64_t duration_ns = 60000000000ull;
	uint64_t warmup_ns = 5000000000ull; // left out of delay and goodput statistics
	uint32_t repetitions = 1;           // runs, with seeds seed, seed + 1, ...
	uint64_t rate_bps = 0;                // from the start, until the first change
	std::vector<RateChange> rate_changes; // in time order
	uint32_t mtu_bytes = 1500;          // every TCP packet is one MTU on the wire
	std::string aqm = "dualpi2";        // used when the command line names none
	std::map<std::string, std::vector<aqm::Setting>> aqm_params; // [bottleneck.dualpi2] etc.
	uint64_t sample_interval_ns = 100000000; // utilisation samples
	std::vector<FlowSpec> flows;
	experience::Objective objective; // [objective]: how runs of it are scored
};

// Reads a scenario file. Returns an error message naming file, line and key;
// empty on success.
[[nodiscard]] std::string load_scenario(const std::string &path, Scenario &out);
// The same from text (tests, embedded scenarios); origin names it in errors.
[[nodiscard]] std::string parse_scenario(std::string_view text, const std::string &origin, Scenario &out);
// Every *.toml of a directory (configs/heldout/, configs/validation/), in
// name order, appended to out; the first file that does not parse, or a
// directory that cannot be read, is the error. An empty directory is not
// an error: the caller says whether it may be.
[[nodiscard]] std::string load_scenario_dir(const std::string &dir, std::vector<Scenario> &out);

const char *cc_name(CcKind cc);

// The bottleneck's rate at t_ns, and the bits it can carry in [from, to).
uint64_t rate_at(const Scenario &s, uint64_t t_ns);
double capacity_bits(const Scenario &s, uint64_t from_ns, uint64_t to_ns);

} // namespace dualpilot::sim
