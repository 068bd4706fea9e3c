// dualpilot-prague: a userspace L4S (Prague-style) sender and its receiver,
// over UDP, for the test bed: the kernel here has no Prague or DCTCP, so
// ECT(1) traffic that answers marks as a scalable flow must come from here.
//   dualpilot-prague recv --port 5300 [--once]
//   dualpilot-prague send --to 10.199.0.2:5300 --duration 10 [--response scalable|classic] [-o out.json]
// The receiver reads each datagram's ECN field (IP_RECVTOS) and acknowledges
// every packet with the flow's running counts (packets, bytes, CE-marked
// packets and bytes, highest sequence number). The sender runs the window of
// cc.hpp, paced, and prints per interval its goodput, round trip, marked
// fraction and window, then a summary (with --json, also as JSON).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "common/enum_names.hpp"
#include "perf/prague/cc.hpp"
#include "perf/prague/wire.hpp"

using namespace dualpilot::prague;

namespace {

constexpr uint8_t kEnd = 3; // a data header of this kind: the flow is over
constexpr uint8_t kEct1 = 1, kEct0 = 2, kCe = 3;

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

uint64_t now_ns()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

bool parse_endpoint(const std::string &s, sockaddr_in &out)
{
	const size_t colon = s.rfind(':');
	if (colon == std::string::npos)
		return false;
	out = {};
	out.sin_family = AF_INET;
	const unsigned long port = std::strtoul(s.c_str() + colon + 1, nullptr, 10);
	if (port == 0 || port > 65535 || inet_pton(AF_INET, s.substr(0, colon).c_str(), &out.sin_addr) != 1)
		return false;
	out.sin_port = htons(static_cast<uint16_t>(port));
	return true;
}

// ---- receiver ---------------------------------------------------------------

struct FlowCounts {
	uint64_t packets = 0, bytes = 0, ce_packets = 0, ce_bytes = 0, highest_seq = 0, not_ect = 0;
	std::string peer;
};

// The control message that carries a datagram's TOS byte once IP_RECVTOS is
// on: Linux names it IP_TOS (net/ipv4/ip_sockglue.c, ip_cmsg_recv_tos);
// FreeBSD names it IP_RECVTOS (sys/netinet/ip_input.c, ip_savecontrol).
// Both carry one byte.
#if defined(__FreeBSD__)
constexpr int kTosMessage = IP_RECVTOS;
#else
constexpr int kTosMessage = IP_TOS;
#endif

// The receiver's socket: UDP on `port`, with the TOS byte of each datagram
// delivered (IP_RECVTOS). -1 after saying why not.
int open_receiver(uint16_t port)
{
	const int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		fmt::print(stderr, "error: socket: {}\n", std::strerror(errno));
		return -1;
	}
	const int on = 1;
	if (setsockopt(fd, IPPROTO_IP, IP_RECVTOS, &on, sizeof(on)) != 0) {
		fmt::print(stderr, "error: IP_RECVTOS: {} (without it no CE mark is seen)\n", std::strerror(errno));
		return -1;
	}
	sockaddr_in addr{};
	addr.sin_family = AF_INET;
	addr.sin_port = htons(port);
	addr.sin_addr.s_addr = htonl(INADDR_ANY);
	if (bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0) {
		fmt::print(stderr, "error: bind port {}: {}\n", port, std::strerror(errno));
		return -1;
	}
	return fd;
}

// The datagram's TOS byte, from its control messages (0 where none came).
uint8_t tos_of(msghdr &msg)
{
	uint8_t tos = 0;
	for (cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == kTosMessage && c->cmsg_len >= CMSG_LEN(1))
			tos = *CMSG_DATA(c);
	return tos;
}

void print_flow_end(uint32_t flow, const FlowCounts &f)
{
	fmt::print("flow {:08x} from {}: {} packets, {} bytes, CE-marked {} ({:.2f} %), Not-ECT {}\n", flow, f.peer,
		   f.packets, f.bytes, f.ce_packets,
		   f.packets ? 100.0 * static_cast<double>(f.ce_packets) / static_cast<double>(f.packets) : 0.0, f.not_ect);
	std::fflush(stdout);
}

