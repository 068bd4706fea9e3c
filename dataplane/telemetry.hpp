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
#include <string>

namespace dualpilot::dataplane {

class Router;
class PolicyWorker;

// Makes router (and its policy worker, if any) the one the commands answer
// about. Registers the commands on first use. Error text or empty.
[[nodiscard]] std::string publish_telemetry(const Router *router, const PolicyWorker *policy = nullptr);
// Withdraws the router (before it is torn down): the commands then say that
// none is running. Registers nothing, so nothing can fail.
void publish_telemetry(std::nullptr_t);

} // namespace dualpilot::dataplane
