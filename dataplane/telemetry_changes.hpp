// The rte_telemetry commands that change a running router (telemetry.hpp
// has the read-only ones): /dualpilot/policy/reload, /dualpilot/policy/set
// and /dualpilot/aqm/set, refused unless allow_changes ([telemetry]
// allow_changes in the config). See telemetry_changes.cpp for their syntax.
#pragma once

#include <cstddef>
#include <string>

namespace dualpilot::dataplane {

class Router;
class PolicyWorker;

// Makes router (and its policy worker, if any) the one the commands change.
// Registers the commands on first use. Error text or empty.
[[nodiscard]] std::string publish_telemetry_changes(Router *router, PolicyWorker *policy, bool allow_changes);
// Withdraws the router (before it is torn down): the commands then say that
// none is running. Registers nothing, so nothing can fail.
void publish_telemetry_changes(std::nullptr_t);

} // namespace dualpilot::dataplane