// A data datagram of n bytes counted into its flow, and the ack that
// answers it: the flow's counts so far (the sender's ECN feedback).
Ack count_and_ack(FlowCounts &f, const DataHeader &h, uint8_t tos, uint64_t n)
{
	f.packets++;
	f.bytes += n;
	f.highest_seq = std::max(f.highest_seq, h.seq);
	if ((tos & 3) == kCe) {
		f.ce_packets++;
		f.ce_bytes += n;
	} else if ((tos & 3) == 0) {
		f.not_ect++;
	}
	Ack a{};
	a.magic = kMagic;
	a.kind = kAck;
	a.flow = h.flow;
	a.seq_echo = h.seq;
	a.send_ns_echo = h.send_ns;
	a.packets = f.packets;
	a.bytes = f.bytes;
	a.ce_packets = f.ce_packets;
	a.ce_bytes = f.ce_bytes;
	a.highest_seq = f.highest_seq;
	return a;
}

int run_receiver(uint16_t port, bool once)
{
	const int fd = open_receiver(port);
	if (fd < 0)
		return 1;
	fmt::print("dualpilot-prague: receiving on port {}\n", port);
	std::fflush(stdout);
	std::map<uint32_t, FlowCounts> flows;
	uint64_t malformed = 0;
	std::vector<uint8_t> buf(65536);
	char control[64];
	while (!g_stop) {
		pollfd p{fd, POLLIN, 0};
		if (poll(&p, 1, 200) <= 0)
			continue;
		sockaddr_in from{};
		iovec iov{buf.data(), buf.size()};
		msghdr msg{};
		msg.msg_name = &from;
		msg.msg_namelen = sizeof(from);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = control;
		msg.msg_controllen = sizeof(control);
		const ssize_t n = recvmsg(fd, &msg, 0);
		if (n < 0)
			continue;
		DataHeader h;
		if (!parse(buf.data(), static_cast<size_t>(n), kData, h) &&
		    !parse(buf.data(), static_cast<size_t>(n), kEnd, h)) {
			malformed++;
			continue;
		}
		const uint8_t tos = tos_of(msg);
		FlowCounts &f = flows[h.flow];
		if (f.peer.empty()) {
			char ip[INET_ADDRSTRLEN];
			inet_ntop(AF_INET, &from.sin_addr, ip, sizeof(ip));
			f.peer = fmt::format("{}:{}", ip, ntohs(from.sin_port));
		}
		if (h.kind == kEnd) {
			print_flow_end(h.flow, f);
			if (once)
				break;
			continue;
		}
		const Ack a = count_and_ack(f, h, tos, static_cast<uint64_t>(n));
		sendto(fd, &a, sizeof(a), 0, reinterpret_cast<sockaddr *>(&from), sizeof(from));
	}
	if (malformed)
		fmt::print("{} datagrams were not dualpilot-prague data and were dropped\n", malformed);
	close(fd);
	return 0;
}

// ---- sender -----------------------------------------------------------------

// --response's words, in Response's order (common/enum_names.hpp).
constexpr const char *kResponseNames[] = {"scalable", "classic"};
const char *to_string(Response r) { return kResponseNames[static_cast<size_t>(r)]; }

struct SendOptions {
	sockaddr_in to{};
	double duration_s = 10;
	double interval_s = 1;
	uint32_t packet_bytes = 1400; // UDP payload
	Response response = Response::scalable;
	double rtt_target_ms = 25;
	std::string json_path;
	bool quiet = false;
};

struct Interval {
	double t_s, goodput_mbps, srtt_ms, marked, cwnd, alpha;
};

double percentile(std::vector<double> v, double q)
{
	if (v.empty())
		return 0;
	std::sort(v.begin(), v.end());
	return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

// One flow's sending state: its socket and window, what it sent and had
// acknowledged, and the running sums of the report interval in progress.
struct Flow {
	int fd = -1;
	uint32_t id = 0;
	Cc cc;
	std::vector<uint8_t> packet; // one datagram, its header written per send
	uint64_t seq = 0;            // the next sequence number: after the run, packets sent
	uint64_t next_send_ns = 0;
	uint64_t acked_bytes = 0, send_errors = 0;
	std::vector<double> rtts_ms; // every acknowledgement's round trip
	std::vector<Interval> intervals;
	uint64_t next_report_ns = 0;
	uint64_t report_bytes = 0, report_delivered = 0, report_ce = 0, report_rtt_n = 0;
	double report_rtt_sum = 0;
};

// A UDP socket connected to the receiver, its datagrams ECT(1) for a
// scalable flow, ECT(0) for a classic one. False after saying why not.
bool open_socket(const SendOptions &o, Flow &f)
{
	f.fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (f.fd < 0) {
		fmt::print(stderr, "error: socket: {}\n", std::strerror(errno));
		return false;
	}
	const int tos = o.response == Response::scalable ? kEct1 : kEct0;
	if (setsockopt(f.fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos)) != 0 ||
	    connect(f.fd, reinterpret_cast<const sockaddr *>(&o.to), sizeof(o.to)) != 0) {
		fmt::print(stderr, "error: socket setup: {}\n", std::strerror(errno));
		return false;
	}
	return true;
}

