// One small interface over the four AQMs. Each AQM is a plain class with the
// same members (enqueue, dequeue, tick, counters, describe, stats_text); the
// Aqm concept pins that down. Code that picks an AQM at run time holds an
// AnyAqm (a variant) and branches once per burst with std::visit, or resolves
// the type once outside its loop and calls the class directly: no virtual
// calls on the packet path either way.
#pragma once

#include <concepts>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "aqm/codel.hpp"
#include "aqm/dualpi2.hpp"
#include "aqm/fifo.hpp"
#include "aqm/packet.hpp"
#include "aqm/pie.hpp"

namespace dualpilot::aqm {

template <typename T>
concept Aqm = requires(T aqm, const T caqm, Packet pkt, Dequeued out, uint64_t now) {
	{ aqm.enqueue(pkt) } -> std::same_as<EnqueueResult>;
	{ aqm.dequeue(now, out) } -> std::same_as<bool>;
	{ aqm.tick(now) };
	{ caqm.classify(Ecn::ect1) } -> std::same_as<QueueId>;
	{ caqm.counters() } -> std::same_as<std::array<QueueCounters, kQueueCount>>;
	{ caqm.backlog_pkts() } -> std::same_as<uint64_t>;
	{ caqm.backlog_bytes() } -> std::same_as<uint64_t>;
	{ caqm.describe() } -> std::same_as<std::string>;
	{ caqm.stats_text(now) } -> std::same_as<std::string>;
};

static_assert(Aqm<Fifo> && Aqm<Pie> && Aqm<Codel> && Aqm<DualPi2>);

using AnyAqm = std::variant<Fifo, Pie, Codel, DualPi2>;

// One parameter as the user wrote it: tc's name and its value as text. A bare
// tc flag ("overflow", "ecn") has an empty value.
struct Setting {
	std::string key;
	std::string value;
};

// The AQM names make_aqm accepts.
inline constexpr std::string_view kAqmNames[] = {"fifo", "pie", "codel", "dualpi2"};

struct AqmOrError {
	std::optional<AnyAqm> aqm; // empty on error
	std::string error;
};

// Builds the named AQM from its settings (tc names, later ones win). Any
// unknown name, unknown key or bad value is an error naming it. seed feeds
// the AQM's probability rolls unless a "seed" setting overrides it.
[[nodiscard]] AqmOrError make_aqm(std::string_view name, std::span<const Setting> settings, uint64_t seed = 1);

// Splits a tc-style argument string ("limit 1000 target 15ms overflow") into
// settings, knowing which of the AQM's words are flags. Errors name the word.
[[nodiscard]] std::string split_tc_args(std::string_view name, std::string_view args, std::vector<Setting> &out);

// "name=value" or a bare "flag", as given to --set on command lines.
Setting parse_setting(std::string_view text);

// The burst API for any AQM (the router's packet path, inside one std::visit
// per burst): every AQM here has its own burst members, one call and one
// tick per burst with the per-packet work inlined; an AQM without them would
// be driven packet by packet with the same semantics (see
// DualPi2::enqueue_burst / dequeue_burst).
template <typename A>
inline void enqueue_burst(A &q, uint64_t now_ns, const Packet *pkts, uint32_t n, EnqueueResult *result)
{
	if constexpr (requires { q.enqueue_burst(now_ns, pkts, n, result); }) {
		q.enqueue_burst(now_ns, pkts, n, result);
	} else {
		for (uint32_t i = 0; i < n; i++) {
			Packet p = pkts[i];
			p.arrival_ns = now_ns;
			result[i] = q.enqueue(p);
		}
	}
}

template <typename A>
inline uint32_t dequeue_burst(A &q, uint64_t now_ns, int64_t byte_budget, uint32_t overhead_bytes,
			      uint32_t max_forward, Dequeued *out, uint32_t out_cap)
{
	if constexpr (requires { q.dequeue_burst(now_ns, byte_budget, overhead_bytes, max_forward, out, out_cap); }) {
		return q.dequeue_burst(now_ns, byte_budget, overhead_bytes, max_forward, out, out_cap);
	} else {
		uint32_t n = 0, forwarded = 0;
		while (forwarded < max_forward && n < out_cap && byte_budget > 0 && q.dequeue(now_ns, out[n])) {
			if (out[n].verdict != Verdict::drop) {
				byte_budget -= static_cast<int64_t>(out[n].pkt.len_bytes + overhead_bytes);
				forwarded++;
			}
			n++;
		}
		return n;
	}
}

// Handles of the packets the next dequeue_burst will look at, each once (for
// prefetch). False for AQMs that cannot say: the caller prefetches what it
// dequeued instead.
template <typename A>
inline bool peek_handles(A &q, uint64_t *out, uint32_t max, uint32_t &n)
{
	if constexpr (requires { q.peek_handles(out, max); }) {
		n = q.peek_handles(out, max);
		return true;
	} else {
		n = 0;
		return false;
	}
}

// The empty-queue bypass (DualPi2::pass_through): true when the AQM took the
// burst straight through, out[] holding each packet forwarded with a sojourn
// of 0 in the order dequeue_burst with the same budget would have handed it
// back; false, and the caller enqueues as usual, where it does not apply or
// the AQM has no bypass (PIE and CoDel: their controllers act on what
// arrives and on their own clocks).
template <typename A>
inline bool pass_through(A &q, uint64_t now_ns, const Packet *pkts, uint32_t n, int64_t byte_budget,
			 uint32_t overhead_bytes, uint32_t max_forward, Dequeued *out)
{
	if constexpr (requires { q.pass_through(now_ns, pkts, n, byte_budget, overhead_bytes, max_forward, out); })
		return q.pass_through(now_ns, pkts, n, byte_budget, overhead_bytes, max_forward, out);
	else
		return false;
}

// Thin dispatchers for code that holds an AnyAqm off the packet path.
inline EnqueueResult enqueue(AnyAqm &aqm, const Packet &pkt)
{
	return std::visit([&](auto &a) { return a.enqueue(pkt); }, aqm);
}
inline bool dequeue(AnyAqm &aqm, uint64_t now_ns, Dequeued &out)
{
	return std::visit([&](auto &a) { return a.dequeue(now_ns, out); }, aqm);
}
inline std::array<QueueCounters, kQueueCount> counters(const AnyAqm &aqm)
{
	return std::visit([](const auto &a) { return a.counters(); }, aqm);
}
inline std::string describe(const AnyAqm &aqm)
{
	return std::visit([](const auto &a) { return a.describe(); }, aqm);
}
inline std::string stats_text(const AnyAqm &aqm, uint64_t now_ns)
{
	return std::visit([&](const auto &a) { return a.stats_text(now_ns); }, aqm);
}
inline uint64_t backlog_pkts(const AnyAqm &aqm)
{
	return std::visit([](const auto &a) { return a.backlog_pkts(); }, aqm);
}

} // namespace dualpilot::aqm
