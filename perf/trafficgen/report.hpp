// dualpilot-trafficgen's results: per class (the codepoint frames were sent
// with) and per flow, as a table for people and as JSON for scripts. Loss is
// exact (sent - received) when the generator's counts are known (both ends
// in one process); otherwise it is estimated per flow from the sequence
// numbers (highest seen + 1 - received), and per class it is not known.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "perf/trafficgen/generator.hpp"
#include "perf/trafficgen/receiver.hpp"
#include "perf/trafficgen/spec.hpp"

namespace dualpilot::trafficgen {

struct LatencySummary {
	uint64_t samples = 0;
	double mean_us = 0, p50_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
};

struct ClassReport {
	std::string name;                 // not-ect, ect1, ect0, ce: as sent
	std::optional<uint64_t> sent, sent_bytes;
	uint64_t received = 0, bytes = 0;
	std::optional<int64_t> lost;      // sent - received
	uint64_t ce = 0, bleached = 0, changed = 0;
	double sent_mbps = 0, rx_mbps = 0;
	double ce_fraction = 0;           // of received frames
	LatencySummary latency;
};

struct FlowReport {
	std::string name, src, dst;
	std::optional<uint64_t> sent;
	uint64_t received = 0, bytes = 0, late = 0, ce = 0;
	int64_t lost = 0;                 // exact when sent is known, else from sequence numbers
	double rx_mbps = 0, ce_fraction = 0, mean_latency_us = 0, max_latency_us = 0;
};

struct Report {
	double seconds = 0;               // the generator's sending time (or the receiver's run)
	std::vector<ClassReport> classes; // those that sent or received anything
	std::vector<FlowReport> flows;
	ClassReport total;
	std::optional<GeneratorCounters> generator;
	std::optional<ReceiverCounters> receiver;
};

Report make_report(const TrafficSpec &spec, const Generator *gen, const Receiver *rx, double seconds);
std::string format_table(const Report &r, bool per_flow);
nlohmann::json to_json(const Report &r);
LatencySummary summarise(const aqm::DelayHistogram &h);

} // namespace dualpilot::trafficgen
