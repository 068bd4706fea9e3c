#include "dataplane/placement.hpp"

#include <hwloc.h>

#include <algorithm>
#include <cstdlib>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <map>
#include <set>

#include "aqm/units.hpp"

namespace dualpilot::dataplane {

namespace {

struct Topology {
	hwloc_topology_t topo = nullptr;
	~Topology()
	{
		if (topo)
			hwloc_topology_destroy(topo);
	}
};

[[nodiscard]] std::string open_topology(Topology &t, const char *synthetic)
{
	if (hwloc_topology_init(&t.topo) != 0)
		return "hwloc: cannot initialise a topology";
	if (synthetic && hwloc_topology_set_synthetic(t.topo, synthetic) != 0)
		return fmt::format("hwloc: bad synthetic topology '{}'", synthetic);
	if (hwloc_topology_load(t.topo) != 0)
		return "hwloc: cannot read this machine's topology";
	return {};
}

int first_node(hwloc_const_nodeset_t set)
{
	const int n = hwloc_bitmap_first(set);
	return n < 0 ? 0 : n;
}

std::string join(const std::vector<unsigned> &v) { return fmt::format("{}", fmt::join(v, ",")); }

} // namespace

std::string load_cpus(std::vector<Cpu> &out, const char *synthetic)
{
	Topology t;
	if (std::string err = open_topology(t, synthetic); !err.empty())
		return err;
	out.clear();
	const int n = hwloc_get_nbobjs_by_type(t.topo, HWLOC_OBJ_PU);
	for (int i = 0; i < n; i++) {
		hwloc_obj_t pu = hwloc_get_obj_by_type(t.topo, HWLOC_OBJ_PU, static_cast<unsigned>(i));
		hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(t.topo, HWLOC_OBJ_CORE, pu);
		out.push_back(Cpu{pu->os_index, first_node(pu->nodeset), core ? core->logical_index : pu->logical_index,
				  core ? pu->sibling_rank : 0});
	}
	if (out.empty())
		return "hwloc: no CPUs found";
	return {};
}

std::string parse_core_list(std::string_view text, std::vector<unsigned> &out)
{
	out.clear();
	size_t at = 0;
	while (at <= text.size()) {
		const size_t comma = std::min(text.find(',', at), text.size());
		const std::string_view item = text.substr(at, comma - at);
		const size_t dash = item.find('-');
		uint32_t lo = 0, hi = 0;
		if (!aqm::parse_u32(item.substr(0, dash), lo).empty() ||
		    (dash != std::string_view::npos && !aqm::parse_u32(item.substr(dash + 1), hi).empty()))
			return fmt::format("not a core list: '{}' (expected e.g. 0-3,8)", text);
		if (dash == std::string_view::npos)
			hi = lo;
		if (hi < lo || hi > 4095)
			return fmt::format("bad core range '{}' in '{}'", item, text);
		for (uint32_t c = lo; c <= hi; c++)
			out.push_back(c);
		at = comma + 1;
	}
	return {};
}

std::string eal_cores(const std::vector<std::string> &eal_args, std::vector<unsigned> &out, bool &unchecked)
{
	out.clear();
	unchecked = false;
	for (size_t i = 0; i < eal_args.size(); i++) {
		const std::string &a = eal_args[i];
		std::string value;
		bool mask = false;
		if ((a == "-l" || a == "-c") && i + 1 < eal_args.size()) {
			value = eal_args[i + 1];
			mask = a == "-c";
		} else if (a.rfind("-l", 0) == 0 && a.size() > 2 && a[2] != '-') {
			value = a.substr(2);
		} else if (a.rfind("--lcores", 0) == 0) {
			unchecked = true;
			return {};
		} else {
			continue;
		}
		if (!mask)
			return parse_core_list(value, out);
		char *end = nullptr;
		const unsigned long long bits = std::strtoull(value.c_str(), &end, 16);
		if (value.empty() || *end != '\0')
			return fmt::format("not a core mask: '{}'", value);
		for (unsigned c = 0; c < 64; c++)
			if (bits >> c & 1)
				out.push_back(c);
		return {};
	}
	return {};
}

namespace {

// The cores the EAL args name, checked against the ports' NUMA nodes.
Placement check_given_cores(const std::map<unsigned, const Cpu *> &by_id, const PlacementRequest &req)
{
	Placement pl;
	pl.cores = req.eal_cores;
	for (unsigned id : pl.cores) {
		auto it = by_id.find(id);
		if (it == by_id.end()) {
			pl.error = fmt::format("core {} named in the EAL args is not one this process may run on", id);
			return pl;
		}
		for (const PortNode &p : req.ports) {
			if (p.numa_node < 0 || p.numa_node == it->second->numa_node || req.allow_cross_numa)
				continue;
			pl.error = fmt::format("core {} is on NUMA node {} but port '{}' is on node {}: every worker "
					       "would reach across nodes for its packets; name cores of node {} in "
					       "the EAL args, or set [router] allow_cross_numa = true",
					       id, it->second->numa_node, p.name, p.numa_node, p.numa_node);
			return pl;
		}
	}
	if (pl.cores.size() - 1 != req.workers)
		pl.notes.push_back(fmt::format("the EAL args name {} worker core(s); [router] workers = {} does "
					       "not apply", pl.cores.size() - 1, req.workers));
	return pl;
}

// The CPUs a placement picks from, in the order it takes them: the node's
// (and, with allow_cross_numa, the others' after them), one hardware thread
// per core first: SMT siblings share a core's execution units, and two
// pollers on one core slow each other down. remote: the other nodes' CPUs.
std::vector<Cpu> candidates(const std::vector<Cpu> &cpus, int node, bool cross_numa, std::vector<Cpu> &remote)
{
	std::vector<Cpu> local;
	for (const Cpu &c : cpus)
		(c.numa_node == node ? local : remote).push_back(c);
	auto order = [](const Cpu &a, const Cpu &b) {
		return a.smt_rank != b.smt_rank ? a.smt_rank < b.smt_rank : a.id < b.id;
	};
	std::sort(local.begin(), local.end(), order);
	std::sort(remote.begin(), remote.end(), order);
	std::vector<Cpu> pick = local;
	if (cross_numa)
		pick.insert(pick.end(), remote.begin(), remote.end());
	return pick;
}

} // namespace

Placement plan_placement(const std::vector<Cpu> &cpus, const PlacementRequest &req)
{
	Placement pl;
	std::map<unsigned, const Cpu *> by_id;
	for (const Cpu &c : cpus)
		by_id[c.id] = &c;
	std::set<int> port_nodes;
	for (const PortNode &p : req.ports)
		if (p.numa_node >= 0)
			port_nodes.insert(p.numa_node);

	if (!req.eal_cores.empty())
		return check_given_cores(by_id, req);

	if (port_nodes.size() > 1 && !req.allow_cross_numa) {
		pl.error = fmt::format("the ports are on NUMA nodes {}: one set of workers cannot be local to all of "
				       "them; run a router per node, or set [router] allow_cross_numa = true",
				       fmt::join(port_nodes, " and "));
		return pl;
	}
	// The node of the ports, or where none is known the first CPU's node.
	const int node = port_nodes.empty() ? cpus.front().numa_node : *port_nodes.begin();
	std::vector<Cpu> remote;
	const std::vector<Cpu> pick = candidates(cpus, node, req.allow_cross_numa, remote);
	const size_t wanted = req.workers + 1;
	if (pick.size() >= wanted) {
		for (size_t i = 0; i < wanted; i++)
			pl.cores.push_back(pick[i].id);
	} else if (req.workers == 1 && !pick.empty()) {
		// A single CPU: the worker loop runs on the main lcore.
		pl.cores.push_back(pick[0].id);
		pl.notes.push_back("one CPU only: the worker polls on the main lcore");
	} else {
		pl.error = fmt::format("NUMA node {} has {} CPU(s) for this process, {} needed (1 main + {} workers)",
				       node, pick.size(), wanted, req.workers);
		if (!req.allow_cross_numa && !remote.empty())
			pl.error += "; set [router] allow_cross_numa = true to use other nodes' CPUs";
		return pl;
	}
	std::vector<unsigned> workers(pl.cores.begin() + (pl.cores.size() > 1 ? 1 : 0), pl.cores.end());
	// Service lcores where CPUs are left; otherwise the service shares the main lcore.
	std::vector<unsigned> service;
	for (size_t i = pl.cores.size(); i < pick.size() && service.size() < req.service; i++)
		service.push_back(pick[i].id);
	pl.cores.insert(pl.cores.end(), service.begin(), service.end());
	pl.notes.push_back(fmt::format("placement: main lcore {}, workers {}{} (NUMA node {}{})", pl.cores[0],
				       join(workers),
				       req.service == 0	      ? ""
				       : service.empty() ? ", the policy worker on the main lcore (no CPU left)"
							 : ", policy worker " + join(service),
				       node, port_nodes.empty() ? ", no port with a known node" : ", the ports' node"));
	return pl;
}

} // namespace dualpilot::dataplane
