#include "dataplane/route_table.hpp"

#include <rte_errno.h>
#include <rte_lpm.h>
#include <rte_lpm6.h>

namespace dualpilot::dataplane {

namespace {
uint32_t table_counter = 0;
}

RouteTable::~RouteTable() { clear(); }

void RouteTable::clear()
{
	rte_lpm_free(v4_);
	rte_lpm6_free(v6_);
	v4_ = nullptr;
	v6_ = nullptr;
	v4_default_ = v6_default_ = kNoRoute;
}

std::string RouteTable::build(const std::vector<RouteConfig> &routes, int socket_id)
{
	clear();
	const std::string id = std::to_string(table_counter++);
	// Room for every route, and tbl8 groups for every prefix longer than /24
	// (IPv4) or for each byte past /24 (IPv6).
	const auto rules = static_cast<uint32_t>(routes.size() + 16);
	rte_lpm_config c4{};
	c4.max_rules = rules;
	c4.number_tbl8s = rules;
	v4_ = rte_lpm_create(("dp_lpm4_" + id).c_str(), socket_id, &c4);
	rte_lpm6_config c6{};
	c6.max_rules = rules;
	c6.number_tbl8s = rules * 14;
	v6_ = rte_lpm6_create(("dp_lpm6_" + id).c_str(), socket_id, &c6);
	if (!v4_ || !v6_)
		return "cannot create the route tables: " + std::string(rte_strerror(rte_errno)) + " (more EAL memory: -m)";
	for (uint32_t i = 0; i < routes.size(); i++) {
		const RouteConfig &r = routes[i];
		int rc = 0;
		if (r.prefix_len == 0) {
			(r.ipv6 ? v6_default_ : v4_default_) = i;
		} else if (!r.ipv6) {
			const uint32_t ip = uint32_t{r.prefix[0]} << 24 | uint32_t{r.prefix[1]} << 16 |
					    uint32_t{r.prefix[2]} << 8 | r.prefix[3];
			rc = rte_lpm_add(v4_, ip, r.prefix_len, i);
		} else {
			rc = rte_lpm6_add(v6_, r.prefix.data(), r.prefix_len, i);
		}
		if (rc < 0)
			return "route " + std::to_string(i + 1) + ": cannot add it to the table (" +
			       std::string(rte_strerror(-rc)) + ")";
	}
	return {};
}

uint32_t RouteTable::lookup(const uint8_t *frame, const FrameInfo &info) const
{
	const uint8_t *ip = frame + info.l3_offset;
	uint32_t hop = 0;
	if (info.kind == FrameKind::ipv4) {
		const uint32_t dst = uint32_t{ip[16]} << 24 | uint32_t{ip[17]} << 16 | uint32_t{ip[18]} << 8 | ip[19];
		return rte_lpm_lookup(v4_, dst, &hop) == 0 ? hop : v4_default_;
	}
	if (info.kind == FrameKind::ipv6)
		return rte_lpm6_lookup(v6_, ip + 24, &hop) == 0 ? hop : v6_default_;
	return kNoRoute;
}

} // namespace dualpilot::dataplane
