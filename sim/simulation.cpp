#include "sim/simulation.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <memory>
#include <span>

#include "aqm/observe.hpp"
#include "experience/features.hpp"
#include "aqm/random.hpp"
#include "sim/event_queue.hpp"
#include "sim/tcp.hpp"

namespace dualpilot::sim {

namespace {

constexpr uint64_t kDelayedAckNs = 40000000; // 40 ms, as Linux's maximum
constexpr uint32_t kHeaderBytes = 52;        // IPv4 + TCP with timestamps
constexpr uint32_t kUdpHeaderBytes = 28;     // IPv4 + UDP
constexpr uint8_t kFlagRetrans = 1u << 2;
constexpr uint64_t kProgressEvery = 1u << 16;

struct FlowState {
	FlowSpec spec;
	std::unique_ptr<TcpSender> sender; // null for udp
	std::unique_ptr<TcpReceiver> receiver;
	uint64_t start_ns = 0;
	uint64_t stop_ns = 0;
	bool active = false;
	uint64_t rto_event_at = 0; // pending timer event, 0 if none
	bool dack_pending = false;
	uint64_t udp_seq = 0;
	FlowStats stats;
};

// A policy decision on its way: computed at some instant, in force from at_ns.
struct PendingOverride {
	uint64_t at_ns;
	uint32_t queue;              // aqm::QueueId
	policy::OverrideProbs probs; // capped by the guard rails
	uint64_t expires_ns;         // 0: held until replaced
};

struct ActiveOverride {
	bool on = false;
	uint64_t expires_ns = 0; // 0: never
	policy::OverrideProbs probs;
};

// A data packet while it is inside the bottleneck; the AQM holds its index.
struct InFlight {
	uint32_t flow;
	uint64_t seq;
	uint64_t sent_ns;
	bool retransmission;
};

// A tuner setting on its way: published from the state at state_ns, in
// force from at_ns, void from expires_ns.
struct PendingSetting {
	uint64_t at_ns;
	uint32_t action;
	uint64_t expires_ns;
};

// The simulation is the pilot loop's override sink and the tuner loop's
// setting sink: what either publishes comes into force decision_delay_ns
// later.
class Simulation final : public policy::OverrideSink, public policy::TuneSink {
public:
	Simulation(const Scenario &s, aqm::AnyAqm aqm, const RunOptions &o)
		: sc_(s), opt_(o), aqm_(std::move(aqm)), rng_(o.seed * 0x9e3779b97f4a7c15ull + 1),
		  explore_rng_(o.seed * 0xd1b54a32d192ed03ull + 3), traffic_rng_(o.seed * 0xbf58476d1ce4e5b9ull + 5)
	{
		opt_.inference_interval = std::max(1u, opt_.inference_interval);
		if (opt_.pilot)
			start_pilot();
		end_ns_ = s.duration_ns;
		if (opt_.tuner || opt_.record_tune_states || !opt_.tune_schedule.empty())
			start_tuner();
		// The traffic comes from its own stream, drawn here before the
		// first event: a seed gives every policy the same flows, start
		// times and objects (paired comparisons, docs/benchmarks.md,
		// "The held-out benchmark").
		for (const FlowSpec &spec : s.flows) {
			if (spec.arrival_rate_per_s > 0) {
				add_short_flows(spec);
				continue;
			}
			for (uint32_t i = 0; i < spec.count; i++) {
				// Parallel flows start a few ms apart (seeded), as real
				// connections do; the first starts on time.
				const uint64_t jitter = i == 0 ? 0 : traffic_rng_.next_u64() % 10000000;
				add_flow(spec, spec.count > 1 ? spec.name + "." + std::to_string(i + 1) : spec.name,
					 spec.start_ns + jitter, spec.stop_ns ? spec.stop_ns : end_ns_, 0);
			}
		}
		result_.measured.flows.resize(flows_.size());
		if (opt_.segment_ns > 0) {
			const uint64_t measured = end_ns_ - std::min(end_ns_, sc_.warmup_ns);
			result_.segments.resize(std::max<uint64_t>(1, (measured + opt_.segment_ns - 1) / opt_.segment_ns));
			for (Tally &t : result_.segments)
				t.flows.resize(flows_.size());
		}
		result_.utilisation.assign((end_ns_ + s.sample_interval_ns - 1) / s.sample_interval_ns, 0.0);
		if (opt_.record_pool)
			result_.pool.reward_definition = experience::reward_definition(opt_.objective);
	}

