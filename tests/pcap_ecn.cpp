// pcap_ecn CAPTURE TX: reads a capture (pcapng, as dpdk-dumpcap writes it, or
// pcap) and the router's own tx record of the same port (net_pcap's
// tx_pcap), both with libpcap, and checks that the capture shows the ECN
// field of each frame as the router forwarded it: the capture's sequence of
// ECN codepoints is a contiguous run of the tx record's (the captured frames
// are a window of what went out, in order). Prints the counts per codepoint;
// exit 0 when the run is found and the capture holds CE marks, 1 otherwise.
#include <pcap/pcap.h>

#include <cstdio>
#include <string>

namespace {

// '0' Not-ECT, '1' ECT(1), '2' ECT(0), '3' CE, per IPv4/IPv6 frame (others skipped).
bool ecn_sequence(const char *path, std::string &out)
{
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(path, err);
	if (!p) {
		std::fprintf(stderr, "pcap_ecn: %s: %s\n", path, err);
		return false;
	}
	pcap_pkthdr *h = nullptr;
	const u_char *d = nullptr;
	int rc;
	while ((rc = pcap_next_ex(p, &h, &d)) == 1) {
		if (h->caplen < 16)
			continue;
		const unsigned type = unsigned(d[12]) << 8 | d[13];
		if (type == 0x0800)
			out.push_back(static_cast<char>('0' + (d[15] & 3)));
		else if (type == 0x86dd && h->caplen >= 16)
			out.push_back(static_cast<char>('0' + ((unsigned(d[14]) << 8 | d[15]) >> 4 & 3)));
	}
	if (rc == PCAP_ERROR)
		std::fprintf(stderr, "pcap_ecn: %s: %s\n", path, pcap_geterr(p));
	pcap_close(p);
	return rc != PCAP_ERROR;
}

} // namespace

int main(int argc, char **argv)
{
	if (argc != 3) {
		std::fprintf(stderr, "usage: pcap_ecn CAPTURE TX\n");
		return 2;
	}
	std::string cap, tx;
	if (!ecn_sequence(argv[1], cap) || !ecn_sequence(argv[2], tx))
		return 1;
	size_t count[4] = {};
	for (char c : cap)
		count[c - '0']++;
	std::printf("capture: %zu IP frames: Not-ECT %zu, ECT(1) %zu, ECT(0) %zu, CE %zu; tx record: %zu IP frames\n",
		    cap.size(), count[0], count[1], count[2], count[3], tx.size());
	const bool in_order = !cap.empty() && tx.find(cap) != std::string::npos;
	std::printf("the capture's ECN codepoints %s a contiguous run of the tx record's\n", in_order ? "are" : "are NOT");
	return in_order && count[3] > 0 ? 0 : 1;
}
