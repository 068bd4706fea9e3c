// dualpilot-aqm-demo: responsive flows through one bottleneck under each AQM,
// with a table of queue delay percentiles, goodput, marks and drops per
// traffic class. The flows are a compact ACK-clocked model (slow start,
// additive increase, one reduction per window): Reno-style Classic senders
// (Not-ECT, halve on loss) and scalable L4S senders (ECT(1), DCTCP-style
// reduction by alpha/2 per window with marks, RFC 9331 section 4.3).
// The full simulator with Cubic, timeouts and scenarios lives beside it.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <queue>
#include <string>
#include <vector>

#include "aqm/aqm.hpp"
#include "aqm/histogram.hpp"

namespace {

using namespace dualpilot::aqm;

struct DemoConfig {
	double rate_bps = 20e6;
	double rtt_ms = 20;
	double duration_s = 30;
	double warmup_s = 5;
	int reno_flows = 2;
	int scalable_flows = 2;
	uint32_t mss_bytes = 1500;
	uint64_t seed = 1;
};

enum class Cc : uint8_t { reno, scalable };

struct Flow {
	Cc cc;
	double cwnd = 2;
	double ssthresh = 1e9;
	uint32_t inflight = 0;
	uint64_t next_seq = 0;
	uint64_t recover_seq = 0; // one reduction per window of data
	// Scalable: marked fraction over the last window, as an EWMA (g = 1/16).
	double alpha = 1.0;
	uint64_t window_end_seq = 0;
	uint32_t acked_in_window = 0;
	uint32_t marked_in_window = 0;
	uint64_t goodput_bytes = 0; // after warm-up
};

enum class EventType : uint8_t { ack, loss, link_free };

struct Event {
	uint64_t at_ns;
	EventType type;
	uint32_t flow;
	uint64_t seq;
	bool ce;
	bool operator>(const Event &o) const { return at_ns > o.at_ns; }
};

struct ClassResult {
	DelayHistogram delay;
	uint64_t goodput_bytes = 0;
	uint64_t marks = 0;
	uint64_t drops = 0;
};

struct RunResult {
	std::string aqm_line;
	ClassResult cls[2]; // 0: Classic flows, 1: L4S flows
	double utilisation = 0;
};

constexpr uint64_t kFlowShift = 40;

class Demo {
public:
	Demo(const DemoConfig &cfg, AnyAqm aqm) : cfg_(cfg), aqm_(std::move(aqm))
	{
		for (int i = 0; i < cfg.reno_flows; i++)
			flows_.push_back(Flow{Cc::reno});
		for (int i = 0; i < cfg.scalable_flows; i++)
			flows_.push_back(Flow{Cc::scalable});
		rtt_ns_ = static_cast<uint64_t>(cfg.rtt_ms * 1e6);
		tx_ns_ = static_cast<uint64_t>(cfg.mss_bytes * 8 / cfg.rate_bps * 1e9);
		warmup_ns_ = static_cast<uint64_t>(cfg.warmup_s * 1e9);
	}

