// bench-aqm: ns per packet (one enqueue + one dequeue) for each AQM on a
// saturated queue of 64-byte packets, half L4S (ECT(1)) and half Classic
// (Not-ECT), handled in bursts of 32 as the router does.
//
// The queue is kept 1024 packets deep; virtual time advances 51.2 ns per
// packet (64 B at 10 Gbit/s). DualPI2 runs twice: with p' at 0 (no rolls),
// and with p' pinned at 0.1 so every packet takes the coupled-roll path
// (C drops 1 %, L marks 20 %), each through the per-packet calls and through
// the burst API (enqueue_burst / dequeue_burst, one tick per burst). The
// last line is the burst API's pinned figure.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "aqm/aqm.hpp"

namespace {

using namespace dualpilot::aqm;

constexpr int kBurst = 32;
constexpr int kDepth = 1024;
constexpr uint64_t kPktTimePs = 51200; // 64 B at 10 Gbit/s, in picoseconds

template <typename A>
void run_saturated(benchmark::State &state, A &aqm, double pinned_prob)
{
	uint64_t now_ps = 1000000;
	uint64_t handle = 0;
	auto next_pkt = [&] {
		now_ps += kPktTimePs;
		// Alternate L and C: a 50/50 mix with no branch-predictor favours.
		const Ecn ecn = (handle & 1) ? Ecn::ect1 : Ecn::not_ect;
		return Packet{now_ps / 1000, handle++, 64, ecn, 0};
	};
	for (int i = 0; i < kDepth; i++)
		aqm.enqueue(next_pkt());
	Packet burst[kBurst];
	uint64_t forwarded = 0;
	for (auto _ : state) {
		if constexpr (std::is_same_v<A, DualPi2>) {
			if (pinned_prob > 0)
				aqm.set_prob_q32(prob_to_q32(pinned_prob));
		}
		for (int i = 0; i < kBurst; i++)
			burst[i] = next_pkt();
		for (int i = 0; i < kBurst; i++)
			aqm.enqueue(burst[i]);
		const uint64_t now_ns = now_ps / 1000;
		Dequeued out;
		for (int i = 0; i < kBurst; i++) {
			if (!aqm.dequeue(now_ns, out))
				break;
			forwarded += out.verdict != Verdict::drop;
		}
	}
	benchmark::DoNotOptimize(forwarded);
	state.SetItemsProcessed(state.iterations() * kBurst);
}

// The same load through the burst API the router uses: one enqueue_burst
// and one dequeue_burst (one tick each) per 32 packets.
void run_saturated_burst(benchmark::State &state, DualPi2 &aqm, double pinned_prob)
{
	uint64_t now_ps = 1000000;
	uint64_t handle = 0;
	// Field by field, as the router's rx writes its descriptors: a struct
	// returned by value and copied would stall on store forwarding and time
	// the harness, not the AQM.
	auto next_pkt = [&](Packet &p) {
		now_ps += kPktTimePs;
		p.arrival_ns = now_ps / 1000;
		p.handle = handle;
		p.len_bytes = 64;
		p.ecn = (handle++ & 1) ? Ecn::ect1 : Ecn::not_ect;
		p.aqm_flags = 0;
		p.tag = 0;
	};
	Packet burst[kBurst];
	for (int i = 0; i < kDepth; i++) {
		next_pkt(burst[0]);
		aqm.enqueue(burst[0]);
	}
	EnqueueResult result[kBurst];
	Dequeued out[kBurst];
	uint64_t forwarded = 0;
	for (auto _ : state) {
		if (pinned_prob > 0)
			aqm.set_prob_q32(prob_to_q32(pinned_prob));
		for (int i = 0; i < kBurst; i++)
			next_pkt(burst[i]);
		const uint64_t now_ns = now_ps / 1000;
		aqm.enqueue_burst(now_ns, burst, kBurst, result);
		const uint32_t n = aqm.dequeue_burst(now_ns, INT64_MAX, 0, kBurst, out, kBurst);
		for (uint32_t i = 0; i < n; i++)
			forwarded += out[i].verdict != Verdict::drop;
	}
	benchmark::DoNotOptimize(forwarded);
	state.SetItemsProcessed(state.iterations() * kBurst);
}

template <typename A>
A build(const char *name, const char *args)
{
	std::vector<Setting> settings;
	if (std::string err = split_tc_args(name, args, settings); !err.empty()) {
		std::fprintf(stderr, "%s\n", err.c_str());
		std::exit(1);
	}
	auto built = make_aqm(name, settings, 7);
	if (!built.error.empty()) {
		std::fprintf(stderr, "%s\n", built.error.c_str());
		std::exit(1);
	}
	return std::get<A>(std::move(*built.aqm));
}

void BM_Fifo(benchmark::State &state)
{
	auto q = build<Fifo>("fifo", "limit 4096");
	run_saturated(state, q, 0);
}
void BM_Pie(benchmark::State &state)
{
	auto q = build<Pie>("pie", "limit 4096 ecn");
	run_saturated(state, q, 0);
}
void BM_Codel(benchmark::State &state)
{
	auto q = build<Codel>("codel", "limit 4096 ecn");
	run_saturated(state, q, 0);
}
void BM_Dualpi2Idle(benchmark::State &state)
{
	auto q = build<DualPi2>("dualpi2", "limit 4096");
	run_saturated(state, q, 0);
}
void BM_Dualpi2Coupled(benchmark::State &state)
{
	auto q = build<DualPi2>("dualpi2", "limit 4096 tupdate 10s");
	run_saturated(state, q, 0.1);
}

void BM_Dualpi2BurstIdle(benchmark::State &state)
{
	auto q = build<DualPi2>("dualpi2", "limit 4096");
	run_saturated_burst(state, q, 0);
}
void BM_Dualpi2BurstCoupled(benchmark::State &state)
{
	auto q = build<DualPi2>("dualpi2", "limit 4096 tupdate 10s");
	run_saturated_burst(state, q, 0.1);
}

// Every dequeue hands back one packet, forwarded or dropped, so 32 in and 32
// out hold the depth without any refill inside the timed loop.
BENCHMARK(BM_Fifo)->Unit(benchmark::kNanosecond);
BENCHMARK(BM_Pie)->Unit(benchmark::kNanosecond);
BENCHMARK(BM_Codel)->Unit(benchmark::kNanosecond);
BENCHMARK(BM_Dualpi2Idle)->Unit(benchmark::kNanosecond);
BENCHMARK(BM_Dualpi2Coupled)->Unit(benchmark::kNanosecond);
BENCHMARK(BM_Dualpi2BurstIdle)->Unit(benchmark::kNanosecond);
BENCHMARK(BM_Dualpi2BurstCoupled)->Unit(benchmark::kNanosecond);

// Keeps each run's ns per packet so the last line can name the headline.
class Reporter : public benchmark::ConsoleReporter {
public:
	std::map<std::string, double> ns_per_pkt;
	void ReportRuns(const std::vector<Run> &runs) override
	{
		for (const Run &r : runs) {
			if (r.run_type == Run::RT_Iteration)
				ns_per_pkt[r.benchmark_name()] = r.GetAdjustedRealTime() / kBurst;
		}
		ConsoleReporter::ReportRuns(runs);
	}
};

} // namespace

int main(int argc, char **argv)
{
	benchmark::Initialize(&argc, argv);
	Reporter reporter;
	benchmark::RunSpecifiedBenchmarks(&reporter);
	std::printf("\nns per packet (enqueue + dequeue, 64 B, 50/50 L/C, bursts of %d):\n", kBurst);
	for (const auto &[name, ns] : reporter.ns_per_pkt)
		std::printf("  %-20s %6.1f\n", name.c_str(), ns);
	// The headline: DualPI2 through the burst API, p' pinned at 0.1.
	const auto it = reporter.ns_per_pkt.find("BM_Dualpi2BurstCoupled");
	if (it == reporter.ns_per_pkt.end())
		return 0;
	std::printf("dualpi2_ns_per_pkt: %.1f\n", it->second);
	benchmark::Shutdown();
	return 0;
}
