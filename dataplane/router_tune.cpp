// The tuner's side of the router (tune_port.hpp; docs/pilot.md, "The
// tuner"): its start-up (the tables, the setting records, the tune-step
// rings) and, in tune mode only, its counting per burst and its pass between
// bursts. The verdict pilot's fast path calls none of this.
#include <rte_errno.h>

#include <fmt/format.h>

#include "dataplane/router.hpp"
#include "policy/tune.hpp"

namespace dualpilot::dataplane {

// Each tuned port's table: the settings over its DualPI2 as built (the base
// the tuner returns to), then the base. A worker's ring for the steps of the
// ports it owns.
std::string Router::init_tuning()
{
	const PolicyConfig &pc = cfg_.policy;
	const std::vector<policy::TuneSetting> actions = policy::tune_actions(pc.tune);
	tune_ = std::make_unique<PortTune[]>(ports_.size());
	tune_slots_ = std::make_unique<TuneSlot[]>(ports_.size());
	for (const std::string &name : pc.tune_ports) {
		const int i = port_index(name);
		const auto *q = i < 0 || !queue(i).aqm ? nullptr : std::get_if<aqm::DualPi2>(&*queue(i).aqm);
		if (!q)
			return fmt::format("[policy.tune] port '{}': the tuner sets DualPI2's settings, and it runs none", name);
		if (ports_[i].queues > 1) // the config refuses it; a config not read from a file too
			return fmt::format("[policy.tune] port '{}': the tuner tunes a port of one egress queue", name);
		PortTune &t = tune_[i];
		t.tuned = true;
		t.step_ns = pc.tune.interval_ns / pc.tune.steps_per_interval;
		t.ttl_ns = pc.tune.ttl_ns;
		for (const policy::TuneSetting &s : actions) {
			aqm::DualPi2Params p;
			if (std::string err = policy::tuned_params(q->params(), s, p); !err.empty())
				return fmt::format("[policy.tune] port '{}': setting {}: {}", name, policy::describe(s), err);
			t.table.push_back(p);
		}
		t.table.push_back(q->params());
	}
	for (size_t i = 0; i < workers_.size(); i++) {
		const std::string name = fmt::format("dp_tune_{}_{}", pool_name_, i);
		workers_[i].tune_steps = rte_ring_create_elem(name.c_str(), sizeof(TuneStepMsg), kTuneStepRing,
							      static_cast<int>(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (!workers_[i].tune_steps)
			return "cannot create a tune-step ring: " + std::string(rte_strerror(rte_errno));
	}
	return {};
}

// The counting below takes an egress queue's index; a tuned port has one
// egress queue (the config refuses more), its port's records are the tuner's.

// An rx burst (or a hand-off's) offered to the port's queues: one arrival.
void Router::tune_arrive(uint16_t egress, const aqm::Packet *descs, uint32_t n, uint64_t now_ns)
{
	PortTune &t = tune_[queues_[egress].port];
	if (!t.tuned)
		return;
	// Bytes as the shaper counts them (frame and overhead), so that the
	// features' utilisation reads against the shaped rate as the
	// simulator's, whose link has no overhead, reads against its rate.
	const uint32_t overhead = queues_[egress].shaper.overhead_bytes;
	uint64_t bytes = 0;
	for (uint32_t i = 0; i < n; i++)
		bytes += descs[i].len_bytes + overhead;
	t.counter.arrive(now_ns, bytes);
}

// What the AQM refused at enqueue (a full queue, or DualPI2's drop_enqueue),
// each a drop of its class.
void Router::tune_enqueue_drops(uint16_t egress, const aqm::Packet *descs, const aqm::EnqueueResult *result,
				uint32_t n, uint64_t now_ns)
{
	PortTune &t = tune_[queues_[egress].port];
	if (!t.tuned)
		return;
	const auto &q = std::get<aqm::DualPi2>(*queues_[egress].aqm);
	for (uint32_t i = 0; i < n; i++)
		if (result[i] != aqm::EnqueueResult::accepted)
			t.counter.drop(static_cast<int>(q.classify(descs[i].ecn)));
	if (q.backlog_pkts() == 0)
		t.counter.drained(now_ns);
}

// A dequeued burst as DualPI2 decided it (a mark the router then could not
// set still counts as DualPI2's mark): each packet forwarded, marked or
// dropped with its sojourn; then whether both queues were left empty.
void Router::tune_dequeued(uint16_t egress, const aqm::Dequeued *d, uint32_t n, uint64_t now_ns)
{
	PortTune &t = tune_[queues_[egress].port];
	if (!t.tuned)
		return;
	const uint32_t overhead = queues_[egress].shaper.overhead_bytes;
	for (uint32_t i = 0; i < n; i++) {
		const int cls = static_cast<int>(d[i].queue);
		if (d[i].verdict == aqm::Verdict::drop)
			t.counter.drop(cls);
		else
			t.counter.forward(cls, d[i].sojourn_ns, d[i].pkt.len_bytes + overhead,
					  d[i].verdict == aqm::Verdict::forward_ce);
	}
	if (std::get<aqm::DualPi2>(*queues_[egress].aqm).backlog_pkts() == 0)
		t.counter.drained(now_ns);
}

// Between bursts, for each tuned port the worker owns: a new setting record,
// an expiry, a step due.
void Router::tune_pass(Worker &w, uint64_t now_ns)
{
	for (uint16_t e : w.egress) {
		const uint16_t port = queues_[e].port;
		PortTune &t = tune_[port];
		if (!t.tuned)
			continue;
		auto &q = std::get<aqm::DualPi2>(*queues_[e].aqm);
		take_setting(t, tune_slots_[port], q, now_ns);
		close_step_if_due(t, q, w.tune_steps, port, ports_[port].sizing_rate_bps, now_ns);
	}
}

} // namespace dualpilot::dataplane
