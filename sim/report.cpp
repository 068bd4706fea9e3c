#include "sim/report.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace dualpilot::sim {

namespace {

const char *queue_name(int q) { return q == 1 ? "L4S" : "Classic"; }

const char *ecn_name(aqm::Ecn e)
{
	switch (e) {
	case aqm::Ecn::not_ect:
		return "not-ect";
	case aqm::Ecn::ect0:
		return "ect0";
	case aqm::Ecn::ect1:
		return "ect1";
	case aqm::Ecn::ce:
		return "ce";
	}
	return "?";
}

double ms(uint64_t ns) { return static_cast<double>(ns) / 1e6; }

std::string write_text(const std::string &path, const std::string &text)
{
	std::ofstream out(path, std::ios::trunc);
	if (!(out << text))
		return path + ": cannot write";
	return {};
}

} // namespace

std::string summary_table(const Scenario &sc, const RunResult &r, uint64_t seed)
{
	std::string out = fmt::format("{} | {} | seed {} | {:g} s, first {:g} s not counted\n", sc.name,
				      r.aqm_description, seed, sc.duration_ns / 1e9, sc.warmup_ns / 1e9);
	out += fmt::format("{:<8} {:>9} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8} {:>9} {:>9}\n", "queue", "packets",
			   "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "mean ms", "marks", "aqm drops", "overflows");
	for (int q = 1; q >= 0; q--) {
		const QueueStats &s = r.queues[q];
		if (s.forwarded == 0 && s.aqm_drops == 0 && s.overflow_drops == 0)
			continue;
		out += fmt::format("{:<8} {:>9} {:>8.2f} {:>8.2f} {:>8.2f} {:>9.2f} {:>8.2f} {:>8} {:>9} {:>9}\n",
				   queue_name(q), s.forwarded, ms(s.delay.percentile_ns(0.5)),
				   ms(s.delay.percentile_ns(0.9)), ms(s.delay.percentile_ns(0.99)),
				   ms(s.delay.percentile_ns(0.999)), s.delay.mean_ns() / 1e6, s.marks, s.aqm_drops,
				   s.overflow_drops);
	}
	out += fmt::format("link utilisation {:.1f} %   Jain fairness (TCP flows) {:.3f}\n",
			   r.utilisation_measured * 100, r.jain_fairness());
	out += experience::objective_line(r.objective_inputs(), sc.objective) + "\n";
	out += fmt::format("{:<20} {:<9} {:<8} {:>14} {:>8} {:>8} {:>7} {:>8}\n", "flow", "cc", "ecn",
			   "goodput Mbit/s", "retrans", "timeouts", "drops", "marks");
	for (const FlowStats &f : r.flows)
		out += fmt::format("{:<20} {:<9} {:<8} {:>14.3f} {:>8} {:>8} {:>7} {:>8}\n", f.name, cc_name(f.cc),
				   ecn_name(f.ecn), r.goodput_bps(f) / 1e6, f.retransmits, f.timeouts, f.drops, f.marks);
	return out;
}

std::string compare_header()
{
	return fmt::format("{:<8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>9} {:>9} {:>7} {:>7} {:>6} {:>6}\n", "aqm",
			   "L p50 ms", "L p99 ms", "C p50 ms", "C p99 ms", "util %", "L Mbit/s", "C Mbit/s", "marks", "drops",
			   "Jain", "score");
}

std::string compare_row(const std::string &aqm_name, const RunResult &r, const experience::Objective &objective)
{
	// Goodput by traffic class: ECT(1) flows are L4S traffic whatever the AQM.
	double l_bps = 0, c_bps = 0;
	for (const FlowStats &f : r.flows)
		(f.ecn == aqm::Ecn::ect1 ? l_bps : c_bps) += r.goodput_bps(f);
	uint64_t marks = 0, drops = 0;
	for (const QueueStats &q : r.queues) {
		marks += q.marks;
		drops += q.aqm_drops + q.overflow_drops;
	}
	auto p = [&](int q, double quant) -> std::string {
		if (r.queues[q].delay.count() == 0)
			return "-";
		return fmt::format("{:.2f}", ms(r.queues[q].delay.percentile_ns(quant)));
	};
	return fmt::format("{:<8} {:>8} {:>8} {:>8} {:>8} {:>7.1f} {:>9.2f} {:>9.2f} {:>7} {:>7} {:>6.3f} {:>6.3f}\n",
			   aqm_name, p(1, 0.5), p(1, 0.99), p(0, 0.5), p(0, 0.99), r.utilisation_measured * 100,
			   l_bps / 1e6, c_bps / 1e6, marks, drops, r.jain_fairness(),
			   score(experience::as_printed(r.objective_inputs()), objective).score);
}

namespace {

// summary.json: the run's scenario, its queues' and flows' figures and the
// objective's score.
nlohmann::ordered_json summary_json(const Scenario &sc, const RunResult &r, uint64_t seed)
{
	nlohmann::ordered_json j;
	j["scenario"] = sc.name;
	j["aqm"] = r.aqm_description;
	j["seed"] = seed;
	j["duration_s"] = sc.duration_ns / 1e9;
	j["warmup_s"] = sc.warmup_ns / 1e9;
	j["rate_bps"] = sc.rate_bps;
	j["utilisation"] = r.utilisation_measured;
	j["jain_fairness"] = r.jain_fairness();
	for (int q = 1; q >= 0; q--) {
		const QueueStats &s = r.queues[q];
		j["queues"][queue_name(q)] = {
			{"packets", s.forwarded},
			{"delay_ms", {{"p50", ms(s.delay.percentile_ns(0.5))}, {"p90", ms(s.delay.percentile_ns(0.9))},
				      {"p99", ms(s.delay.percentile_ns(0.99))}, {"p99.9", ms(s.delay.percentile_ns(0.999))},
				      {"mean", s.delay.mean_ns() / 1e6}, {"max", ms(s.delay.max_ns())}}},
			{"marks", s.marks},
			{"aqm_drops", s.aqm_drops},
			{"overflow_drops", s.overflow_drops}};
	}
	for (const FlowStats &f : r.flows)
		j["flows"].push_back({{"name", f.name}, {"cc", cc_name(f.cc)}, {"ecn", ecn_name(f.ecn)},
				      {"goodput_bps", r.goodput_bps(f)}, {"sent", f.sent_pkts},
				      {"retransmits", f.retransmits}, {"timeouts", f.timeouts}, {"drops", f.drops},
				      {"marks", f.marks}});
	// The score on the inputs as objective_line prints them: a reader
	// scoring this file's figures again gets the same number.
	const experience::ObjectiveInputs in = experience::as_printed(r.objective_inputs());
	j["objective"] = {{"score", score(in, sc.objective).score},
			  {"line", experience::objective_line(in, sc.objective)},
			  {"l4s", {{"present", in.queue[1].present}, {"p50_ms", in.queue[1].p50_ms}, {"p99_ms", in.queue[1].p99_ms}}},
			  {"classic", {{"present", in.queue[0].present}, {"p50_ms", in.queue[0].p50_ms}, {"p99_ms", in.queue[0].p99_ms}}},
			  {"utilisation", in.utilisation},
			  {"jain", in.jain < 0 ? nlohmann::json(nullptr) : nlohmann::json(in.jain)},
			  {"balance", in.rate_balance < 0 ? nlohmann::json(nullptr) : nlohmann::json(in.rate_balance)}};
	j["pilot_backoffs"] = r.pilot_backoffs;
	j["pool_entries"] = r.pool.size();
	return j;
}

// delay_cdf.csv: the CDF as quantiles, 1000 points per queue, enough for any plot.
std::string delay_cdf_csv(const RunResult &r)
{
	std::string cdf = "queue,quantile,delay_ms\n";
	for (int q = 1; q >= 0; q--) {
		const QueueStats &s = r.queues[q];
		if (s.delay.count() == 0)
			continue;
		for (int i = 0; i <= 1000; i++)
			cdf += fmt::format("{},{:.3f},{:.4f}\n", queue_name(q), i / 1000.0,
					   ms(s.delay.percentile_ns(i / 1000.0)));
	}
	return cdf;
}

std::string utilisation_csv(const Scenario &sc, const RunResult &r)
{
	std::string util = "time_s,utilisation\n";
	for (size_t i = 0; i < r.utilisation.size(); i++)
		util += fmt::format("{:.3f},{:.4f}\n", (i + 1) * sc.sample_interval_ns / 1e9, r.utilisation[i]);
	return util;
}

std::string flows_csv(const RunResult &r)
{
	std::string flows = "flow,cc,ecn,goodput_mbps,sent,retransmits,timeouts,drops,marks\n";
	for (const FlowStats &f : r.flows)
		flows += fmt::format("{},{},{},{:.4f},{},{},{},{},{}\n", f.name, cc_name(f.cc), ecn_name(f.ecn),
				     r.goodput_bps(f) / 1e6, f.sent_pkts, f.retransmits, f.timeouts, f.drops, f.marks);
	return flows;
}

} // namespace

std::string write_run_dir(const Scenario &sc, const RunResult &r, uint64_t seed, const std::string &dir,
			  bool write_pool_json_file, bool write_pool_dpp_file)
{
	std::error_code ec;
	std::filesystem::create_directories(dir, ec);
	if (ec)
		return dir + ": cannot create: " + ec.message();
	for (const auto &[file, text] : {std::pair<const char *, std::string>{"summary.txt", summary_table(sc, r, seed)},
					{"summary.json", summary_json(sc, r, seed).dump(2) + "\n"},
					{"delay_cdf.csv", delay_cdf_csv(r)},
					{"utilisation.csv", utilisation_csv(sc, r)},
					{"flows.csv", flows_csv(r)}})
		if (auto err = write_text(dir + "/" + file, text); !err.empty())
			return err;
	if (write_pool_json_file)
		if (auto err = experience::write_pool_json(r.pool, dir + "/pool.json"); !err.empty())
			return err;
	if (write_pool_dpp_file)
		if (auto err = experience::write_pool_binary(r.pool, dir + "/pool.dpp"); !err.empty())
			return err;
	return {};
}

} // namespace dualpilot::sim
