#include "perf/trafficgen/port.hpp"

#include <rte_errno.h>

#include <fmt/core.h>
#include <unistd.h>

#include "aqm/units.hpp"

namespace dualpilot::trafficgen {

std::string find_port(const std::string &text, uint16_t &port)
{
	uint32_t id = 0;
	if (aqm::parse_u32(text, id).empty()) {
		if (id >= RTE_MAX_ETHPORTS || !rte_eth_dev_is_valid_port(static_cast<uint16_t>(id)))
			return fmt::format("port {}: no such port ({} ports; pass vdevs or NICs to the EAL before --)", id,
					   rte_eth_dev_count_avail());
		port = static_cast<uint16_t>(id);
		return {};
	}
	if (rte_eth_dev_get_port_by_name(text.c_str(), &port) != 0)
		return "port '" + text + "': no device of that name (pass it to the EAL, e.g. --vdev " + text + ")";
	return {};
}

std::string start_port(uint16_t port, rte_mempool *rx_pool, unsigned link_wait_ms)
{
	rte_eth_dev_info info{};
	if (int rc = rte_eth_dev_info_get(port, &info); rc != 0)
		return fmt::format("port {}: device info: {}", port, rte_strerror(-rc));
	rte_eth_conf conf{};
	if (int rc = rte_eth_dev_configure(port, 1, 1, &conf); rc != 0)
		return fmt::format("port {} ({}): configure: {}", port, info.driver_name, rte_strerror(-rc));
	uint16_t rx_desc = 1024, tx_desc = 1024;
	rte_eth_dev_adjust_nb_rx_tx_desc(port, &rx_desc, &tx_desc);
	const int socket = rte_eth_dev_socket_id(port);
	const unsigned s = socket < 0 ? 0u : static_cast<unsigned>(socket);
	if (rx_pool) {
		if (int rc = rte_eth_rx_queue_setup(port, 0, rx_desc, s, nullptr, rx_pool); rc != 0)
			return fmt::format("port {}: rx queue: {}", port, rte_strerror(-rc));
	} else {
		// DPDK wants every configured queue set up; a port that only sends
		// still gets an rx queue, never polled, from a small pool of its own.
		// (A port id closed and reused finds its pool already there.)
		const std::string name = fmt::format("tg_idle_rx{}", port);
		rte_mempool *idle = rte_mempool_lookup(name.c_str());
		if (!idle)
			idle = rte_pktmbuf_pool_create(name.c_str(), 2 * rx_desc + 64, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
						       static_cast<int>(s));
		if (!idle)
			return fmt::format("port {}: mbuf pool for its idle rx queue: {}", port, rte_strerror(rte_errno));
		if (int rc = rte_eth_rx_queue_setup(port, 0, rx_desc, s, nullptr, idle); rc != 0)
			return fmt::format("port {}: rx queue: {}", port, rte_strerror(-rc));
	}
	if (int rc = rte_eth_tx_queue_setup(port, 0, tx_desc, s, nullptr); rc != 0)
		return fmt::format("port {}: tx queue: {}", port, rte_strerror(-rc));
	if (int rc = rte_eth_dev_start(port); rc != 0)
		return fmt::format("port {}: start: {}", port, rte_strerror(-rc));
	rte_eth_promiscuous_enable(port); // not every PMD has it; frames for other MACs are ours too
	for (unsigned waited = 0;; waited += 10) {
		rte_eth_link link{};
		if (rte_eth_link_get_nowait(port, &link) == 0 && link.link_status == RTE_ETH_LINK_UP)
			return {};
		if (waited >= link_wait_ms)
			return fmt::format("port {} ({}): link still down after {} ms (is the peer there?)", port,
					   info.driver_name, link_wait_ms);
		usleep(10000);
	}
}

} // namespace dualpilot::trafficgen
