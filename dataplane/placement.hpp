// Where the router's threads run: the main (control) lcore and the worker
// lcores, chosen from hwloc's view of the CPUs (cores, SMT siblings, NUMA
// nodes) on the NUMA node of the ports (dataplane/platform.hpp), so that a worker
// touches only node-local descriptors, mbufs and queues. A core list that
// crosses nodes (from the EAL arguments, or forced by ports on several
// nodes) is refused with the cores and nodes named, unless the config says
// allow_cross_numa = true.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "dataplane/platform.hpp" // device_numa_node

namespace dualpilot::dataplane {

struct Cpu {
	unsigned id = 0;        // the OS's CPU number, as EAL's -l takes it
	int numa_node = 0;
	unsigned core = 0;      // physical core, to tell SMT siblings apart
	unsigned smt_rank = 0;  // 0 for the first hardware thread of its core
};

struct PortNode {
	std::string name;       // the port's name in the config
	int numa_node = -1;     // -1: unknown (a vdev), local to any node
};

struct PlacementRequest {
	unsigned workers = 1;
	unsigned service = 0;            // service lcores (the policy worker), after the workers
	std::vector<PortNode> ports;
	std::vector<unsigned> eal_cores; // the cores the EAL args name (main first); empty: choose them
	bool allow_cross_numa = false;
};

struct Placement {
	std::vector<unsigned> cores;     // main lcore first, then the workers, then any service lcore
	std::vector<std::string> notes;  // what was chosen and why, for the start-up log
	std::string error;
};

// The CPUs this process may run on, from hwloc; synthetic (for tests) is an
// hwloc synthetic topology such as "node:2 core:4 pu:2". Error text or empty.
[[nodiscard]] std::string load_cpus(std::vector<Cpu> &out, const char *synthetic = nullptr);

[[nodiscard]] Placement plan_placement(const std::vector<Cpu> &cpus, const PlacementRequest &req);

// EAL's core list syntax "0-3,8,10-11"; error text or empty.
[[nodiscard]] std::string parse_core_list(std::string_view text, std::vector<unsigned> &out);

// The cores EAL args name with -l or -c (main first), or nothing when they
// name none. --lcores maps lcores to CPU sets and is taken as given: it sets
// unchecked to true.
[[nodiscard]] std::string eal_cores(const std::vector<std::string> &eal_args, std::vector<unsigned> &out,
				    bool &unchecked);

} // namespace dualpilot::dataplane
