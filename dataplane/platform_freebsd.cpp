// The FreeBSD half of the platform boundary: the real readers behind
// platform_bsd.cpp's logic (sysctlbyname(3), kenv(2), access(2), flock(2),
// if_nametoindex(3)), as DPDK's FreeBSD EAL and BSD PCI bus read the same
// facts (RTE_EXEC_ENV_FREEBSD). docs/freebsd.md says how to load and tune
// contigmem and nic_uio.
#if __has_include(<rte_config.h>)
#include <rte_config.h>
#endif

#if defined(RTE_EXEC_ENV_FREEBSD) || (!defined(RTE_EXEC_ENV_LINUX) && defined(__FreeBSD__))

#include "dataplane/platform.hpp"
#include "dataplane/platform_bsd.hpp"

#include <sys/types.h>
#include <sys/file.h>
#include <sys/sysctl.h>
#include <kenv.h>
#include <net/if.h>

#include <cerrno>
#include <cstdint>
#include <fcntl.h>
#include <unistd.h>

namespace dualpilot::dataplane {

namespace {

// hw.contigmem.num_buffers is an int, hw.contigmem.buffer_size an int64_t,
// %domain an int: the length the kernel returns says which.
bool read_sysctl_int(const std::string &name, int64_t &value)
{
	union {
		int32_t i32;
		int64_t i64;
	} v{};
	size_t len = sizeof(v);
	if (sysctlbyname(name.c_str(), &v, &len, nullptr, 0) != 0)
		return false;
	if (len == sizeof(int32_t))
		value = v.i32;
	else if (len == sizeof(int64_t))
		value = v.i64;
	else
		return false;
	return true;
}

bool read_sysctl_text(const std::string &name, std::string &value)
{
	size_t len = 0;
	if (sysctlbyname(name.c_str(), nullptr, &len, nullptr, 0) != 0)
		return false;
	value.assign(len, '\0');
	if (sysctlbyname(name.c_str(), value.data(), &len, nullptr, 0) != 0)
		return false;
	value.resize(len && value[len - 1] == '\0' ? len - 1 : len);
	return true;
}

// kenv(2): the value's length with its terminating NUL, or -1.
bool read_kenv(const std::string &name, std::string &value)
{
	char buf[KENV_MVALLEN + 1] = {};
	const int len = kenv(KENV_GET, name.c_str(), buf, sizeof(buf));
	if (len < 0)
		return false;
	value = buf;
	return true;
}

int device_access(const std::string &path) { return access(path.c_str(), R_OK | W_OK) == 0 ? 0 : errno; }

// What eal_hugepage_info_init() will meet: open read-write, then
// flock(LOCK_EX | LOCK_NB). The lock is dropped again at once (close).
ContigmemProbe probe_contigmem_lock()
{
	const int fd = open("/dev/contigmem", O_RDWR);
	if (fd < 0) {
		const int err = errno;
		if (err == ENOENT)
			return {ContigmemLock::no_device, err};
		if (err == EACCES || err == EPERM)
			return {ContigmemLock::no_access, err};
		return {ContigmemLock::error, err};
	}
	ContigmemProbe probe;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0)
		probe = errno == EWOULDBLOCK ? ContigmemProbe{ContigmemLock::held, EWOULDBLOCK}
					     : ContigmemProbe{ContigmemLock::error, errno};
	close(fd);
	return probe;
}

const FreebsdHost &this_host()
{
	static const FreebsdHost host{
		read_sysctl_int,
		read_sysctl_text,
		read_kenv,
		device_access,
		probe_contigmem_lock,
		[](const std::string &iface) { return if_nametoindex(iface.c_str()) != 0; },
	};
	return host;
}

} // namespace

// hwloc's FreeBSD backend attaches PCI devices to the machine root, so on
// FreeBSD the locality comes from here (platform.cpp asks when hwloc's
// answer spans more than one node).
int platform_device_numa_node(const std::string &device) { return freebsd_device_numa_node(device, this_host()); }

std::vector<HostCheck> check_host(const HostNeeds &needs) { return freebsd_check_host(needs, this_host()); }

// The FreeBSD EAL locks /dev/contigmem exclusively
// (lib/eal/freebsd/eal_hugepage_info.c) and refuses --file-prefix.
const char *second_process_hint()
{
	return "On FreeBSD one primary DPDK process per host holds contigmem (\"could not lock memory\"): stop the "
	       "other one, or give this one --no-huge.";
}

} // namespace dualpilot::dataplane

#endif // RTE_EXEC_ENV_FREEBSD