	RunResult run()
	{
		for (uint32_t f = 0; f < flows_.size(); f++) {
			push(flows_[f].start_ns, EventType::flow_start, f);
			push(flows_[f].stop_ns, EventType::flow_stop, f);
		}
		if (tuner_) {
			push(tune_step_ns_, EventType::tune_step, 0);
			for (uint32_t i = 0; i < opt_.tune_schedule.size(); i++)
				push(opt_.tune_schedule[i].at_ns, EventType::tune_schedule, i);
		}
		while (!events_.empty() && events_.top().at_ns <= end_ns_) {
			const Event ev = events_.pop();
			now_ = ev.at_ns;
			dispatch(ev);
			if (++result_.events % kProgressEvery == 0 && opt_.progress)
				opt_.progress(static_cast<double>(now_) / static_cast<double>(end_ns_));
		}
		finish();
		return std::move(result_);
	}

private:
	void add_flow(const FlowSpec &spec, std::string name, uint64_t start_ns, uint64_t stop_ns, uint64_t object_packets)
	{
		FlowState f;
		f.spec = spec;
		f.stats.name = std::move(name);
		f.stats.cc = spec.cc;
		f.stats.object_packets = object_packets;
		if (spec.cc != CcKind::udp) {
			TcpConfig cfg{spec.cc, spec.ecn};
			cfg.app_limit_packets = object_packets;
			f.sender = std::make_unique<TcpSender>(cfg);
			f.receiver = std::make_unique<TcpReceiver>(spec.delayed_ack);
			f.stats.ecn = f.sender->ecn();
		} else {
			f.stats.ecn = spec.udp_ecn;
		}
		f.start_ns = f.stats.start_ns = start_ns;
		f.stop_ns = stop_ns;
		flows_.push_back(std::move(f));
	}

	// Web-like traffic: Poisson arrivals, one Pareto-sized object each
	// (FlowSpec::arrival_rate_per_s). The Pareto scale x_m = mean (a - 1) / a
	// gives the configured mean; objects are capped at 1000 means so that one
	// draw from the far tail cannot outlast the run on its own.
	void add_short_flows(const FlowSpec &spec)
	{
		const double a = spec.pareto_shape;
		const double xm = spec.mean_packets * (a - 1) / a;
		const uint64_t stop = spec.stop_ns ? spec.stop_ns : end_ns_;
		double t = static_cast<double>(spec.start_ns);
		for (uint32_t k = 1;; k++) {
			t += -std::log(1 - traffic_rng_.next_double()) / spec.arrival_rate_per_s * 1e9;
			if (t >= static_cast<double>(stop))
				break;
			const double size = xm / std::pow(1 - traffic_rng_.next_double(), 1 / a);
			const auto packets = static_cast<uint64_t>(std::clamp(std::ceil(size), 1.0, 1000.0 * spec.mean_packets));
			add_flow(spec, spec.name + ".c" + std::to_string(k), static_cast<uint64_t>(t), end_ns_, packets);
		}
	}

	void push(uint64_t at, EventType type, uint32_t flow, uint8_t flags = 0, uint64_t seq = 0, uint64_t sent_ns = 0,
		  uint64_t ce_received = 0, uint64_t sacked_seq = 0)
	{
		events_.push(Event{at, 0, type, flags, flow, seq, sent_ns, ce_received, sacked_seq});
	}

	bool measuring() const { return now_ >= sc_.warmup_ns; }