	RunResult run()
	{
		// Flows start 100 ms apart so slow starts do not coincide.
		for (uint32_t f = 0; f < flows_.size(); f++)
			events_.push({f * 100000000ull, EventType::ack, f, UINT64_MAX, false});
		const auto end_ns = static_cast<uint64_t>(cfg_.duration_s * 1e9);
		uint64_t busy_ns = 0;
		while (!events_.empty() && events_.top().at_ns < end_ns) {
			const Event ev = events_.top();
			events_.pop();
			now_ = ev.at_ns;
			if (ev.type == EventType::link_free) {
				link_busy_ = false;
			} else {
				on_feedback(ev);
				send(ev.flow);
			}
			if (!link_busy_)
				busy_ns += serve();
		}
		RunResult r;
		r.aqm_line = describe(aqm_);
		for (int c = 0; c < 2; c++)
			r.cls[c] = cls_[c];
		for (const Flow &f : flows_)
			r.cls[f.cc == Cc::scalable].goodput_bytes += f.goodput_bytes;
		r.utilisation = static_cast<double>(busy_ns) / static_cast<double>(end_ns - warmup_ns_);
		return r;
	}

private:
	void on_feedback(const Event &ev)
	{
		Flow &f = flows_[ev.flow];
		if (ev.seq == UINT64_MAX)
			return; // the flow's start
		f.inflight--;
		if (ev.type == EventType::loss) {
			if (ev.seq >= f.recover_seq) {
				f.ssthresh = std::max(2.0, f.cwnd / 2);
				f.cwnd = f.ssthresh;
				f.recover_seq = f.next_seq;
			}
			return;
		}
		if (now_ >= warmup_ns_)
			f.goodput_bytes += cfg_.mss_bytes;
		if (f.cc == Cc::reno) {
			if (ev.ce && ev.seq >= f.recover_seq) {
				f.ssthresh = std::max(2.0, f.cwnd / 2);
				f.cwnd = f.ssthresh;
				f.recover_seq = f.next_seq;
			} else {
				f.cwnd += f.cwnd < f.ssthresh ? 1.0 : 1.0 / f.cwnd;
			}
			return;
		}
		// Scalable: per-window EWMA of the marked fraction; on a window with
		// marks, cwnd *= 1 - alpha / 2. Slow start ends at the first mark.
		f.acked_in_window++;
		f.marked_in_window += ev.ce;
		if (ev.ce)
			f.ssthresh = std::min(f.ssthresh, f.cwnd);
		f.cwnd += f.cwnd < f.ssthresh ? 1.0 : 1.0 / f.cwnd;
		if (ev.seq >= f.window_end_seq) {
			const double frac = static_cast<double>(f.marked_in_window) / std::max(1u, f.acked_in_window);
			f.alpha += (frac - f.alpha) / 16;
			if (f.marked_in_window > 0)
				f.cwnd = std::max(2.0, f.cwnd * (1 - f.alpha / 2));
			f.window_end_seq = f.next_seq;
			f.acked_in_window = f.marked_in_window = 0;
		}
	}

	void send(uint32_t flow)
	{
		Flow &f = flows_[flow];
		const Ecn ecn = f.cc == Cc::scalable ? Ecn::ect1 : Ecn::not_ect;
		while (f.inflight < static_cast<uint32_t>(f.cwnd)) {
			const uint64_t seq = f.next_seq++;
			f.inflight++;
			const Packet p{now_, (uint64_t{flow} << kFlowShift) | seq, cfg_.mss_bytes, ecn, 0};
			if (enqueue(aqm_, p) != EnqueueResult::accepted) {
				count_drop(flow);
				events_.push({now_ + rtt_ns_, EventType::loss, flow, seq, false});
			}
		}
	}

	// Puts the next packet on the wire; returns how long the link is busy.
	uint64_t serve()
	{
		Dequeued d;
		while (dequeue(aqm_, now_, d)) {
			const auto flow = static_cast<uint32_t>(d.pkt.handle >> kFlowShift);
			const uint64_t seq = d.pkt.handle & ((uint64_t{1} << kFlowShift) - 1);
			if (d.verdict == Verdict::drop) {
				count_drop(flow);
				events_.push({now_ + rtt_ns_, EventType::loss, flow, seq, false});
				continue;
			}
			const bool ce = d.verdict == Verdict::forward_ce;
			if (now_ >= warmup_ns_) {
				ClassResult &c = cls_[flows_[flow].cc == Cc::scalable];
				c.delay.add(d.sojourn_ns);
				c.marks += ce;
			}
			link_busy_ = true;
			events_.push({now_ + tx_ns_, EventType::link_free, 0, 0, false});
			// The receiver echoes CE; the ACK comes back one base RTT later.
			events_.push({now_ + tx_ns_ + rtt_ns_, EventType::ack, flow, seq, ce || d.pkt.ecn == Ecn::ce});
			return now_ >= warmup_ns_ ? tx_ns_ : 0;
		}
		return 0;
	}

	void count_drop(uint32_t flow)
	{
		if (now_ >= warmup_ns_)
			cls_[flows_[flow].cc == Cc::scalable].drops++;
	}

	DemoConfig cfg_;
	AnyAqm aqm_;
	std::vector<Flow> flows_;
	std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events_;
	ClassResult cls_[2];
	uint64_t now_ = 0, rtt_ns_ = 0, tx_ns_ = 0, warmup_ns_ = 0;
	bool link_busy_ = false;
};

std::string ms(uint64_t ns) { return fmt::format("{:.2f}", static_cast<double>(ns) / 1e6); }

} // namespace

