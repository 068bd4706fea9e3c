// The egress delay line: a fixed propagation delay after the AQM and the
// shaper, so one router can stand in for a path of a given round trip (the
// test bed's 10 ms of RFC 9332's and the paper's set-ups; the kernel here has
// no netem). Frames leave in the order they entered, each no sooner than
// `delay` after the shaper released it; the AQM's sojourn does not include
// it, as a real link's propagation time is not queueing. A fixed ring of
// (frame, length, due time): the length travels with the frame so that tx
// never reads it off the mbuf. A full ring drops, and the router counts it.
#pragma once

#include <cstdint>
#include <vector>

namespace dualpilot::dataplane {

class DelayLine {
public:
	// capacity is rounded up to a power of two.
	void init(uint64_t delay_ns, uint32_t capacity)
	{
		delay_ns_ = delay_ns;
		uint32_t c = 1;
		while (c < capacity)
			c <<= 1;
		slots_.assign(c, {});
		mask_ = c - 1;
		head_ = tail_ = 0;
	}
	bool enabled() const { return delay_ns_ != 0; }
	uint32_t size() const { return tail_ - head_; }

	// False when full: the caller drops the frame and counts it.
	[[nodiscard]] bool push(void *frame, uint32_t len, uint64_t now_ns)
	{
		if (tail_ - head_ > mask_)
			return false;
		slots_[tail_++ & mask_] = {frame, now_ns + delay_ns_, len};
		return true;
	}
	// Frames due by now_ns, oldest first, at most max; returns how many.
	uint32_t pop_due(uint64_t now_ns, void **out, uint32_t *len, uint32_t max)
	{
		uint32_t n = 0;
		while (n < max && head_ != tail_ && slots_[head_ & mask_].due_ns <= now_ns) {
			const Slot &s = slots_[head_++ & mask_];
			out[n] = s.frame;
			len[n++] = s.len;
		}
		return n;
	}
	// Everything still inside, regardless of time (shutdown).
	uint32_t pop_all(void **out, uint32_t max)
	{
		uint32_t n = 0;
		while (n < max && head_ != tail_)
			out[n++] = slots_[head_++ & mask_].frame;
		return n;
	}

private:
	struct Slot {
		void *frame = nullptr;
		uint64_t due_ns = 0;
		uint32_t len = 0;
	};
	std::vector<Slot> slots_;
	uint64_t delay_ns_ = 0;
	uint32_t mask_ = 0;
	uint32_t head_ = 0, tail_ = 0; // free-running; their difference is the fill
};

} // namespace dualpilot::dataplane
