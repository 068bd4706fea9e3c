#include "sim/bench_grid.hpp"

namespace dualpilot::sim {

std::vector<Candidate> candidate_grid(const std::string &size)
{
	std::vector<Candidate> out{{"tc defaults", {}}};
	if (size == "small") {
		out.push_back({"typical_rtt 5ms max_rtt 50ms step 1ms k 2",
			       {{"typical_rtt", "5ms"}, {"max_rtt", "50ms"}, {"step_thresh", "1ms"}, {"coupling_factor", "2"}}});
		out.push_back({"typical_rtt 30ms max_rtt 200ms step 1ms k 2",
			       {{"typical_rtt", "30ms"}, {"max_rtt", "200ms"}, {"step_thresh", "1ms"}, {"coupling_factor", "2"}}});
		out.push_back({"typical_rtt 15ms max_rtt 200ms step 500us k 3",
			       {{"typical_rtt", "15ms"}, {"max_rtt", "200ms"}, {"step_thresh", "500us"}, {"coupling_factor", "3"}}});
		return out;
	}
	if (size != "full")
		return {};
	for (const char *typical : {"5ms", "15ms", "30ms"})
		for (const char *max_rtt : {"50ms", "200ms"})
			for (const char *step : {"500us", "1ms", "2ms"})
				for (const char *k : {"2", "3"})
					out.push_back({std::string("typical_rtt ") + typical + " max_rtt " + max_rtt + " step " + step +
							       " k " + k,
						       {{"typical_rtt", typical},
							{"max_rtt", max_rtt},
							{"step_thresh", step},
							{"coupling_factor", k}}});
	return out;
}

} // namespace dualpilot::sim
