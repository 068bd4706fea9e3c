// The router's rte_telemetry commands, read with DPDK's dpdk-telemetry.py
// (or anything that speaks its socket):
//   /dualpilot/ports          the port names
//   /dualpilot/stats          per port: packet and drop counters, queue, sojourn percentiles
//   /dualpilot/aqm,<port>     one port's AQM: parameters, per-queue counters, controller state
//   /dualpilot/policy         the policy worker: mode, samples, decisions, decision time,
//                             overrides, and in shadow mode agreement with the AQM
// Values are integers: times in ns, probabilities in parts per million.
#pragma once

#include <cstddef>
#include <span>
#include <string>

struct rte_tel_data;

namespace dualpilot::dataplane {

class Router;
class PolicyWorker;

// One rte_telemetry command and whether it is registered yet.
struct TelemetryCommand {
	const char *name;
	int (*fn)(const char *cmd, const char *params, rte_tel_data *d);
	const char *help;
	bool registered = false;
};
// Registers the commands not yet registered, each once: after a failure the
// next call retries only the ones that failed. Error text naming the first
// that failed, or empty.
[[nodiscard]] std::string register_telemetry_commands(std::span<TelemetryCommand> commands);

// Makes router (and its policy worker, if any) the one the commands answer
// about. Registers the commands on first use. Error text or empty.
[[nodiscard]] std::string publish_telemetry(const Router *router, const PolicyWorker *policy = nullptr);
// Withdraws the router (before it is torn down): the commands then say that
// none is running. Registers nothing, so nothing can fail.
void publish_telemetry(std::nullptr_t);

} // namespace dualpilot::dataplane