	void dispatch(const Event &ev)
	{
		if (ev.type >= EventType::tune_step) {
			tune_event(ev);
			return;
		}
		FlowState &f = flows_[ev.flow];
		switch (ev.type) {
		case EventType::flow_start:
			f.active = true;
			if (f.spec.cc == CcKind::udp)
				push(now_, EventType::udp_send, ev.flow);
			else
				send_tcp(ev.flow);
			break;
		case EventType::flow_stop:
			f.active = false;
			break;
		case EventType::udp_send:
			if (!f.active)
				break;
			offer(ev.flow, f.udp_seq++, false);
			push(now_ + static_cast<uint64_t>(f.spec.udp_size_bytes * 8e9 / static_cast<double>(f.spec.udp_rate_bps)),
			     EventType::udp_send, ev.flow);
			break;
		case EventType::packet_at_bottleneck:
			at_bottleneck(ev);
			break;
		case EventType::link_free:
			link_busy_ = false;
			serve();
			break;
		case EventType::packet_at_receiver:
			at_receiver(ev);
			break;
		case EventType::ack_at_sender:
			f.sender->on_ack(now_, ev.seq, ev.sacked_seq, ev.sent_ns, ev.ce_received, (ev.flags & 1) != 0);
			send_tcp(ev.flow);
			break;
		case EventType::rto:
			f.rto_event_at = 0;
			if (f.sender->on_rto(now_))
				send_tcp(ev.flow);
			arm_rto(ev.flow);
			break;
		case EventType::delayed_ack: {
			f.dack_pending = false;
			AckToSend ack;
			if (f.receiver->on_timer(ack))
				send_ack(ev.flow, ack);
			break;
		}
		case EventType::sample:
			break;
		case EventType::tune_step:
		case EventType::tune_apply:
		case EventType::tune_expire:
		case EventType::tune_schedule:
			break; // tune_event's
		}
	}

	uint32_t wire_bytes(const FlowState &f) const
	{
		return f.spec.cc == CcKind::udp ? f.spec.udp_size_bytes : sc_.mtu_bytes;
	}

	void send_tcp(uint32_t flow)
	{
		FlowState &f = flows_[flow];
		SendRequest req;
		while (f.active && f.sender->next_send(req)) {
			offer(flow, req.seq, req.retransmission);
			f.sender->on_sent(now_);
		}
		arm_rto(flow);
	}

	void arm_rto(uint32_t flow)
	{
		FlowState &f = flows_[flow];
		const uint64_t deadline = f.sender->rto_deadline_ns();
		if (deadline != 0 && f.rto_event_at == 0) {
			f.rto_event_at = deadline;
			push(deadline, EventType::rto, flow);
		}
	}

	// A packet leaves its sender; a quarter of the base RTT later it reaches
	// the bottleneck, a quarter after the link it reaches the receiver, and
	// the ACK takes the other half back.
	void offer(uint32_t flow, uint64_t seq, bool retransmission)
	{
		FlowState &f = flows_[flow];
		f.stats.sent_pkts++;
		const auto ecn = static_cast<uint8_t>(f.stats.ecn);
		push(now_ + f.spec.rtt_ns / 4, EventType::packet_at_bottleneck, flow,
		     static_cast<uint8_t>(ecn | (retransmission ? kFlagRetrans : 0)), seq, now_);
	}

	uint64_t slot_for(const InFlight &p)
	{
		if (!free_slots_.empty()) {
			const uint64_t s = free_slots_.back();
			free_slots_.pop_back();
			slots_[s] = p;
			return s;
		}
		slots_.push_back(p);
		return slots_.size() - 1;
	}

