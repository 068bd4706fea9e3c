// The router's configuration, from TOML (configs/router.example.toml lists
// every key). Everything is checked before the router starts: an unknown key,
// a wrong type or a value out of range is an error naming the file, the line
// and the key, and the router does not start.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "aqm/aqm.hpp"
#include "common/enum_names.hpp"
#include "gpu/gemm_precision.hpp"
#include "policy/guard_rails.hpp"
#include "policy/pilot_profile.hpp"
#include "policy/tune.hpp"

namespace dualpilot::dataplane {

// The ports a router can have (DPDK's default RTE_MAX_ETHPORTS is 32), and
// the egress queues of all ports together: an egress queue is one bit in a
// 32-bit mask on the fast path. A port has at most kMaxEgressQueuesPerPort.
inline constexpr size_t kMaxPorts = 32;
inline constexpr size_t kMaxEgressQueues = 32;
inline constexpr uint32_t kMaxEgressQueuesPerPort = 16;

// Each choice's words in the order of its values (common/enum_names.hpp).
enum class RouterMode : uint8_t { l2_pair, l3 };
inline constexpr const char *kRouterModeNames[] = {"l2-pair", "l3"};

struct PortConfig {
	std::string name;
	std::string device;          // a PCI address (0000:3b:00.0) or a vdev (net_ring0, net_af_packet0,iface=veth0)
	std::string peer;            // l2-pair: frames received here leave by this port
	uint64_t rate_bps = 0;       // egress shaper; 0 = line rate ("line")
	uint32_t burst_bytes = 3028; // shaper burst, at least: two full frames (the bucket also covers a
	                             // poll period and 32 frames at high rates: Shaper::bucket_bytes)
	// Bytes each frame costs the shaper beyond its length: preamble, SFD,
	// IFG and FCS, 24 on an Ethernet wire. kOverheadAuto: 24 on a PCI
	// device, 0 on a vdev (net_ring, net_null, memif, af_packet/af_xdp on
	// a veth: no wire, so the shaped rate is the frames' rate).
	static constexpr int32_t kOverheadAuto = -1;
	int32_t overhead_bytes = kOverheadAuto;
	uint64_t delay_ns = 0;       // egress propagation delay after the shaper (dataplane/delay_line.hpp)
	std::string aqm = "dualpi2";
	std::vector<aqm::Setting> aqm_params; // [ports.dualpi2] etc., tc names
	uint16_t rx_queues = 1;
	// Egress queues (tx queues), each with its own AQM and owner worker,
	// flows spread over them by hash, a shaped port's rate shared through
	// one bucket (docs/router.md, "Egress queues").
	uint16_t egress_queues = 1;
};

struct RouteConfig {
	bool ipv6 = false;
	std::array<uint8_t, 16> prefix{}; // network order; IPv4 in the first 4 bytes
	uint8_t prefix_len = 0;
	std::string port;
	std::array<uint8_t, 6> next_hop_mac{};
};

enum class PolicyMode : uint8_t { off, shadow, enforce };
inline constexpr const char *kPolicyModeNames[] = {"off", "shadow", "enforce"};

// [policy] backend: where the model runs; none samples (and writes pools) only.
enum class PolicyBackend : uint8_t { cpu, gpu, none };
inline constexpr const char *kPolicyBackendNames[] = {"cpu", "gpu", "none"};

// [policy] gpu_fallback: what carries on when the GPU is not there or fails.
enum class GpuFallback : uint8_t { cpu, none };
inline constexpr const char *kGpuFallbackNames[] = {"cpu", "none"};

inline const char *to_string(RouterMode m) { return kRouterModeNames[static_cast<size_t>(m)]; }
inline const char *to_string(PolicyMode m) { return kPolicyModeNames[static_cast<size_t>(m)]; }
inline const char *to_string(PolicyBackend b) { return kPolicyBackendNames[static_cast<size_t>(b)]; }
inline const char *to_string(GpuFallback f) { return kGpuFallbackNames[static_cast<size_t>(f)]; }

// [policy]: the learned policy beside DualPI2 (docs/pilot.md; every key:
// docs/configuration.md, "`[policy]`").
struct PolicyConfig {
	PolicyMode mode = PolicyMode::off;
	PolicyBackend backend = PolicyBackend::cpu;
	std::string model;                  // .dpm file
	// Sample every N packets of a queue; 0 = no sampling. This default and
	// override_ttl's are the pilot profile's (configs/pilot/profile.toml).
	uint32_t inference_interval = policy::pilot_profile::kInferenceInterval;
	uint32_t ring_size = 4096;          // samples per worker ring (a power of two)
	uint32_t batch_max = 256;           // queues per forward pass
	uint64_t override_ttl_ns = policy::pilot_profile::kOverrideTtlNs; // an override not refreshed within this expires
	policy::GuardRails guard;           // enforce: min_delay and max_prob (policy/guard_rails.hpp)
	std::string pool_out;               // write the sampled states here as an experience pool at exit
	uint64_t pool_max_entries = 5000000;
	// Rotation (docs/training.md, "Pools from a fleet"): with either set,
	// pool_out is a directory and each egress port's pool is written there,
	// atomically, whenever its .dpp file would reach pool_rotate bytes or its
	// first sample is pool_rotate_time old (or it holds pool_max_entries).
	uint64_t pool_rotate_bytes = 0;     // 0: not by size
	uint64_t pool_rotate_ns = 0;        // 0: not by time
	// backend "gpu" (gpu/engine.hpp): the device, the matrix products'
	// arithmetic (fp32 | tf32 | bf16), graph replay (false: each kernel
	// launched, for comparison), and what carries on when the GPU is not
	// there or fails: the cpu backend, or none (the AQMs alone).
	uint32_t gpu_device = 0;
	gpu::Precision gpu_precision = gpu::Precision::tf32;
	bool gpu_graphs = true;
	GpuFallback gpu_fallback = GpuFallback::cpu;
	// action "tune" (issue 27; docs/pilot.md, "The tuner"): the model sets
	// each tuned port's DualPI2 settings every tune_interval instead of
	// overriding verdicts. [policy.tune]: the table, the rails, the harm
	// guard (policy/tune.hpp), and the ports it tunes (their names; every
	// dualpi2 port where the config names none, each checked to be one).
	policy::PilotAction action = policy::PilotAction::verdict;
	policy::TuneConfig tune;
	std::vector<std::string> tune_ports;

