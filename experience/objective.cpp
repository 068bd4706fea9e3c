#include "experience/objective.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>


namespace dualpilot::experience {

namespace {

double class_weight(const Objective &o, int q) { return q == 1 ? o.l4s_weight : o.classic_weight; }
double class_ref_ms(const Objective &o, int q) { return q == 1 ? o.l4s_delay_ref_ms : o.classic_delay_ref_ms; }

} // namespace

ObjectiveScore score(const ObjectiveInputs &in, const Objective &o)
{
	ObjectiveScore s;
	const double u = std::clamp(in.utilisation, 0.0, 1.0);
	s.utilisation_term = u >= o.utilisation_floor ? u : u * std::pow(u / o.utilisation_floor, o.floor_exponent);
	double sum = 0, weights = 0;
	for (int q = 0; q < 2; q++) {
		const ClassFigures &c = in.queue[q];
		if (!c.present)
			continue;
		const double delay_ms = (1 - o.p99_weight) * std::max(0.0, c.p50_ms) + o.p99_weight * std::max(0.0, c.p99_ms);
		s.delay_factor[q] = 1 + delay_ms / class_ref_ms(o, q);
		sum += class_weight(o, q) * s.utilisation_term / s.delay_factor[q];
		weights += class_weight(o, q);
	}
	s.fairness_term = in.jain < 0 ? 1.0 : std::pow(std::clamp(in.jain, 0.0, 1.0), o.fairness_weight);
	if (in.rate_balance > 0)
		s.balance_term = std::pow(std::min(in.rate_balance, 1 / in.rate_balance), o.balance_weight);
	else if (in.rate_balance == 0) // one class's long flows got nothing
		s.balance_term = o.balance_weight > 0 ? 0 : 1;
	s.score = weights > 0 ? sum / weights * s.fairness_term * s.balance_term : 0;
	return s;
}

Objective without_floor(Objective o)
{
	o.utilisation_floor = 0; // u >= 0 always: U = u
	return o;
}

double decision_reward(const Objective &o, bool l4s, double len_bytes, double delay_us, uint8_t action,
		       double mtu_bytes)
{
	if (o.reward == RewardKind::paper)
		return len_bytes / (delay_us + o.paper_delay_offset_us);
	if (action == 1)
		return 0;
	const int q = l4s ? 1 : 0;
	const double share = class_weight(o, q) / (o.l4s_weight + o.classic_weight);
	return share * (len_bytes / mtu_bytes) / (1 + delay_us / 1e3 / class_ref_ms(o, q));
}

std::string reward_definition(const Objective &o)
{
	char text[160];
	if (o.reward == RewardKind::paper)
		std::snprintf(text, sizeof(text), "packet_length / (current_queue_delay_us + %g)", o.paper_delay_offset_us);
	else
		std::snprintf(text, sizeof(text), "objective: w*sent/mtu/(1+delay/ref) L %g/%gms C %g/%gms", o.l4s_weight,
			      o.l4s_delay_ref_ms, o.classic_weight, o.classic_delay_ref_ms);
	return std::string(text).substr(0, 63); // the .dpp header's field
}

ObjectiveInputs as_printed(const ObjectiveInputs &exact)
{
	auto round_to = [](double v, double unit) { return std::round(v / unit) * unit; };
	ObjectiveInputs in = exact;
	for (ClassFigures &c : in.queue) {
		c.p50_ms = round_to(c.p50_ms, 1e-4);
		c.p99_ms = round_to(c.p99_ms, 1e-4);
	}
	in.utilisation = round_to(in.utilisation, 1e-6);
	if (in.jain >= 0)
		in.jain = round_to(in.jain, 1e-4);
	if (in.rate_balance >= 0)
		in.rate_balance = round_to(in.rate_balance, 1e-4);
	return in;
}

std::string objective_line(const ObjectiveInputs &exact, const Objective &o)
{
	// Scored on the inputs as printed, so that a reader of the line who
	// scores them again (dualpilot-score) gets the same number.
	const ObjectiveInputs in = as_printed(exact);
	const ObjectiveScore s = score(in, o);
	auto cls = [&](int q, const char *name) {
		char t[96];
		if (!in.queue[q].present)
			std::snprintf(t, sizeof(t), "%s -", name);
		else
			std::snprintf(t, sizeof(t), "%s p50 %.4f p99 %.4f ms", name, in.queue[q].p50_ms, in.queue[q].p99_ms);
		return std::string(t);
	};
	auto known = [](double v) {
		char t[32];
		if (v < 0)
			std::snprintf(t, sizeof(t), "-");
		else
			std::snprintf(t, sizeof(t), "%.4f", v);
		return std::string(t);
	};
	char head[64], tail[128];
	std::snprintf(head, sizeof(head), "objective: score %.4f (", s.score);
	std::snprintf(tail, sizeof(tail), ", utilisation %.4f %%, Jain %s, balance %s)", 100 * in.utilisation,
		      known(in.jain).c_str(), known(in.rate_balance).c_str());
	return head + cls(1, "L") + ", " + cls(0, "C") + tail;
}

} // namespace dualpilot::experience