	void at_bottleneck(const Event &ev)
	{
		FlowState &f = flows_[ev.flow];
		result_.packets++;
		const auto ecn = static_cast<aqm::Ecn>(ev.flags & 3);
		const uint64_t slot = slot_for({ev.flow, ev.seq, ev.sent_ns, (ev.flags & kFlagRetrans) != 0});
		const aqm::Packet pkt{now_, slot, wire_bytes(f), ecn, 0};
		if (tuner_)
			counter_.arrive(now_, pkt.len_bytes);
		const aqm::EnqueueResult r = aqm::enqueue(aqm_, pkt);
		if (r != aqm::EnqueueResult::accepted) {
			const aqm::QueueId q = std::visit([&](const auto &a) { return a.classify(ecn); }, aqm_);
			if (tuner_) {
				counter_.drop(static_cast<int>(q));
				if (aqm::backlog_pkts(aqm_) == 0)
					counter_.drained(now_);
			}
			QueueStats &qs = result_.queues[static_cast<int>(q)];
			(r == aqm::EnqueueResult::dropped_overflow ? qs.overflow_drops : qs.aqm_drops)++;
			f.stats.drops++;
			const uint64_t waited = head_delay(q);
			record(q, pkt, waited, aqm::kDrop);
			score_drop(q, waited);
			free_slots_.push_back(slot);
		}
		if (!link_busy_)
			serve();
	}

	uint64_t head_delay(aqm::QueueId q) const
	{
		return std::visit(
			[&](const auto &a) -> uint64_t {
				using A = std::decay_t<decltype(a)>;
				if constexpr (std::is_same_v<A, aqm::DualPi2>)
					return a.head_sojourn_ns(q, now_);
				return 0;
			},
			aqm_);
	}

	void serve()
	{
		aqm::Dequeued d;
		while (aqm::dequeue(aqm_, now_, d)) {
			const InFlight p = slots_[d.pkt.handle];
			free_slots_.push_back(d.pkt.handle);
			FlowState &f = flows_[p.flow];
			QueueStats &qs = result_.queues[static_cast<int>(d.queue)];
			if (opt_.pilot)
				apply_override(d);
			result_.dequeue_decisions++;
			if (opt_.epsilon > 0)
				explore(d);
			if (tuner_)
				count_dequeued(d);
			if (d.verdict == aqm::Verdict::drop) {
				qs.aqm_drops++;
				f.stats.drops++;
				record(d.queue, d.pkt, d.sojourn_ns, aqm::kDrop);
				score_drop(d.queue, d.sojourn_ns);
				continue;
			}
			const bool ce = d.verdict == aqm::Verdict::forward_ce;
			record(d.queue, d.pkt, d.sojourn_ns, ce ? aqm::kMark : aqm::kEnqueue);
			if (measuring()) {
				qs.delay.add(d.sojourn_ns);
				qs.forwarded++;
				qs.marks += ce;
				for (Tally *t : tallies())
					t->scored_delay[static_cast<int>(d.queue)].add(d.sojourn_ns);
			}
			const uint64_t tx_ns = d.pkt.len_bytes * 8ull * 1000000000ull / rate_at(sc_, now_);
			account_busy(now_, tx_ns);
			link_busy_ = true;
			push(now_ + tx_ns, EventType::link_free, 0);
			const bool ce_on_wire = ce || d.pkt.ecn == aqm::Ecn::ce;
			push(now_ + tx_ns + f.spec.rtt_ns / 4, EventType::packet_at_receiver, p.flow, ce_on_wire ? 1 : 0,
			     p.seq, p.sent_ns);
			return;
		}
	}

	// The pilot as the router runs it (policy/pilot_loop.hpp), afresh for
	// this run: its guard rails, harm guard and TTL from the run's options,
	// its rewards the run's objective's share (or the paper's, as the
	// model's reward_offset_us says).
	void start_pilot()
	{
		policy::PilotLoopConfig c;
		c.enforce = true;
		c.guard = opt_.guard;
		c.harm = opt_.harm_guard;
		c.override_ttl_ns = opt_.override_ttl_ns;
		c.batch_max = 1; // one queue decided per sample, at once
		c.fall_back = false;
		experience::RewardSpec reward;
		reward.base = opt_.objective;
		reward.delay_offset_us = opt_.pilot->backend() ? opt_.pilot->backend()->config().reward_offset_us : 1.0;
		opt_.pilot->restart(c, reward);
	}

