// The Sampler's start-up and teardown (sample.hpp); its fast path is inline.
#include "dataplane/sample.hpp"

#include <rte_errno.h>

#include <algorithm>

namespace dualpilot::dataplane {

std::string Sampler::create(const std::string &name, uint32_t ring_size, size_t ports, uint32_t inference_interval,
			    int socket)
{
	ring_ = rte_ring_create_elem(name.c_str(), sizeof(PacketState), ring_size, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (!ring_)
		return "cannot create a sample ring: " + std::string(rte_strerror(rte_errno));
	countdown_.assign(ports, {inference_interval, inference_interval});
	inference_interval_ = inference_interval;
	count_ = 0;
	flushed_ = {};
	return {};
}

void Sampler::free()
{
	rte_ring_free(ring_);
	ring_ = nullptr;
}

void Sampler::set_inference_interval(uint32_t n)
{
	inference_interval_ = n;
	for (auto &per_port : countdown_)
		for (uint32_t &left : per_port)
			left = std::min(left, n);
}

} // namespace dualpilot::dataplane
