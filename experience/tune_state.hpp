// The tuner's state (issue 27; docs/pilot.md, "The tuner"): what a port's
// DualPI2 queue pair did, sampled by time rather than by packet, and the
// scale-free features over several time scales the tuner's model reads.
//
// Two halves, so that the packet path does only counting:
//  - TuneCounter runs where the packets pass (the router's worker, the
//    simulator's bottleneck): a few adds per packet and, once per step
//    (tune_interval / steps_per_interval), one TuneStep record handed to
//    the pilot's side (on the router, through the sample ring);
//  - TuneFeatureState runs on the pilot's side: it folds the steps into
//    moving averages of 10 ms, 100 ms and 1 s and, once per decision
//    interval, gives the feature vector (kTuneFeatureNames).
// The router and the simulator use both halves as they are, so the same
// packet trace gives the same features (tests/test_tune_state.cpp).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string_view>

namespace dualpilot::experience {

// Sojourn bins of a step: two per octave from 1 us, the last one open. Bin b
// holds sojourns in [2^(b/2), 2^((b+1)/2)) us; bin 0 also holds those under
// 1 us. Enough to read a median within 41 % without sorting.
inline constexpr int kSojournBins = 40;
uint32_t sojourn_bin(uint64_t sojourn_ns);
// The value a bin stands for: its geometric middle, in ns.
double sojourn_bin_ns(int bin);

inline constexpr uint16_t kBaseSetting = 0xffff; // TuneStep::setting: the base, no record in force

// One step of a port's queue pair. Classes: 0 Classic, 1 L4S.
struct TuneStep {
	uint64_t end_ns = 0;        // when it closed: the time of the state it describes
	uint64_t len_ns = 0;
	uint64_t rate_bps = 0;      // the port's shaped rate (its line rate unshaped) at close
	uint64_t sent_bytes = 0;    // forwarded, as the shaper counts them
	uint64_t arrived_bytes = 0; // offered to the queues, dropped ones too
	std::array<uint32_t, 2> forwarded{};
	std::array<uint32_t, 2> marked{};  // by the AQM, among the forwarded
	std::array<uint32_t, 2> dropped{}; // by the AQM or a full queue
	std::array<uint64_t, 2> sojourn_max_ns{};
	std::array<std::array<uint32_t, kSojournBins>, 2> sojourn{}; // forwarded packets' sojourns
	uint64_t empty_ns = 0;      // time both queues were empty
	uint64_t last_empty_ns = 0; // the last instant both were empty (the counter's start at the latest)
	uint32_t prob_q32 = 0;      // p' at close
	uint16_t setting = kBaseSetting; // the tuner's setting in force at close (its index)
};

// Counts one port's packets into steps. Plain data, no allocation.
class TuneCounter {
public:
	void start(uint64_t now_ns)
	{
		step_ = {};
		step_start_ns_ = now_ns;
		empty_since_ns_ = now_ns;
		empty_ = true;
		last_empty_ns_ = now_ns; // the queues start empty
	}
	// Bytes offered at now_ns (a burst: once for all of it), queues empty
	// or not just before.
	void arrive(uint64_t now_ns, uint64_t bytes)
	{
		step_.arrived_bytes += bytes;
		if (empty_) {
			step_.empty_ns += now_ns - std::max(empty_since_ns_, step_start_ns_);
			empty_ = false;
		}
	}
	void forward(int cls, uint64_t sojourn_ns, uint32_t bytes, bool marked)
	{
		step_.sent_bytes += bytes;
		step_.forwarded[cls]++;
		step_.marked[cls] += marked;
		step_.sojourn_max_ns[cls] = std::max(step_.sojourn_max_ns[cls], sojourn_ns);
		step_.sojourn[cls][sojourn_bin(sojourn_ns)]++;
	}
	void drop(int cls) { step_.dropped[cls]++; }
	// Both queues were left empty at now_ns.
	void drained(uint64_t now_ns)
	{
		if (empty_)
			return;
		empty_ = true;
		empty_since_ns_ = now_ns;
		last_empty_ns_ = now_ns;
	}
	// Closes the step at now_ns and begins the next.
	TuneStep close(uint64_t now_ns, uint64_t rate_bps, uint32_t prob_q32, uint16_t setting);

private:
	TuneStep step_;
	uint64_t step_start_ns_ = 0;
	uint64_t empty_since_ns_ = 0;
	uint64_t last_empty_ns_ = 0;
	bool empty_ = true;
};

// The features, in the tuner's models' order; docs/pilot.md has each one's
// unit, normalisation and cost. "interval": the decision interval just
// closed; "L" sojourns are read against the step threshold, "C" ones
// against the target, both of the setting in force.
inline constexpr int kTuneFeatureCount = 26;
inline constexpr std::array<const char *, kTuneFeatureCount> kTuneFeatureNames = {
	"util_10ms",             // sent / shaped rate, moving average of 10 ms
	"util_100ms",            //   ... of 100 ms
	"util_1s",               //   ... of 1 s
	"arrivals_per_capacity", // interval: offered bytes / what the rate could send
	"idle_fraction",         // interval: share of time both queues were empty
	"since_empty_log",       // log10(1 + ms since both queues were last empty)
	"c_p50_per_target",      // interval: Classic sojourn median / target
	"c_max_per_target",      // interval: Classic sojourn maximum / target
	"l_p50_per_step",        // interval: L4S sojourn median / step_thresh
	"l_max_per_step",        // interval: L4S sojourn maximum / step_thresh
	"prob",                  // p' at the interval's end
	"prob_change",           // p' minus its value an interval before
	"c_mark_rate",           // interval: Classic marks / Classic packets
	"c_drop_rate",           // interval: Classic drops / Classic packets
	"l_mark_rate",           // interval: L4S marks / L4S packets
	"l_drop_rate",           // interval: L4S drops / L4S packets
	"l_share",               // interval: L4S packets / all packets
	"rate_log",              // log10(shaped rate / 1 Mbit/s)
	"target_log",            // log10(target in force / 1 ms)
	"max_rtt_log",           // log10(max_rtt in force / 1 ms)
	"step_log",              // log10(step_thresh in force / 1 ms)
	"coupling",              // k in force
	"delay_log",             // log10(1 + decision delay / 1 ms)
	"rtt_hint_log",          // log10(the port's configured max_rtt / 1 ms)
	"c_p50_per_target_1s",   // Classic sojourn median / target, moving average of 1 s
	"l_mark_rate_1s",        // L4S mark rate, moving average of 1 s
};
// The features the tuner's loop reads itself (the harm guard, the idle
// hold), by their index above.
inline constexpr int kTuneUtil100ms = 1, kTuneCP50PerTarget = 6, kTuneLP50PerStep = 8;
static_assert(std::string_view(kTuneFeatureNames[kTuneUtil100ms]) == "util_100ms" &&
	      std::string_view(kTuneFeatureNames[kTuneCP50PerTarget]) == "c_p50_per_target" &&
	      std::string_view(kTuneFeatureNames[kTuneLP50PerStep]) == "l_p50_per_step");
using TuneState = std::array<float, kTuneFeatureCount>;

// A DualPI2 setting as the tuner's features read it (what is in force).
struct TuneSettingView {
	double target_ns = 0, max_rtt_ns = 0, step_thresh_ns = 0, coupling = 0;
};

// The pilot's side of one port: steps in, features out.
class TuneFeatureState {
public:
	void add(const TuneStep &s);
	// The features of the interval since the last call (its steps folded),
	// for the setting in force, the decision delay and the port's RTT hint.
	TuneState features(const TuneSettingView &in_force, uint64_t decision_delay_ns, uint64_t rtt_hint_ns);
	uint64_t steps() const { return steps_; }
	uint64_t last_end_ns() const { return last_.end_ns; }

private:
	double util10_ = 0, util100_ = 0, util1s_ = 0, c_p50_1s_ = 0, l_mark_1s_ = 0;
	double prev_prob_ = 0;
	uint64_t steps_ = 0;
	TuneStep interval_; // the interval's steps, summed
	TuneStep last_;
};

} // namespace dualpilot::experience
