// Port set-up for dualpilot-trafficgen and its benchmark: a port named by
// id or by device name, one rx and one tx queue, started, its link awaited.
#pragma once

#include <rte_ethdev.h>
#include <rte_mempool.h>

#include <string>

namespace dualpilot::trafficgen {

// "0" (a port id) or a device name ("net_memif0", "0000:3b:00.0"). Error text or empty.
[[nodiscard]] std::string find_port(const std::string &text, uint16_t &port);

// Configures port with one rx queue (frames into rx_pool; null: no rx) and
// one tx queue, starts it and waits up to link_wait_ms for its link
// (net_memif's peer may not be there yet). Error text or empty.
[[nodiscard]] std::string start_port(uint16_t port, rte_mempool *rx_pool, unsigned link_wait_ms);

} // namespace dualpilot::trafficgen