	// The loop's sink: an override computed now is in force from
	// decision_delay_ns later and lives its TTL from there.
	void publish(uint32_t q, const policy::OverrideProbs &probs, uint64_t computed_ns, uint64_t expires_ns) override
	{
		pending_.push_back({computed_ns + opt_.decision_delay_ns, q, probs,
				    expires_ns ? expires_ns + opt_.decision_delay_ns : 0});
	}
	void withdraw(uint32_t q, uint64_t now_ns) override
	{
		active_[q].on = false;
		if (result_.pilot_backoffs++ == 0)
			result_.first_backoff_ns = now_ns;
	}

	// The policy path: overrides published decision_delay_ns ago come into
	// force, then the one in force for this queue (if any) rewrites the
	// AQM's verdict; every inference_interval decisions of a queue the
	// pilot loop is shown the decision.
	void apply_override(aqm::Dequeued &d)
	{
		while (!pending_.empty() && pending_.front().at_ns <= now_) {
			const PendingOverride &po = pending_.front();
			if (opt_.pilot->backed_off(po.queue, now_)) {
				pending_.pop_front(); // computed before the back-off: withdrawn with it
				continue;
			}
			ActiveOverride &a = active_[po.queue];
			a.on = true;
			a.probs = po.probs;
			a.expires_ns = po.expires_ns;
			pending_.pop_front();
		}
		ActiveOverride &a = active_[static_cast<int>(d.queue)];
		if (a.on && a.expires_ns != 0 && now_ >= a.expires_ns)
			a.on = false;
		const uint8_t aqm_action = aqm::action_code(d.verdict);
		if (a.on) {
			d.verdict = policy::override_verdict(a.probs, rng_.next_u32() >> 16, d, opt_.guard);
			if (result_.overridden++ == 0)
				result_.first_override_ns = now_;
		}
		uint64_t &n = decisions_[static_cast<int>(d.queue)];
		if (n++ % opt_.inference_interval != 0)
			return;
		if (result_.policy_calls++ == 0)
			result_.first_policy_call_ns = now_;
		const experience::State state = state_of(d.queue, d.pkt, d.sojourn_ns);
		const policy::PilotSample sample{static_cast<uint32_t>(d.queue), state.data(), aqm_action,
						 aqm::action_code(d.verdict)};
		opt_.pilot->observe(sample, opt_.pilot->reward_of(sample), now_, this);
		opt_.pilot->step(now_, this);
	}

	// The tuner as the router runs it (policy/tune_loop.hpp), afresh for
	// this run, over the bottleneck as its one port: the run's loop, or one
	// of its own without a model for a schedule or a record of the states.
	// Only a DualPI2 is tuned; anything else runs as built.
	void start_tuner()
	{
		auto *dualpi2 = std::get_if<aqm::DualPi2>(&aqm_);
		if (!dualpi2) {
			result_.tune_error = "the tuner sets DualPI2's settings; this run's AQM is " + aqm::describe(aqm_);
			return;
		}
		policy::TuneLoopConfig c;
		c.tune = opt_.tune;
		c.decision_delay_ns = opt_.decision_delay_ns;
		c.fall_back = false;
		const policy::TunePort port{dualpi2->params(), opt_.rtt_hint_ns ? opt_.rtt_hint_ns
								     : static_cast<uint64_t>(policy::view_of(dualpi2->params()).max_rtt_ns)};
		policy::TuneLoop *loop = opt_.tuner;
		std::string err;
		if (!loop) {
			own_tuner_ = std::make_unique<policy::TuneLoop>();
			loop = own_tuner_.get();
			err = loop->init(c, {port}, nullptr);
		} else {
			err = loop->restart(c, {port});
		}
		if (!err.empty()) {
			result_.tune_error = err;
			return;
		}
		tuner_ = loop;
		base_params_ = dualpi2->params();
		tune_step_ns_ = c.tune.interval_ns / c.tune.steps_per_interval;
		counter_.start(0);
	}

