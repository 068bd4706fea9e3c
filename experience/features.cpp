#include "experience/features.hpp"

#include "aqm/observe.hpp"

namespace dualpilot::experience {

State state_features(const aqm::AnyAqm &aqm, aqm::QueueId queue, uint64_t sojourn_ns, uint32_t packet_bytes)
{
	const aqm::AqmObservation o = aqm::observe(aqm, queue);
	return {
		static_cast<float>(queue == aqm::QueueId::l4s ? 1 : 0),
		static_cast<float>(o.burst_allowance_us),
		static_cast<float>(o.drop_probability),
		static_cast<float>(static_cast<double>(sojourn_ns) / 1e3),
		static_cast<float>(o.accumulated_probability),
		static_cast<float>(o.backlog_bytes),
		static_cast<float>(o.total_drops),
		static_cast<float>(packet_bytes),
	};
}

} // namespace dualpilot::experience
