// The validation of live changes (live_changes.hpp); posting them to the
// workers and applying them is the router's side (router_changes.cpp).
#include "dataplane/live_changes.hpp"

#include <fmt/format.h>

#include <vector>

namespace dualpilot::dataplane {

namespace {

std::string value_of(std::span<const aqm::Setting> settings, std::string_view key)
{
	std::string v = "default";
	for (const aqm::Setting &s : settings)
		if (s.key == key)
			v = s.value.empty() ? "set" : s.value;
	return v;
}

AqmParams params_of(const aqm::AnyAqm &q)
{
	return std::visit([](const auto &a) -> AqmParams { return a.params(); }, q);
}

// "key old -> new" for each setting, for the operator's log.
std::string changed_values(std::span<const aqm::Setting> current, std::span<const aqm::Setting> settings)
{
	std::string changed;
	for (const aqm::Setting &s : settings)
		changed += fmt::format("{}{} {} -> {}", changed.empty() ? "" : ", ", s.key, value_of(current, s.key),
				       s.value.empty() ? "set" : s.value);
	return changed;
}

} // namespace

std::string check_aqm_change(const PortConfig &port, const aqm::AnyAqm &running, uint32_t limit_pkts, int seed,
			     std::span<const aqm::Setting> settings, AqmChange &change)
{
	if (settings.empty())
		return "no parameters given: /dualpilot/aqm/set,<port>,<key>=<value>[,...]";
	// What the port runs with: its config, the limit the router sized, then
	// the changes.
	std::vector<aqm::Setting> current = port.aqm_params;
	current.push_back({"limit", std::to_string(limit_pkts)});
	std::vector<aqm::Setting> next = current;
	next.insert(next.end(), settings.begin(), settings.end());
	aqm::AqmOrError built = aqm::make_aqm(port.aqm, next, seed);
	if (!built.error.empty())
		return fmt::format("port '{}': {}", port.name, built.error);
	const uint32_t limit = std::visit([](const auto &a) { return a.params().limit_pkts; }, *built.aqm);
	// The capacity was fixed at start-up and never changes: a plain read.
	const uint32_t capacity = std::visit([](const auto &a) { return a.queue_capacity_pkts(); }, running);
	if (limit > capacity)
		return fmt::format("port '{}': {}: limit {} is above the {} packets this queue was allocated at "
				   "start-up; a larger limit needs a restart",
				   port.name, port.aqm, limit, capacity);
	const aqm::AqmOrError before = aqm::make_aqm(port.aqm, current, seed);
	change.params = params_of(*built.aqm);
	change.limit_pkts = limit;
	change.log = fmt::format("aqm/set port '{}': {} (was: {}; now: {})", port.name, changed_values(current, settings),
				 before.error.empty() ? aqm::describe(*before.aqm) : "?", aqm::describe(*built.aqm));
	return {};
}

std::string check_inference_interval(uint32_t interval)
{
	if (interval == 0)
		return "inference_interval: 0 turns sampling off, and the policy sees nothing";
	if (interval > 1000000)
		return "inference_interval: must be at most 1000000";
	return {};
}

} // namespace dualpilot::dataplane