	void count_dequeued(const aqm::Dequeued &d)
	{
		const int cls = static_cast<int>(d.queue);
		if (d.verdict == aqm::Verdict::drop)
			counter_.drop(cls);
		else
			counter_.forward(cls, d.sojourn_ns, d.pkt.len_bytes, d.verdict == aqm::Verdict::forward_ce);
		if (aqm::backlog_pkts(aqm_) == 0)
			counter_.drained(now_);
	}

	void tune_event(const Event &ev)
	{
		switch (ev.type) {
		case EventType::tune_step: {
			const auto &dualpi2 = std::get<aqm::DualPi2>(aqm_);
			const experience::TuneStep step = counter_.close(now_, rate_at(sc_, now_), dualpi2.prob_q32(), in_force_);
			if (tuner_->observe(0, step, this) && opt_.record_tune_states)
				result_.tune_states.push_back({now_, in_force_, tuner_->state(0)});
			push(now_ + tune_step_ns_, EventType::tune_step, 0);
			break;
		}
		case EventType::tune_apply: {
			const PendingSetting ps = pending_settings_.front();
			pending_settings_.pop_front();
			if (tuner_->backed_off(0, now_))
				break; // computed before the back-off: withdrawn with it
			if (now_ >= ps.expires_ns) {
				result_.tune_stale++;
				break;
			}
			set_in_force(static_cast<uint16_t>(ps.action));
			active_expires_ns_ = ps.expires_ns;
			result_.tune_applied++;
			push(ps.expires_ns, EventType::tune_expire, 0);
			break;
		}
		case EventType::tune_expire:
			if (active_expires_ns_ != 0 && now_ >= active_expires_ns_) {
				set_in_force(experience::kBaseSetting);
				active_expires_ns_ = 0;
				result_.tune_expired++;
			}
			break;
		case EventType::tune_schedule:
			set_in_force(opt_.tune_schedule[ev.flow].action);
			active_expires_ns_ = 0;
			break;
		default:
			break;
		}
	}

	// DualPI2's settings from now on: a tuned action, or the base. The PI
	// state and the queued packets carry on (DualPi2::change).
	void set_in_force(uint16_t action)
	{
		const auto &table = tuner_->action_params(0);
		if (action >= table.size())
			action = experience::kBaseSetting;
		if (action == in_force_)
			return;
		std::get<aqm::DualPi2>(aqm_).change(action < table.size() ? table[action] : base_params_);
		in_force_ = action;
	}

	// The tuner loop's sink: a setting computed from the state at state_ns
	// comes into force decision_delay_ns later.
	void publish_setting(uint32_t, uint32_t action, uint64_t state_ns, uint64_t expires_ns) override
	{
		pending_settings_.push_back({state_ns + opt_.decision_delay_ns, action, expires_ns});
		push(state_ns + opt_.decision_delay_ns, EventType::tune_apply, 0);
	}
	void withdraw_setting(uint32_t, uint64_t) override
	{
		set_in_force(experience::kBaseSetting);
		active_expires_ns_ = 0;
		result_.tune_withdrawn++;
	}

	void explore(aqm::Dequeued &d)
	{
		if (explore_rng_.next_double() >= opt_.epsilon)
			return;
		result_.explored++;
		const uint64_t pick = explore_rng_.next_u64() % 3;
		d.verdict = pick == 0 ? aqm::Verdict::forward : pick == 1 ? aqm::Verdict::drop : aqm::Verdict::forward_ce;
		if (d.verdict == aqm::Verdict::forward_ce && !aqm::is_ect(d.pkt.ecn))
			d.verdict = aqm::Verdict::drop;
	}

	// The tallies now_ counts in: the whole measured run and its segment.
	std::array<Tally *, 2> tallies_buf_{};
	std::span<Tally *> tallies()
	{
		size_t n = 0;
		tallies_buf_[n++] = &result_.measured;
		if (!result_.segments.empty()) {
			const uint64_t i = (now_ - sc_.warmup_ns) / opt_.segment_ns;
			tallies_buf_[n++] = &result_.segments[std::min<uint64_t>(i, result_.segments.size() - 1)];
		}
		return {tallies_buf_.data(), n};
	}

