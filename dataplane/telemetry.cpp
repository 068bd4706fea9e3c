#include "dataplane/telemetry.hpp"

#include <rte_telemetry.h>

#include <cmath>
#include <mutex>
#include <string_view>

#include "dataplane/policy_worker.hpp"
#include "dataplane/router.hpp"

#include <fmt/format.h>

namespace dualpilot::dataplane {

namespace {

// The telemetry thread runs the callbacks; the mutex keeps the router from
// going away under one. The counters themselves are read while the workers
// write them: each is one aligned 64-bit word, read whole.
std::mutex telemetry_mutex;
const Router *telemetry_router = nullptr;
const PolicyWorker *telemetry_policy = nullptr;

uint64_t ppm(double p) { return static_cast<uint64_t>(std::llround(std::clamp(p, 0.0, 1.0) * 1e6)); }

int cmd_ports(const char *, const char *, rte_tel_data *d)
{
	std::lock_guard lock(telemetry_mutex);
	rte_tel_data_start_array(d, RTE_TEL_STRING_VAL);
	if (telemetry_router)
		for (const Port &p : telemetry_router->ports())
			rte_tel_data_add_array_string(d, p.cfg.name.c_str());
	return 0;
}

int cmd_stats(const char *, const char *, rte_tel_data *d)
{
	std::lock_guard lock(telemetry_mutex);
	if (!telemetry_router)
		return -ENODEV;
	const Router &r = *telemetry_router;
	rte_tel_data_start_dict(d);
	for (size_t i = 0; i < r.ports().size(); i++) {
		const Port &p = r.ports()[i];
		const PortStats s = r.port_stats(i);
		const aqm::DelayHistogram classic = r.sojourn(i, 0), l4s = r.sojourn(i, 1);
		rte_tel_data *c = rte_tel_data_alloc();
		if (!c)
			return -ENOMEM;
		rte_tel_data_start_dict(c);
		const std::pair<const char *, uint64_t> fields[] = {
			{"rx_pkts", s.rx_pkts},
			{"rx_bytes", s.rx_bytes},
			{"tx_pkts", s.tx_pkts},
			{"tx_bytes", s.tx_bytes},
			{"marked", s.marked},
			{"aqm_drops", s.aqm_drops},
			{"overflow_drops", s.overflow_drops},
			{"malformed", s.malformed()},
			{"no_route", s.no_route},
			{"ttl_expired", s.ttl_expired},
			{"tx_failed", s.tx_failed},
			{"mark_failed", s.mark_failed},
			{"handoff_drops", s.handoff_drops},
			{"bypassed_pkts", s.bypassed_pkts},
			{"queued_pkts", r.queued_pkts(i)},
			{"shaper_rate_bps", p.cfg.rate_bps},
			{"egress_queues", p.queues},
			{"classic_sojourn_p50_ns", classic.percentile_ns(0.5)},
			{"classic_sojourn_p99_ns", classic.percentile_ns(0.99)},
			{"l4s_sojourn_p50_ns", l4s.percentile_ns(0.5)},
			{"l4s_sojourn_p99_ns", l4s.percentile_ns(0.99)},
		};
		for (const auto &[name, value] : fields)
			rte_tel_data_add_dict_u64(c, name, value);
		rte_tel_data_add_dict_container(d, p.cfg.name.c_str(), c, 0);
	}
	return 0;
}

void add_queue(rte_tel_data *d, const char *prefix, const aqm::QueueCounters &q, const aqm::DelayHistogram &h)
{
	const std::pair<const char *, uint64_t> fields[] = {
		{"arrived_pkts", q.arrived_pkts},     {"enqueued_pkts", q.enqueued_pkts},
		{"forwarded_pkts", q.forwarded_pkts}, {"forwarded_bytes", q.forwarded_bytes},
		{"ce_marks", q.ce_marks},             {"aqm_drops", q.aqm_drops},
		{"overflow_drops", q.overflow_drops}, {"backlog_pkts", q.backlog_pkts},
		{"backlog_bytes", q.backlog_bytes},   {"sojourn_p50_ns", h.percentile_ns(0.5)},
		{"sojourn_p99_ns", h.percentile_ns(0.99)}, {"sojourn_max_ns", h.max_ns()},
	};
	for (const auto &[name, value] : fields)
		rte_tel_data_add_dict_u64(d, (std::string(prefix) + name).c_str(), value);
}

// A port's AQM counters, each AQM queue's summed over its egress queues.
std::array<aqm::QueueCounters, aqm::kQueueCount> port_counters(const Router &r, size_t port)
{
	std::array<aqm::QueueCounters, aqm::kQueueCount> sum{};
	for (uint16_t t = 0; t < r.ports()[port].queues; t++)
		for (int k = 0; k < aqm::kQueueCount; k++) {
			const aqm::QueueCounters c = aqm::counters(*r.queue(port, t).aqm)[k];
			aqm::QueueCounters &s = sum[k];
			s.arrived_pkts += c.arrived_pkts;
			s.arrived_bytes += c.arrived_bytes;
			s.enqueued_pkts += c.enqueued_pkts;
			s.overflow_drops += c.overflow_drops;
			s.aqm_drops += c.aqm_drops;
			s.forwarded_pkts += c.forwarded_pkts;
			s.forwarded_bytes += c.forwarded_bytes;
			s.ce_marks += c.ce_marks;
			s.backlog_pkts += c.backlog_pkts;
			s.backlog_bytes += c.backlog_bytes;
		}
	return sum;
}

// The controller's state of one AQM (one egress queue's).
void add_aqm_state(rte_tel_data *d, const aqm::AnyAqm &q, uint64_t now)
{
	const auto counters = aqm::counters(q);
	std::visit(
		[&](const auto &a) {
			using T = std::decay_t<decltype(a)>;
			if constexpr (std::is_same_v<T, aqm::DualPi2>) {
				const double base = aqm::q32_to_prob(a.prob_q32());
				const double k = a.params().coupling_factor;
				rte_tel_data_add_dict_u64(d, "prob_base_ppm", ppm(base));
				rte_tel_data_add_dict_u64(d, "prob_classic_ppm", ppm(base * base));
				rte_tel_data_add_dict_u64(d, "prob_l4s_coupled_ppm", ppm(base * k));
				rte_tel_data_add_dict_u64(d, "delay_c_ns", a.head_sojourn_ns(aqm::QueueId::classic, now));
				rte_tel_data_add_dict_u64(d, "delay_l_ns", a.head_sojourn_ns(aqm::QueueId::l4s, now));
				rte_tel_data_add_dict_u64(d, "step_marks", a.stats().step_marks);
				rte_tel_data_add_dict_u64(d, "overload_drops", a.stats().overload_drops);
				rte_tel_data_add_dict_u64(d, "maxq", a.stats().maxq);
				rte_tel_data_add_dict_int(d, "credit", static_cast<int>(a.credit()));
				rte_tel_data_add_dict_u64(d, "pi_updates", a.stats().pi_updates);
			} else if constexpr (std::is_same_v<T, aqm::Pie>) {
				rte_tel_data_add_dict_u64(d, "drop_prob_ppm", ppm(a.drop_prob()));
				rte_tel_data_add_dict_u64(d, "early_drops", counters[0].aqm_drops);
				rte_tel_data_add_dict_u64(d, "maxq", a.stats().maxq);
			} else if constexpr (std::is_same_v<T, aqm::Codel>) {
				rte_tel_data_add_dict_int(d, "dropping", a.dropping());
				rte_tel_data_add_dict_u64(d, "count", a.count());
				rte_tel_data_add_dict_u64(d, "maxq", a.stats().maxq);
			}
		},
		q);
}

int cmd_aqm(const char *, const char *params, rte_tel_data *d)
{
	std::lock_guard lock(telemetry_mutex);
	if (!telemetry_router)
		return -ENODEV;
	const Router &r = *telemetry_router;
	const int i = params ? r.port_index(params) : -1;
	if (i < 0)
		return -EINVAL; // dpdk-telemetry.py prints null: /dualpilot/ports lists the names
	const Port &p = r.ports()[static_cast<size_t>(i)];
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "port", p.cfg.name.c_str());
	rte_tel_data_add_dict_string(d, "aqm", p.cfg.aqm.c_str());
	const EgressQueue &first = r.queue(static_cast<size_t>(i));
	if (!first.aqm)
		return 0;
	// tc's one-line rendering (every egress queue runs the same); the
	// telemetry string limit cuts very long ones.
	const std::string desc = aqm::describe(*first.aqm);
	rte_tel_data_add_dict_string(d, "config", desc.substr(0, RTE_TEL_MAX_STRING_LEN - 1).c_str());
	rte_tel_data_add_dict_u64(d, "egress_queues", p.queues);
	// The counters over the port's egress queues; the controller's state
	// where it has one queue (else per queue: /dualpilot/queues).
	const auto counters = port_counters(r, static_cast<size_t>(i));
	add_queue(d, "classic_", counters[0], r.sojourn(static_cast<size_t>(i), 0));
	if (std::holds_alternative<aqm::DualPi2>(*first.aqm))
		add_queue(d, "l4s_", counters[1], r.sojourn(static_cast<size_t>(i), 1));
	if (p.queues == 1)
		add_aqm_state(d, *first.aqm, r.now_ns());
	return 0;
}

// One egress queue's figures as a dict of its own: its owner, what it sent
// and its AQM decided, its sojourns and its controller's state.
rte_tel_data *queue_dict(const Router &r, size_t index)
{
	const EgressQueue &q = r.queues()[index];
	rte_tel_data *c = rte_tel_data_alloc();
	if (!c)
		return nullptr;
	rte_tel_data_start_dict(c);
	const PortStats s = r.queue_stats(index);
	const std::pair<const char *, uint64_t> fields[] = {
		{"tx_queue", q.tx_queue},
		{"owner_lcore", r.workers()[q.owner].lcore},
		{"tx_pkts", s.tx_pkts},
		{"tx_bytes", s.tx_bytes},
		{"marked", s.marked},
		{"aqm_drops", s.aqm_drops},
		{"overflow_drops", s.overflow_drops},
		{"handoff_drops", s.handoff_drops},
		{"bypassed_pkts", s.bypassed_pkts},
		{"queued_pkts", r.queue_queued_pkts(index)},
		{"classic_sojourn_p50_ns", q.sojourn[0].percentile_ns(0.5)},
		{"classic_sojourn_p99_ns", q.sojourn[0].percentile_ns(0.99)},
		{"l4s_sojourn_p50_ns", q.sojourn[1].percentile_ns(0.5)},
		{"l4s_sojourn_p99_ns", q.sojourn[1].percentile_ns(0.99)},
	};
	for (const auto &[name, value] : fields)
		rte_tel_data_add_dict_u64(c, name, value);
	if (q.aqm)
		add_aqm_state(c, *q.aqm, r.now_ns());
	return c;
}

// A port's egress queues, a dict each under its tx queue's number.
int cmd_queues(const char *, const char *params, rte_tel_data *d)
{
	std::lock_guard lock(telemetry_mutex);
	if (!telemetry_router)
		return -ENODEV;
	const Router &r = *telemetry_router;
	const int i = params ? r.port_index(params) : -1;
	if (i < 0)
		return -EINVAL;
	const Port &p = r.ports()[static_cast<size_t>(i)];
	rte_tel_data_start_dict(d);
	for (uint16_t t = 0; t < p.queues; t++) {
		rte_tel_data *c = queue_dict(r, p.first_queue + t);
		if (!c)
			return -ENOMEM;
		rte_tel_data_add_dict_container(d, std::to_string(t).c_str(), c, 0);
	}
	return 0;
}

// One tuned port's figures as a dict of its own (PolicyWorker::tune_report):
// held_<setting index>_ns per setting held at all, held_base_ns for the base.
rte_tel_data *tune_port_dict(const TunePortReport &r)
{
	rte_tel_data *pd = rte_tel_data_alloc();
	if (!pd)
		return nullptr;
	rte_tel_data_start_dict(pd);
	rte_tel_data_add_dict_string(pd, "in_force", r.in_force.c_str());
	const std::pair<const char *, uint64_t> fields[] = {
		{"in_force_for_ns", r.in_force_for_ns}, {"published", r.published}, {"applied", r.applied},
		{"stale", r.stale},       {"refused", r.refused},     {"expired", r.expired},
		{"withdrawn", r.withdrawn}, {"steps", r.steps},     {"step_drops", r.step_drops},
	};
	for (const auto &[name, value] : fields)
		rte_tel_data_add_dict_u64(pd, name, value);
	for (const TuneHeld &h : r.held) {
		const std::string key = h.action == experience::kBaseSetting ? std::string("held_base_ns")
									     : fmt::format("held_{}_ns", h.action);
		rte_tel_data_add_dict_u64(pd, key.c_str(), h.ns);
	}
	return pd;
}

// Tune mode: the tuner loop's counters, then a dict per tuned port.
int tune_policy(const PolicyWorker &p, rte_tel_data *d)
{
	const TuneReport r = p.tune_report();
	const policy::TuneStats &s = r.stats;
	rte_tel_data_add_dict_string(d, "mode", to_string(p.mode()));
	rte_tel_data_add_dict_string(d, "action", "tune");
	rte_tel_data_add_dict_string(d, "backend", s.backend);
	const std::pair<const char *, uint64_t> fields[] = {
		{"steps", s.steps},
		{"intervals", s.intervals},
		{"idle_intervals", s.idle_intervals},
		{"decisions", s.decisions},
		{"invalid_outputs", s.invalid_outputs},
		{"settings_published", s.published},
		{"setting_changes", s.changes},
		{"pilot_backoffs", s.pilot_backoffs},
		{"decision_p50_ns", s.decision_ns.percentile_ns(0.5)},
		{"decision_p99_ns", s.decision_ns.percentile_ns(0.99)},
		{"backend_failures", s.backend_failures},
	};
	for (const auto &[name, value] : fields)
		rte_tel_data_add_dict_u64(d, name, value);
	for (const TunePortReport &port : r.ports)
		if (rte_tel_data *pd = tune_port_dict(port))
			rte_tel_data_add_dict_container(d, port.port.c_str(), pd, 0);
	return 0;
}

int cmd_policy(const char *, const char *, rte_tel_data *d)
{
	std::lock_guard lock(telemetry_mutex);
	if (!telemetry_router)
		return -ENODEV;
	rte_tel_data_start_dict(d);
	if (!telemetry_policy) {
		rte_tel_data_add_dict_string(d, "mode", to_string(PolicyMode::off));
		return 0;
	}
	const PolicyWorker &p = *telemetry_policy;
	if (p.tuning())
		return tune_policy(p, d);
	const PolicyStats s = p.stats();
	rte_tel_data_add_dict_string(d, "mode", to_string(p.mode()));
	rte_tel_data_add_dict_string(d, "backend", s.backend);
	const std::pair<const char *, uint64_t> fields[] = {
		{"samples", s.samples},
		{"sample_drops", s.sample_drops},
		{"forward_passes", s.forward_passes},
		{"decisions", s.decisions},
		{"invalid_outputs", s.invalid_outputs},
		{"overrides_published", s.published},
		{"pilot_backoffs", s.pilot_backoffs},
		{"pass_p50_ns", s.pass_ns.percentile_ns(0.5)},
		{"pass_p99_ns", s.pass_ns.percentile_ns(0.99)},
		{"per_decision_p50_ns", s.per_decision_ns.percentile_ns(0.5)},
		{"scored", s.scored},
		{"agreed", s.agreed},
		{"agreement_ppm", s.scored ? s.agreed * 1000000 / s.scored : 0},
		{"would_drop_ppm", s.scored ? ppm(s.would_drop / static_cast<double>(s.scored)) : 0},
		{"would_mark_ppm", s.scored ? ppm(s.would_mark / static_cast<double>(s.scored)) : 0},
		{"pool_entries", s.pool_entries},
		{"backend_failures", s.backend_failures},
	};
	for (const auto &[name, value] : fields)
		rte_tel_data_add_dict_u64(d, name, value);
	// The confusion matrix, row = the AQM's action, column = the policy's.
	static const char *const names[3] = {"forward", "drop", "mark"};
	for (int a = 0; a < 3; a++)
		for (int b = 0; b < 3; b++)
			rte_tel_data_add_dict_u64(d, fmt::format("aqm_{}_policy_{}", names[a], names[b]).c_str(),
						  s.confusion[a][b]);
	return 0;
}

} // namespace

