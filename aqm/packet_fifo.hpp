// A bounded FIFO of packet descriptors: one allocation at construction, none
// afterwards. Capacity is rounded up to a power of two so the index wrap is a
// mask, not a division.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <vector>

#include "aqm/packet.hpp"

namespace dualpilot::aqm {

class PacketFifo {
public:
	explicit PacketFifo(uint32_t capacity)
		: slots_(std::bit_ceil(capacity < 1 ? 1u : capacity)),
		  mask_(static_cast<uint32_t>(slots_.size() - 1))
	{
	}

	bool empty() const { return head_ == tail_; }
	uint32_t size() const { return tail_ - head_; }
	uint64_t bytes() const { return bytes_; }
	uint32_t capacity() const { return mask_ + 1; }
	bool full() const { return size() == capacity(); }

	const Packet &front() const { return slots_[head_ & mask_]; }
	// The i-th packet from the head (i < size()).
	const Packet &at(uint32_t i) const { return slots_[(head_ + i) & mask_]; }

	// Caller checks full() first: the AQM's limit is never above capacity.
	void push(const Packet &pkt)
	{
		slots_[tail_++ & mask_] = pkt;
		bytes_ += pkt.len_bytes;
	}
	// The same, field by field: a burst's packets are built in registers,
	// and a whole-struct copy from the stack would stall on store forwarding.
	// The slots a few lines ahead are prefetched for writing: a long queue's
	// tail is cold.
	void push(uint64_t arrival_ns, uint64_t handle, uint32_t len_bytes, Ecn ecn, uint8_t flags, uint16_t tag)
	{
		Packet &slot = slots_[tail_ & mask_];
		__builtin_prefetch(&slots_[(tail_ + kPrefetchSlots) & mask_], 1);
		tail_++;
		slot.arrival_ns = arrival_ns;
		slot.handle = handle;
		slot.len_bytes = len_bytes;
		slot.ecn = ecn;
		slot.aqm_flags = flags;
		slot.tag = tag;
		bytes_ += len_bytes;
	}

	// pop() into dst, field by field (see push).
	void pop_into(Packet &dst)
	{
		__builtin_prefetch(&slots_[(head_ + kPrefetchSlots) & mask_]);
		peeked_ -= peeked_ != 0;
		const Packet &src = slots_[head_++ & mask_];
		dst.arrival_ns = src.arrival_ns;
		dst.handle = src.handle;
		dst.len_bytes = src.len_bytes;
		dst.ecn = src.ecn;
		dst.aqm_flags = src.aqm_flags;
		dst.tag = src.tag;
		bytes_ -= src.len_bytes;
		rewind_if_empty();
	}

	Packet pop()
	{
		__builtin_prefetch(&slots_[(head_ + kPrefetchSlots) & mask_]);
		peeked_ -= peeked_ != 0;
		const Packet pkt = slots_[head_++ & mask_];
		bytes_ -= pkt.len_bytes;
		rewind_if_empty();
		return pkt;
	}

	void clear()
	{
		head_ = tail_ = peeked_ = 0;
		bytes_ = 0;
	}

	// Handles of the first `upto` queued packets that no earlier call handed
	// out, into out; returns how many. For the caller to prefetch what they
	// refer to a burst ahead, each packet once (a packet dequeued no longer
	// counts as handed out).
	uint32_t peek_handles(uint64_t *out, uint32_t upto)
	{
		upto = upto < size() ? upto : size();
		uint32_t n = 0;
		for (uint32_t i = peeked_; i < upto; i++)
			out[n++] = at(i).handle;
		peeked_ = peeked_ > upto ? peeked_ : upto;
		return n;
	}

private:
	// An emptied queue starts again at slot 0: a queue that never stands
	// (an unshaped port) then lives in the ring's first lines, hot in cache,
	// instead of walking the whole ring (megabytes where the limit is sized
	// for a fast port's 4 targets).
	void rewind_if_empty()
	{
		if (head_ == tail_)
			head_ = tail_ = peeked_ = 0;
	}

	static constexpr uint32_t kPrefetchSlots = 16; // 6 cache lines of 24-byte slots ahead
	std::vector<Packet> slots_;
	uint32_t mask_;
	uint32_t head_ = 0; // free-running; unsigned wrap keeps size() right
	uint32_t tail_ = 0;
	uint32_t peeked_ = 0; // head packets peek_handles has handed out
	uint64_t bytes_ = 0;  // the one count of the bytes queued (an AQM's backlog_bytes reads it)
};

// The counters of an AQM with one queue: its own tally with the backlog read
// off the queue, in the classic slot.
inline std::array<QueueCounters, kQueueCount> single_queue_counters(const QueueCounters &tally, const PacketFifo &queue)
{
	std::array<QueueCounters, kQueueCount> out{};
	out[0] = tally;
	out[0].backlog_pkts = queue.size();
	out[0].backlog_bytes = queue.bytes();
	out[0].arrived_pkts = arrived_pkts(out[0]);
	return out;
}

} // namespace dualpilot::aqm
