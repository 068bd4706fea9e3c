// The simulator's clock: a min-heap of timed events. Ties break on insertion
// order, so a run is the same sequence of events every time.
#pragma once

#include <cstdint>
#include <queue>
#include <vector>

namespace dualpilot::sim {

enum class EventType : uint8_t {
	flow_start,
	flow_stop,
	packet_at_bottleneck, // a data packet reaches the bottleneck queue
	link_free,            // the bottleneck finished serialising a packet
	packet_at_receiver,
	ack_at_sender,
	rto,                  // retransmission timer
	delayed_ack,          // receiver's delayed-ACK timer
	udp_send,
	sample,               // periodic utilisation sample
	tune_step,            // the tuner's state record closes (every tune_interval / steps_per_interval)
	tune_apply,           // a tuner setting comes into force (the decision delay after its state)
	tune_expire,          // a tuner setting's state is tune_ttl old
	tune_schedule,        // a scripted setting (RunOptions::tune_schedule) comes into force
};

struct Event {
	uint64_t at_ns;
	uint64_t order; // insertion counter: equal times pop in push order
	EventType type;
	uint8_t flags;  // packet: ECN codepoint in bits 0-1, bit 2 retransmission; ack: bit 0 ECE
	uint32_t flow;
	uint64_t seq;         // packet: its sequence number; ack: the cumulative ack (next sequence expected)
	uint64_t sent_ns;     // packet: when it was sent; ack: the send time it echoes
	uint64_t ce_received; // ack: CE packets received so far (accurate ECN)
	uint64_t sacked_seq;  // ack: the packet it selectively acknowledges
};

struct EventLater {
	bool operator()(const Event &x, const Event &y) const
	{
		return x.at_ns != y.at_ns ? x.at_ns > y.at_ns : x.order > y.order;
	}
};

class EventQueue {
public:
	void push(Event ev)
	{
		ev.order = next_order_++;
		heap_.push(ev);
	}
	bool empty() const { return heap_.empty(); }
	const Event &top() const { return heap_.top(); }
	Event pop()
	{
		Event ev = heap_.top();
		heap_.pop();
		return ev;
	}

private:
	std::priority_queue<Event, std::vector<Event>, EventLater> heap_;
	uint64_t next_order_ = 0;
};

} // namespace dualpilot::sim