// Every acknowledgement waiting on the socket, into the window and the round
// trips. Returns the time of the last one read (now when none was).
uint64_t take_acks(Flow &f, std::vector<uint8_t> &rx, uint64_t now)
{
	for (;;) {
		const ssize_t n = recv(f.fd, rx.data(), rx.size(), MSG_DONTWAIT);
		if (n < 0)
			return now;
		Ack a;
		if (!parse(rx.data(), static_cast<size_t>(n), kAck, a) || a.flow != f.id)
			continue;
		now = now_ns();
		const uint64_t rtt = now > a.send_ns_echo ? now - a.send_ns_echo : 0;
		f.cc.on_ack({a.packets, a.ce_packets, a.highest_seq}, rtt, now);
		f.acked_bytes = std::max(f.acked_bytes, a.bytes);
		f.rtts_ms.push_back(static_cast<double>(rtt) / 1e6);
		f.report_rtt_sum += static_cast<double>(rtt) / 1e6;
		f.report_rtt_n++;
	}
}

// The packets the window allows and the pacing has made due, with at most a
// couple of packets' worth of catching up.
void send_due(Flow &f, const SendOptions &o, uint64_t now)
{
	const auto gap = static_cast<uint64_t>(o.packet_bytes * 1e9 / std::max(f.cc.pacing_rate(o.packet_bytes), 1.0));
	if (f.next_send_ns + 2 * gap < now)
		f.next_send_ns = now - 2 * gap;
	while (f.cc.can_send() && f.next_send_ns <= now) {
		DataHeader h{};
		h.magic = kMagic;
		h.kind = kData;
		h.flow = f.id;
		h.seq = f.seq;
		h.send_ns = now;
		std::memcpy(f.packet.data(), &h, sizeof(h));
		if (send(f.fd, f.packet.data(), f.packet.size(), MSG_DONTWAIT) < 0) {
			f.send_errors++; // a full socket buffer: try again on the next turn
			break;
		}
		f.cc.on_send(f.seq++, now);
		f.next_send_ns += gap;
	}
}

// The interval that has ended: kept for the summary, printed unless quiet.
void report_interval(Flow &f, const SendOptions &o, uint64_t start, uint64_t now)
{
	const uint64_t d = f.cc.delivered() - f.report_delivered, m = f.cc.ce() - f.report_ce;
	Interval iv{static_cast<double>(now - start) / 1e9,
		    static_cast<double>(f.acked_bytes - f.report_bytes) * 8 / o.interval_s / 1e6,
		    f.report_rtt_n ? f.report_rtt_sum / static_cast<double>(f.report_rtt_n) : 0,
		    d ? static_cast<double>(m) / static_cast<double>(d) : 0, f.cc.cwnd(), f.cc.alpha()};
	f.intervals.push_back(iv);
	if (!o.quiet) {
		fmt::print("{:>6.1f} {:>10.2f} {:>9.2f} {:>7.1f}% {:>8.1f} {:>6.3f}\n", iv.t_s, iv.goodput_mbps,
			   iv.srtt_ms, 100 * iv.marked, iv.cwnd, iv.alpha);
		std::fflush(stdout);
	}
	f.report_bytes = f.acked_bytes;
	f.report_delivered = f.cc.delivered();
	f.report_ce = f.cc.ce();
	f.report_rtt_sum = 0;
	f.report_rtt_n = 0;
	f.next_report_ns += static_cast<uint64_t>(o.interval_s * 1e9);
}

// Sleeps until the next packet is due, an ack arrives, a report or the end.
void wait_for_next(const Flow &f, uint64_t now, uint64_t end)
{
	uint64_t wake = f.next_report_ns;
	if (f.cc.can_send())
		wake = std::min(wake, f.next_send_ns);
	else
		wake = std::min(wake, now + f.cc.rto_ns());
	wake = std::min(wake, end);
	const uint64_t wait = wake > now ? wake - now : 0;
	pollfd p{f.fd, POLLIN, 0};
	const timespec ts{static_cast<time_t>(wait / 1000000000ull), static_cast<long>(wait % 1000000000ull)};
	ppoll(&p, 1, &ts, nullptr);
}

