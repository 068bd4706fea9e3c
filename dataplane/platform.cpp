// The portable half of the platform boundary: device locality from hwloc's
// I/O objects (PCI devices and the OS devices below them), which hwloc
// discovers on Linux and on FreeBSD alike.
#include "dataplane/platform.hpp"

#include <hwloc.h>

namespace dualpilot::dataplane {

namespace {

// The NUMA node hwloc places a PCI device or kernel interface on: found is
// false where hwloc has no such I/O object (built without PCI discovery, a
// vdev) or places it below several nodes, so that the platform's own source
// is asked instead.
int hwloc_device_node(const std::string &device, bool &found)
{
	found = false;
	hwloc_topology_t topo = nullptr;
	if (hwloc_topology_init(&topo) != 0)
		return -1;
	hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
	int node = -1;
	if (hwloc_topology_load(topo) == 0) {
		const std::string name = device.substr(0, device.find(','));
		hwloc_obj_t obj = hwloc_get_pcidev_by_busidstring(topo, name.c_str());
		const std::string iface = vdev_arg(device, "iface");
		for (hwloc_obj_t os = nullptr; !obj && !iface.empty() && (os = hwloc_get_next_osdev(topo, os));)
			if (os->name && iface == os->name)
				obj = os;
		const int nodes = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
		const hwloc_obj_t cpuside = obj ? hwloc_get_non_io_ancestor_obj(topo, obj) : nullptr;
		if (obj && nodes <= 1) {
			found = true; // one node: no locality to speak of (-1, as the kernel says it)
		} else if (cpuside && cpuside->nodeset && hwloc_bitmap_weight(cpuside->nodeset) == 1) {
			found = true;
			node = hwloc_bitmap_first(cpuside->nodeset);
		}
		// Otherwise the device hangs below an object that spans several
		// nodes: hwloc does not know its locality. Its FreeBSD backend
		// attaches every PCI device to the machine root, whose nodeset is
		// all nodes; node 0 taken from it would be a guess. The platform's
		// own source is asked instead (FreeBSD: the %domain sysctl).
	}
	hwloc_topology_destroy(topo);
	return node;
}

} // namespace

std::string vdev_arg(const std::string &device, const std::string &key)
{
	size_t at = 0;
	while ((at = device.find(',', at)) != std::string::npos) {
		at++;
		if (device.compare(at, key.size(), key) == 0 && device.size() > at + key.size() &&
		    device[at + key.size()] == '=') {
			const size_t start = at + key.size() + 1;
			return device.substr(start, device.find(',', start) - start);
		}
	}
	return {};
}

int device_numa_node(const std::string &device)
{
	const std::string iface = vdev_arg(device, "iface");
	if (iface.find('/') != std::string::npos || iface == "..")
		return -1;
	bool found = false;
	const int node = hwloc_device_node(device, found);
	return found ? node : platform_device_numa_node(device);
}

} // namespace dualpilot::dataplane