std::string publish_telemetry(const Router *router, const PolicyWorker *policy)
{
	std::lock_guard lock(telemetry_mutex);
	telemetry_router = router;
	telemetry_policy = policy;
	static TelemetryCommand commands[] = {
		{"/dualpilot/ports", cmd_ports, "The router's port names. Takes no parameters"},
		{"/dualpilot/stats", cmd_stats,
		 "Per port: packets, bytes, marks, drops by cause, queued, sojourn percentiles (ns). Takes no parameters"},
		{"/dualpilot/aqm", cmd_aqm, "One port's AQM: config, per-queue counters and controller state. Parameters: port name"},
		{"/dualpilot/queues", cmd_queues,
		 "One port's egress queues: each one's owner, counters, sojourns and AQM state. Parameters: port name"},
		{"/dualpilot/policy", cmd_policy,
		 "The policy worker: mode, samples, decisions, decision time, overrides, agreement with the AQM. Takes no "
		 "parameters"},
	};
	return router ? register_telemetry_commands(commands) : std::string{};
}

std::string register_telemetry_commands(std::span<TelemetryCommand> commands)
{
	for (TelemetryCommand &c : commands) {
		if (c.registered)
			continue;
		if (rte_telemetry_register_cmd(c.name, c.fn, c.help) != 0)
			return fmt::format("cannot register the telemetry command {}", c.name);
		c.registered = true;
	}
	return {};
}

void publish_telemetry(std::nullptr_t)
{
	std::lock_guard lock(telemetry_mutex);
	telemetry_router = nullptr;
	telemetry_policy = nullptr;
}

} // namespace dualpilot::dataplane
