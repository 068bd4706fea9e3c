// [policy] action = "tune" and its [policy.tune] table (issue 27;
// docs/configuration.md, "[policy.tune]"): read and checked apart from the
// rest of the config, as the tuner's own table. Internal to config.cpp.
#pragma once

#include <set>
#include <string>

#include "common/toml_reader.hpp"
#include "dataplane/config.hpp"

namespace dualpilot::dataplane {

// [policy] action and, when present, [policy.tune] into p; the table's values
// checked together by policy::check_tune_config, its error placed at the key
// it names. False with r.error set.
[[nodiscard]] bool read_policy_action(common::TomlReader &r, const toml::table &policy, PolicyConfig &p);

// Once the ports are read: the tuned ports exist and run dualpi2 (every
// dualpi2 port where [policy.tune] ports names none, at least one).
[[nodiscard]] bool check_tuned_ports(common::TomlReader &r, const toml::table &root, RouterConfig &c);

} // namespace dualpilot::dataplane