	bool pool_rotates() const { return pool_rotate_bytes > 0 || pool_rotate_ns > 0; }
	// The verdict pilot samples packets; the tuner counts steps instead.
	bool sampling() const
	{
		return action == policy::PilotAction::verdict && inference_interval > 0 &&
		       (mode != PolicyMode::off || !pool_out.empty());
	}
	bool tuning() const { return action == policy::PilotAction::tune && mode != PolicyMode::off; }
};

struct RouterConfig {
	std::vector<std::string> eal_args;
	// [router] name: names the rotated pool files; the host's name by default.
	std::string name;
	RouterMode mode = RouterMode::l2_pair;
	uint32_t burst = 32;
	// The pool must hold every queue's limit, or it, not the AQM, bounds
	// them. 0 ("auto"): sized to the queues' limits, descriptors and rings.
	uint32_t mbufs = 0;
	// What limit = "auto" may spend on queued mbufs, all ports together
	// (docs/router.md, "Queue sizing").
	uint64_t queue_memory_bytes = 256ull << 20;
	uint64_t stats_interval_ns = 0;     // one-line stats every so often; 0 = off
	uint32_t workers = 1;               // worker lcores; placed by hwloc unless the EAL args name cores
	bool allow_cross_numa = false;      // run even where a worker is not on its ports' NUMA node
	// A burst that meets an empty queue with nothing to decide (DualPI2 at
	// p' = 0, a FIFO) goes straight to tx, with the counters the full path
	// would have kept (Router::pass_through). false: every packet is queued
	// and dequeued (for comparing the two).
	bool empty_queue_bypass = true;
	std::vector<PortConfig> ports;
	std::vector<RouteConfig> routes;    // l3 mode
	PolicyConfig policy;
	// [telemetry] allow_changes: the commands that change a running router
	// (/dualpilot/policy/reload, /dualpilot/policy/set, /dualpilot/aqm/set)
	// are refused unless this is true; the read-only ones always answer.
	bool telemetry_allow_changes = false;
};

[[nodiscard]] std::string load_router_config(const std::string &path, RouterConfig &out);
[[nodiscard]] std::string parse_router_config(std::string_view text, const std::string &origin, RouterConfig &out);

// "aa:bb:cc:dd:ee:ff" and "10.0.0.0/8", "2001:db8::/32"; error text or empty.
[[nodiscard]] std::string parse_mac(std::string_view text, std::array<uint8_t, 6> &out);
[[nodiscard]] std::string parse_prefix(std::string_view text, RouteConfig &out);

// The shaper overhead a port gets: its own, or for kOverheadAuto 24 bytes on
// a PCI device and 0 on a vdev (a device name starting "net_").
uint32_t effective_overhead_bytes(const PortConfig &p);

} // namespace dualpilot::dataplane
