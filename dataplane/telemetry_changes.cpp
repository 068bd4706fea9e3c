// The telemetry commands that change a running router. Each is refused
// unless the config says [telemetry] allow_changes = true (the socket is
// then a control interface, and whoever can open it can retune the router);
// every change accepted is logged with its old and new values.
//
//   /dualpilot/policy/reload[,<path>]     load a model (default: the one running) and swap it in
//   /dualpilot/policy/set,mode=<m>[,inference_interval=<n>]
//   /dualpilot/aqm/set,<port>,<key>=<value>[,...]   tc names, as in [ports.<aqm>]
//
// Each answers a dict: "status" ("applied"; "posted": the worker carries it
// out on its next pass; "refused") and "change" (old -> new) or "error".
#include "dataplane/telemetry_changes.hpp"

#include <rte_telemetry.h>

#include <fmt/format.h>

#include <mutex>
#include <string_view>
#include <vector>

#include "aqm/units.hpp"
#include "common/enum_names.hpp"
#include "dataplane/live_changes.hpp"
#include "dataplane/policy_worker.hpp"
#include "dataplane/router.hpp"
#include "dataplane/telemetry.hpp"

namespace dualpilot::dataplane {

namespace {

// How long a command waits for the worker or the policy lcore to carry the
// change out before it answers "posted".
constexpr std::chrono::milliseconds kApplyWait{1000};

std::mutex changes_mutex; // the router and policy worker stay while a command runs
Router *changes_router = nullptr;
PolicyWorker *changes_policy = nullptr;
bool changes_allowed = false;

std::vector<std::string_view> split(std::string_view text)
{
	std::vector<std::string_view> out;
	while (!text.empty()) {
		const size_t comma = text.find(',');
		out.push_back(text.substr(0, comma));
		text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
	}
	return out;
}

int answer(rte_tel_data *d, const ChangeResult &r)
{
	rte_tel_data_start_dict(d);
	const char *status = !r.ok ? "refused" : r.applied ? "applied" : "posted";
	rte_tel_data_add_dict_string(d, "status", status);
	const std::string &text = r.ok ? r.log : r.error;
	rte_tel_data_add_dict_string(d, r.ok ? "change" : "error", text.substr(0, RTE_TEL_MAX_STRING_LEN - 1).c_str());
	return 0;
}

// Not allowed, or no router: the reason, in the same dict.
[[nodiscard]] bool refuse(rte_tel_data *d, const char *command)
{
	ChangeResult r;
	if (!changes_router)
		r.error = "no router is running";
	else if (!changes_allowed)
		r.error = fmt::format("{} changes the router: refused unless the config sets [telemetry] allow_changes = "
				      "true", command);
	else
		return false;
	answer(d, r);
	return true;
}

int cmd_policy_reload(const char *, const char *params, rte_tel_data *d)
{
	std::lock_guard lock(changes_mutex);
	if (refuse(d, "/dualpilot/policy/reload"))
		return 0;
	ChangeResult r;
	if (!changes_policy) {
		r.error = "the router runs no policy worker ([policy] mode off, no pool_out)";
		return answer(d, r);
	}
	PolicyChange c;
	c.model = params && *params ? std::string(params) : changes_policy->model_path();
	if (c.model->empty()) {
		r.error = "no model path given and none configured: /dualpilot/policy/reload,<path>";
		return answer(d, r);
	}
	return answer(d, changes_policy->request_change(c, kApplyWait));
}

int cmd_policy_set(const char *, const char *params, rte_tel_data *d)
{
	std::lock_guard lock(changes_mutex);
	if (refuse(d, "/dualpilot/policy/set"))
		return 0;
	ChangeResult r;
	PolicyChange c;
	uint32_t interval = 0;
	bool set_interval = false;
	for (std::string_view item : split(params ? params : "")) {
		const aqm::Setting s = aqm::parse_setting(item);
		PolicyMode mode;
		if (s.key == "mode" && common::parse_choice(s.value, kPolicyModeNames, mode)) {
			c.mode = mode;
		} else if (s.key == "mode") {
			r.error = "mode: unknown policy mode '" + s.value + "' " + common::known_choices(kPolicyModeNames);
		} else if (s.key == "inference_interval") {
			if (std::string err = aqm::parse_u32(s.value, interval); !err.empty())
				r.error = "inference_interval: " + err;
			set_interval = true;
		} else {
			r.error = "unknown key '" + s.key + "' (known: mode inference_interval)";
		}
		if (!r.error.empty())
			return answer(d, r);
	}
	if (!c.mode && !set_interval) {
		r.error = "nothing to set: /dualpilot/policy/set,mode=<off|shadow|enforce>[,inference_interval=<n>]";
		return answer(d, r);
	}
	if (c.mode && !changes_policy) {
		r.error = "the router runs no policy worker ([policy] mode off, no pool_out)";
		return answer(d, r);
	}
	if (set_interval) {
		r = change_inference_interval(*changes_router, interval, kApplyWait);
		if (!r.ok)
			return answer(d, r);
		fmt::print(stderr, "telemetry: {}\n", r.log);
	}
	if (c.mode) {
		const ChangeResult m = changes_policy->request_change(c, kApplyWait);
		const std::string before = r.log;
		r = m.ok && !before.empty() ? ChangeResult{true, m.applied && r.applied, {}, before + "; " + m.log} : m;
	}
	return answer(d, r);
}

int cmd_aqm_set(const char *, const char *params, rte_tel_data *d)
{
	std::lock_guard lock(changes_mutex);
	if (refuse(d, "/dualpilot/aqm/set"))
		return 0;
	const std::vector<std::string_view> items = split(params ? params : "");
	std::vector<aqm::Setting> settings;
	for (size_t i = 1; i < items.size(); i++)
		settings.push_back(aqm::parse_setting(items[i]));
	const ChangeResult r = change_aqm(*changes_router, items.empty() ? "" : items[0], settings, kApplyWait);
	if (r.ok)
		fmt::print(stderr, "telemetry: {}\n", r.log);
	return answer(d, r);
}

} // namespace

std::string publish_telemetry_changes(Router *router, PolicyWorker *policy, bool allow_changes)
{
	std::lock_guard lock(changes_mutex);
	changes_router = router;
	changes_policy = policy;
	changes_allowed = allow_changes;
	static TelemetryCommand commands[] = {
		{"/dualpilot/policy/reload", cmd_policy_reload,
		 "Loads a model, checks it, swaps it in. Parameters: [path] (default: the running model's)"},
		{"/dualpilot/policy/set", cmd_policy_set,
		 "Switches the policy. Parameters: mode=off|shadow|enforce,inference_interval=N"},
		{"/dualpilot/aqm/set", cmd_aqm_set,
		 "Changes a port's AQM parameters, queue kept. Parameters: port,key=value,... (tc names)"},
	};
	return router ? register_telemetry_commands(commands) : std::string{};
}

void publish_telemetry_changes(std::nullptr_t)
{
	std::lock_guard lock(changes_mutex);
	changes_router = nullptr;
	changes_policy = nullptr;
	changes_allowed = false;
}

} // namespace dualpilot::dataplane