	// A drop enters its class's scored delays at what it had waited plus
	// the penalty (Objective::drop_penalty_ms): never below its sojourn, so
	// dropping old packets cannot trim a percentile.
	void score_drop(aqm::QueueId q, uint64_t waited_ns)
	{
		if (!measuring())
			return;
		const auto penalty_ns = static_cast<uint64_t>(opt_.objective.drop_penalty_ms * 1e6);
		for (Tally *t : tallies())
			t->scored_delay[static_cast<int>(q)].add(waited_ns + penalty_ns);
	}

	// Spreads a transmission over the utilisation samples it covers.
	void account_busy(uint64_t from, uint64_t len)
	{
		uint64_t t = from;
		const uint64_t end = std::min(from + len, end_ns_);
		while (t < end) {
			const uint64_t bin = t / sc_.sample_interval_ns;
			const uint64_t bin_end = std::min((bin + 1) * sc_.sample_interval_ns, end);
			if (bin < result_.utilisation.size())
				result_.utilisation[bin] += static_cast<double>(bin_end - t);
			t = bin_end;
		}
	}

	void at_receiver(const Event &ev)
	{
		FlowState &f = flows_[ev.flow];
		const bool ce = (ev.flags & 1) != 0;
		if (ce && measuring())
			f.stats.marks++;
		if (f.spec.cc == CcKind::udp) {
			deliver(ev.flow, f.spec.udp_size_bytes - std::min(f.spec.udp_size_bytes, kUdpHeaderBytes));
			return;
		}
		AckToSend ack;
		uint64_t delivered = 0;
		const bool now_ack = f.receiver->on_packet(ev.seq, ev.sent_ns, ce, ack, delivered);
		deliver(ev.flow, delivered * (sc_.mtu_bytes - kHeaderBytes));
		if (now_ack) {
			send_ack(ev.flow, ack);
		} else if (!f.dack_pending) {
			f.dack_pending = true;
			push(now_ + kDelayedAckNs, EventType::delayed_ack, ev.flow);
		}
	}

	// Payload delivered in order to a receiver: goodput, the numerator of
	// the objective's utilisation (retransmitted copies deliver nothing new).
	void deliver(uint32_t flow, uint64_t payload_bytes)
	{
		if (!measuring() || payload_bytes == 0)
			return;
		flows_[flow].stats.goodput_bytes += payload_bytes;
		for (Tally *t : tallies()) {
			t->payload_bytes += payload_bytes;
			t->flows[flow].goodput_bytes += payload_bytes;
		}
	}

	void send_ack(uint32_t flow, const AckToSend &ack)
	{
		const FlowState &f = flows_[flow];
		push(now_ + f.spec.rtt_ns / 2, EventType::ack_at_sender, flow, ack.ece ? 1 : 0, ack.ack, ack.echo_ns,
		     ack.ce_total, ack.sack_seq);
	}

	// The pool's state features for one decision (Table III(a) of the paper).
	std::array<float, experience::kFeatureCount> state_of(aqm::QueueId q, const aqm::Packet &pkt, uint64_t delay_ns) const
	{
		return experience::state_features(aqm_, q, delay_ns, pkt.len_bytes);
	}

	// One experience-pool entry per AQM decision (section II-B of the paper).
	void record(aqm::QueueId q, const aqm::Packet &pkt, uint64_t delay_ns, uint8_t action)
	{
		if (!opt_.record_pool)
			return;
		const double reward = experience::decision_reward(opt_.objective, q == aqm::QueueId::l4s, pkt.len_bytes,
						      static_cast<double>(delay_ns) / 1e3, action, sc_.mtu_bytes);
		result_.pool.add(state_of(q, pkt, delay_ns), action, static_cast<float>(reward), false);
	}

	// A flow's kind and its time on within [from, to).
	static void tally_flow(FlowTally &t, const FlowState &f, uint64_t from, uint64_t to)
	{
		t.long_flow = f.spec.cc != CcKind::udp && f.stats.object_packets == 0;
		t.l4s = f.spec.cc == CcKind::scalable;
		const uint64_t a = std::max(f.start_ns, from), b = std::min(f.stop_ns, to);
		t.active_ns = b > a ? b - a : 0;
	}