// Tells the receiver the flow is over (a few times: datagrams get lost) and
// closes the socket.
void end_flow(Flow &f)
{
	DataHeader h{};
	h.magic = kMagic;
	h.kind = kEnd;
	h.flow = f.id;
	h.seq = f.seq;
	for (int i = 0; i < 3; i++)
		send(f.fd, &h, sizeof(h), MSG_DONTWAIT);
	close(f.fd);
}

struct SendSummary {
	double seconds = 0;
	double goodput_mbps = 0;
	double steady_goodput_mbps = 0; // after the first interval (slow start)
	double marked = 0;              // CE-marked share of the delivered packets
};

SendSummary summarise(const Flow &f, double seconds)
{
	SendSummary s;
	s.seconds = seconds;
	s.goodput_mbps = static_cast<double>(f.acked_bytes) * 8 / seconds / 1e6;
	std::vector<double> steady;
	for (size_t i = 1; i < f.intervals.size(); i++)
		steady.push_back(f.intervals[i].goodput_mbps);
	double steady_mean = 0;
	for (double g : steady)
		steady_mean += g;
	s.steady_goodput_mbps = steady.empty() ? s.goodput_mbps : steady_mean / static_cast<double>(steady.size());
	s.marked = f.cc.delivered() ? static_cast<double>(f.cc.ce()) / static_cast<double>(f.cc.delivered()) : 0;
	return s;
}

void print_summary(const SendOptions &o, const Flow &f, const SendSummary &s)
{
	fmt::print("dualpilot-prague {} ({}): {:.2f} Mbit/s ({:.2f} after the first interval), rtt p50 {:.2f} ms p99 "
		   "{:.2f} ms, marked {:.2f} %, {} packets sent, {} lost, {} loss events, {} timeouts, {} window "
		   "reductions\n",
		   to_string(o.response),
		   o.response == Response::scalable ? "ECT(1)" : "ECT(0)", s.goodput_mbps, s.steady_goodput_mbps,
		   percentile(f.rtts_ms, 0.5), percentile(f.rtts_ms, 0.99), 100 * s.marked, f.seq, f.cc.lost(),
		   f.cc.losses(), f.cc.timeouts(), f.cc.reductions());
}

// The summary and the intervals as JSON (--json). False when the file
// cannot be written.
[[nodiscard]] bool write_json(const SendOptions &o, const Flow &f, const SendSummary &s)
{
	nlohmann::json j;
	j["response"] = to_string(o.response);
	j["seconds"] = s.seconds;
	j["goodput_mbps"] = s.goodput_mbps;
	j["steady_goodput_mbps"] = s.steady_goodput_mbps;
	j["rtt_p50_ms"] = percentile(f.rtts_ms, 0.5);
	j["rtt_p99_ms"] = percentile(f.rtts_ms, 0.99);
	j["marked_fraction"] = s.marked;
	j["packets_sent"] = f.seq;
	j["packets_lost"] = f.cc.lost();
	j["loss_events"] = f.cc.losses();
	j["timeouts"] = f.cc.timeouts();
	j["send_errors"] = f.send_errors;
	for (const Interval &iv : f.intervals)
		j["intervals"].push_back({{"t_s", iv.t_s},
					  {"goodput_mbps", iv.goodput_mbps},
					  {"srtt_ms", iv.srtt_ms},
					  {"marked_fraction", iv.marked},
					  {"cwnd", iv.cwnd},
					  {"alpha", iv.alpha}});
	std::ofstream out(o.json_path);
	return static_cast<bool>(out << j.dump(2) << '\n');
}

CcParams cc_params(const SendOptions &o)
{
	CcParams params;
	params.response = o.response;
	params.rtt_target_ns = static_cast<uint64_t>(o.rtt_target_ms * 1e6);
	return params;
}

