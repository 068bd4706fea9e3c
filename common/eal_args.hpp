// The command line of every DPDK program here (dualpilot-router,
// dualpilot-trafficgen): the program's own options first, then "--", then
// the EAL's:
//
//   dualpilot-router --config r.toml -- -l 0-1 --no-huge -m 1024
//   dualpilot-trafficgen --flows l4s-mix.toml --tx-port 0 -- -l 0-2 --vdev net_null0
//
// so that the program's options, its --help and its errors read the same
// whatever the EAL is given. No DPDK here: the split is plain text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dualpilot::common {

struct CommandLine {
	std::vector<char *> own;      // argv[0] and the program's options (for CLI11)
	std::vector<std::string> eal; // everything after the first "--"
};

inline CommandLine split_command_line(int argc, char **argv)
{
	CommandLine cl;
	int i = 0;
	for (; i < argc; i++) {
		if (i > 0 && std::string_view(argv[i]) == "--")
			break;
		cl.own.push_back(argv[i]);
	}
	for (i++; i < argc; i++)
		cl.eal.emplace_back(argv[i]);
	return cl;
}

// An argument as a POSIX shell reads it back: quoted where it holds anything
// but letters, digits and _ . / : = , @ % + -.
inline std::string shell_quoted(std::string_view arg)
{
	bool plain = !arg.empty();
	for (char c : arg)
		plain = plain && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
				  std::string_view("_./:=,@%+-").find(c) != std::string_view::npos);
	if (plain)
		return std::string(arg);
	std::string q = "'";
	for (char c : arg)
		q += c == '\'' ? std::string("'\\''") : std::string(1, c);
	return q + "'";
}

// Where the command line is in the other order (EAL arguments first, the
// program's after "--", as dualpilot-trafficgen once took them): the same
// command in this order, for the program to show; empty where it is not.
// It is in the other order when an argument after "--" is one of the
// program's own long options (own_options: "--flows"; "--flows=x" counts),
// which the EAL has none of.
[[nodiscard]] inline std::string reordered_command(const CommandLine &cl,
						     const std::vector<std::string> &own_options)
{
	bool other_order = false;
	for (const std::string &a : cl.eal)
		for (const std::string &o : own_options)
			other_order = other_order || a == o || a.starts_with(o + "=");
	if (!other_order || cl.own.empty())
		return {};
	std::vector<std::string_view> words{cl.own[0]};
	words.insert(words.end(), cl.eal.begin(), cl.eal.end());
	if (cl.own.size() > 1)
		words.push_back("--");
	words.insert(words.end(), cl.own.begin() + 1, cl.own.end());
	std::string cmd;
	for (std::string_view w : words) {
		if (!cmd.empty())
			cmd += ' ';
		cmd += shell_quoted(w);
	}
	return cmd;
}

// The EAL option that keeps one process's runtime files apart from any
// other DPDK process's, for the tests and benchmarks that start their own
// EAL beside a router. Linux: --file-prefix=TAG. The FreeBSD EAL refuses
// --file-prefix (its eal_parse_args() takes only the common options and
// says "Option file-prefix is not supported on FreeBSD",
// lib/eal/freebsd/eal.c) and allows one primary process per host anyway
// (the contigmem lock): there the process gets --no-shconf, which both
// EALs take, and no secondary process can attach to it.
inline std::string eal_private_files_arg(const std::string &tag)
{
#if defined(__FreeBSD__)
	(void)tag;
	return "--no-shconf";
#else
	return "--file-prefix=" + tag;
#endif
}

} // namespace dualpilot::common