int main(int argc, char **argv)
{
	DemoConfig cfg;
	std::vector<std::string> aqms = {"fifo", "pie", "codel", "dualpi2"};
	std::vector<std::string> sets;
	CLI::App app{"dualpilot-aqm-demo: Classic and L4S flows through one bottleneck under each AQM"};
	app.add_option("--aqm", aqms, "AQMs to compare, in order")->delimiter(',');
	app.add_option("--rate-mbit", [&](const CLI::results_t &r) {
		cfg.rate_bps = std::stod(r[0]) * 1e6;
		return cfg.rate_bps > 0;
	}, "bottleneck rate, Mbit/s (default 20)");
	app.add_option("--rtt-ms", cfg.rtt_ms, "base round-trip time, ms")->check(CLI::Range(0.1, 10000.0));
	app.add_option("--duration", cfg.duration_s, "simulated seconds")->check(CLI::Range(1.0, 3600.0));
	app.add_option("--warmup", cfg.warmup_s, "seconds left out of the statistics")->check(CLI::Range(0.0, 3600.0));
	app.add_option("--reno", cfg.reno_flows, "Classic (Reno, Not-ECT) flows")->check(CLI::Range(0, 1000));
	app.add_option("--scalable", cfg.scalable_flows, "L4S (scalable, ECT(1)) flows")->check(CLI::Range(0, 1000));
	app.add_option("--seed", cfg.seed, "seed of the AQMs' probability rolls");
	app.add_option("--set", sets, "AQM parameter, as AQM:key=value (e.g. dualpi2:target=20ms)");
	CLI11_PARSE(app, argc, argv);
	if (cfg.warmup_s >= cfg.duration_s) {
		fmt::print(stderr, "error: --warmup must be shorter than --duration\n");
		return 2;
	}

	std::map<std::string, std::vector<Setting>> settings;
	for (const std::string &s : sets) {
		const size_t colon = s.find(':');
		if (colon == std::string::npos) {
			fmt::print(stderr, "error: --set '{}': expected AQM:key=value\n", s);
			return 2;
		}
		settings[s.substr(0, colon)].push_back(parse_setting(s.substr(colon + 1)));
	}

	fmt::print("dualpilot demo: {} Classic (Reno, Not-ECT) + {} L4S (scalable, ECT(1)) flows, "
		   "{:g} Mbit/s bottleneck, base RTT {:g} ms, {:g} s (first {:g} s not counted)\n\n",
		   cfg.reno_flows, cfg.scalable_flows, cfg.rate_bps / 1e6, cfg.rtt_ms, cfg.duration_s,
		   cfg.warmup_s);
	fmt::print("{:<8} {:<8} {:>9} {:>9} {:>9} {:>9} {:>10} {:>8} {:>8}\n", "aqm", "traffic",
		   "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "Mbit/s", "marks", "drops");
	std::vector<std::string> lines;
	for (const std::string &name : aqms) {
		AqmOrError built = make_aqm(name, settings[name], cfg.seed);
		if (!built.error.empty()) {
			fmt::print(stderr, "error: {}\n", built.error);
			return 2;
		}
		Demo demo(cfg, std::move(built.aqm[0]));
		const RunResult r = demo.run();
		const double secs = cfg.duration_s - cfg.warmup_s;
		for (int c = 1; c >= 0; c--) {
			const ClassResult &cr = r.cls[c];
			if ((c ? cfg.scalable_flows : cfg.reno_flows) == 0)
				continue;
			fmt::print("{:<8} {:<8} {:>9} {:>9} {:>9} {:>9} {:>10.2f} {:>8} {:>8}\n", name,
				   c ? "L4S" : "Classic", ms(cr.delay.percentile_ns(0.5)),
				   ms(cr.delay.percentile_ns(0.9)), ms(cr.delay.percentile_ns(0.99)),
				   ms(cr.delay.percentile_ns(0.999)), cr.goodput_bytes * 8 / secs / 1e6, cr.marks,
				   cr.drops);
		}
		lines.push_back(fmt::format("  {:<8} utilisation {:5.1f} %   {}", name, r.utilisation * 100,
					    r.aqm_line));
	}
	fmt::print("\nqueue delay = sojourn time in the AQM; marks/drops counted by traffic class\n");
	for (const std::string &l : lines)
		fmt::print("{}\n", l);
	return 0;
}