// set up (socket, window) -> run (acks, timeouts, paced data, a report per
// interval, until the duration or a signal) -> end the flow -> report.
int run_sender(const SendOptions &o)
{
	Flow f;
	if (!open_socket(o, f))
		return 1;
	f.id = std::random_device{}();
	f.cc = Cc(cc_params(o));
	f.packet.assign(std::max<uint32_t>(o.packet_bytes, sizeof(DataHeader)), 0);
	std::vector<uint8_t> rx(2048);
	const uint64_t start = now_ns(), end = start + static_cast<uint64_t>(o.duration_s * 1e9);
	f.next_send_ns = start;
	f.next_report_ns = start + static_cast<uint64_t>(o.interval_s * 1e9);
	if (!o.quiet)
		fmt::print("{:>6} {:>10} {:>9} {:>8} {:>8} {:>6}\n", "t s", "Mbit/s", "srtt ms", "marked", "cwnd", "alpha");
	while (!g_stop) {
		uint64_t now = now_ns();
		if (now >= end)
			break;
		now = take_acks(f, rx, now);
		f.cc.check_timeout(now);
		send_due(f, o, now);
		if (now >= f.next_report_ns)
			report_interval(f, o, start, now);
		wait_for_next(f, now, end);
	}
	end_flow(f);

	const SendSummary s = summarise(f, static_cast<double>(std::min(now_ns(), end) - start) / 1e9);
	print_summary(o, f, s);
	if (!o.json_path.empty() && !write_json(o, f, s)) {
		fmt::print(stderr, "error: {}: cannot write\n", o.json_path);
		return 1;
	}
	return 0;
}

} // namespace

int main(int argc, char **argv)
{
	using dualpilot::common::example;
	CLI::App app{"dualpilot-prague: a userspace L4S (Prague-style) sender and its receiver, over UDP"};
	app.require_subcommand(1);
	app.footer(example({"dualpilot-prague recv --once &", "dualpilot-prague send --to 127.0.0.1:5300 --duration 5"}));
	uint16_t port = 5300;
	bool once = false;
	auto *recv_cmd = app.add_subcommand("recv", "receive, acknowledge every packet with its flow's ECN counts");
	recv_cmd->add_option("--port", port, "UDP port")->capture_default_str();
	recv_cmd->add_flag("--once", once, "exit when the first flow ends");
	recv_cmd->footer(example({"dualpilot-prague recv --port 5300 --once"}));
	SendOptions o;
	std::string to, response = "scalable";
	auto *send_cmd = app.add_subcommand("send", "send one paced flow, reacting to CE marks and losses");
	send_cmd->add_option("--to", to, "receiver, IPv4:port")->required();
	send_cmd->add_option("--duration", o.duration_s, "seconds")->check(CLI::Range(0.1, 86400.0))->capture_default_str();
	send_cmd->add_option("--interval", o.interval_s, "seconds between report lines")
		->check(CLI::Range(0.01, 3600.0))
		->capture_default_str();
	send_cmd->add_option("--size", o.packet_bytes, "UDP payload bytes per packet")
		->check(CLI::Range(64, 8900))
		->capture_default_str();
	send_cmd->add_option("--response", response,
			     "scalable: ECT(1), DCTCP-style response to the marked fraction (L4S); classic: ECT(0), "
			     "Reno halving on CE or loss")
		->check(CLI::IsMember(std::vector<std::string>(std::begin(kResponseNames), std::end(kResponseNames))))
		->capture_default_str();
	send_cmd->add_option("--rtt-target-ms", o.rtt_target_ms,
			     "scalable: grow the rate as a flow of this round trip would (0: one packet per round trip)")
		->check(CLI::Range(0.0, 1000.0))
		->capture_default_str();
	send_cmd->add_option("-o,--out,--json", o.json_path, "write the summary and the intervals as JSON");
	send_cmd->add_flag("--quiet,-q", o.quiet, "no interval lines");
	send_cmd->footer(example({"dualpilot-prague send --to 10.199.0.2:5300 --duration 10 --response classic -o flow.json"}));
	CLI11_PARSE(app, argc, argv);
	std::signal(SIGINT, on_signal);
	std::signal(SIGTERM, on_signal);
	if (*recv_cmd)
		return run_receiver(port, once);
	if (!parse_endpoint(to, o.to)) {
		fmt::print(stderr, "error: --to {}: expected IPv4:port\n", to);
		return 2;
	}
	if (!dualpilot::common::parse_choice(response, kResponseNames, o.response)) { // --response's check refused it first
		fmt::print(stderr, "error: --response {}: {}\n", response, dualpilot::common::known_choices(kResponseNames));
		return 2;
	}
	return run_sender(o);
}