	void finish()
	{
		now_ = end_ns_;
		if (opt_.progress)
			opt_.progress(1.0);
		for (double &u : result_.utilisation)
			u /= static_cast<double>(sc_.sample_interval_ns);
		result_.measured_ns = end_ns_ - sc_.warmup_ns;
		result_.measured.capacity_bits = capacity_bits(sc_, sc_.warmup_ns, end_ns_);
		for (size_t i = 0; i < result_.segments.size(); i++) {
			const uint64_t from = sc_.warmup_ns + i * opt_.segment_ns;
			const uint64_t to = i + 1 == result_.segments.size() ? end_ns_ : from + opt_.segment_ns;
			result_.segments[i].capacity_bits = capacity_bits(sc_, from, to);
			for (size_t k = 0; k < flows_.size(); k++)
				tally_flow(result_.segments[i].flows[k], flows_[k], from, to);
		}
		for (size_t k = 0; k < flows_.size(); k++) {
			FlowState &f = flows_[k];
			tally_flow(result_.measured.flows[k], f, sc_.warmup_ns, end_ns_);
			const uint64_t from = std::max(f.start_ns, sc_.warmup_ns);
			const uint64_t to = std::min(f.stop_ns, end_ns_);
			f.stats.active_ns = to > from ? to - from : 0;
			if (f.sender) {
				f.stats.retransmits = f.sender->retransmits();
				f.stats.timeouts = f.sender->timeouts();
			}
			result_.flows.push_back(f.stats);
		}
		result_.utilisation_measured = tally_inputs(result_.measured).utilisation;
		if (!result_.pool.dones.empty())
			result_.pool.dones.back() = 1; // one run, one episode
		result_.aqm_description = aqm::describe(aqm_);
		if (tuner_)
			result_.tune_held_ns = tuner_->port(0).held_ns;
	}

	const Scenario &sc_;
	RunOptions opt_;
	aqm::AnyAqm aqm_;
	aqm::Rng rng_;
	aqm::Rng explore_rng_;
	aqm::Rng traffic_rng_; // flows' start jitter and short flows' arrivals and sizes only
	EventQueue events_;
	std::vector<FlowState> flows_;
	std::vector<InFlight> slots_;
	std::vector<uint64_t> free_slots_;
	std::deque<PendingOverride> pending_; // in order of at_ns: one delay for all
	std::array<ActiveOverride, aqm::kQueueCount> active_{};
	std::array<uint64_t, aqm::kQueueCount> decisions_{};
	uint64_t now_ = 0;
	uint64_t end_ns_ = 0;
	bool link_busy_ = false;
	RunResult result_;
	// The tuner: its loop (the run's or our own), the bottleneck's counter,
	// the settings on their way and the one in force.
	policy::TuneLoop *tuner_ = nullptr;
	std::unique_ptr<policy::TuneLoop> own_tuner_;
	experience::TuneCounter counter_;
	aqm::DualPi2Params base_params_;
	uint64_t tune_step_ns_ = 0;
	std::deque<PendingSetting> pending_settings_; // in order of at_ns: one delay for all
	uint16_t in_force_ = experience::kBaseSetting;
	uint64_t active_expires_ns_ = 0;
};

} // namespace

double RunResult::goodput_bps(const FlowStats &f) const
{
	return f.active_ns ? static_cast<double>(f.goodput_bytes) * 8e9 / static_cast<double>(f.active_ns) : 0;
}

double RunResult::jain_fairness() const { return tally_inputs(measured).jain; }

experience::ObjectiveInputs RunResult::objective_inputs() const { return tally_inputs(measured); }

RunResult run_scenario(const Scenario &scenario, aqm::AnyAqm aqm, const RunOptions &options)
{
	Simulation sim(scenario, std::move(aqm), options);
	return sim.run();
}

} // namespace dualpilot::sim
