// l3 mode's forwarding table: the [[routes]] of the config in DPDK's
// longest-prefix-match tables (rte_lpm for IPv4, rte_lpm6 for IPv6). A
// lookup gives the index of the matching route, whose egress port and next
// hop MAC the worker then uses.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/config.hpp"
#include "dataplane/parse.hpp"

struct rte_lpm;
struct rte_lpm6;

namespace dualpilot::dataplane {

class RouteTable {
public:
	static constexpr uint32_t kNoRoute = UINT32_MAX;

	RouteTable() = default;
	RouteTable(const RouteTable &) = delete;
	RouteTable &operator=(const RouteTable &) = delete;
	~RouteTable();

	// Builds the tables from routes (their prefixes already checked); the
	// next hop stored for a prefix is its index in routes. Error text or empty.
	[[nodiscard]] std::string build(const std::vector<RouteConfig> &routes, int socket_id);
	void clear();

	// The route for the destination of a frame parsed as IPv4 or IPv6, or kNoRoute.
	uint32_t lookup(const uint8_t *frame, const FrameInfo &info) const;

private:
	rte_lpm *v4_ = nullptr;
	rte_lpm6 *v6_ = nullptr;
	// rte_lpm cannot hold a prefix of length 0: the default routes live here.
	uint32_t v4_default_ = kNoRoute;
	uint32_t v6_default_ = kNoRoute;
};

} // namespace dualpilot::dataplane
