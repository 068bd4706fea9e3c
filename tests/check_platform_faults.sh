#!/usr/bin/env bash
# scripts/check-platform against planted faults: a small tree that passes,
# then one fault of each kind the check exists for, each of which must fail
# with its rule named, and beside each the same line where it is allowed
# (a platform guard, a Linux-only file), which must pass.
# usage: check_platform_faults.sh SOURCE_DIR
set -uo pipefail
src=${1:?usage: check_platform_faults.sh SOURCE_DIR}
check="$src/scripts/check-platform"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

# A clean tree: the guide's pkg line, a portable source file, a meson.build.
clean_tree() {
	rm -rf "$work/t"
	mkdir -p "$work/t/docs" "$work/t/aqm" "$work/t/tests" "$work/t/tests/netns" "$work/t/dataplane"
	printf '# FreeBSD\n\n```sh\npkg install bash git dpdk meson \\\n    ninja python3\n```\n' >"$work/t/docs/freebsd.md"
	printf '#include <cstdio>\nint f() { return 0; }\n' >"$work/t/aqm/ok.cpp"
	printf "lib = cxx.find_library('rte_net_ring',\n  dirs: [libdir])\n" >"$work/t/meson.build"
	printf '#!/usr/bin/env bash\necho ok\n' >"$work/t/tests/ok.sh"
}

# expect RULE|ok DESCRIPTION: run the check on the tree as it stands.
expect() {
	local want=$1 what=$2 out rc
	out=$("$check" --root "$work/t" 2>&1)
	rc=$?
	if [ "$want" = ok ]; then
		[ $rc -eq 0 ] || { echo "FAIL: $what: expected a pass, got:"; echo "$out"; failures=$((failures + 1)); }
	else
		if [ $rc -ne 1 ] || ! grep -q "check-platform: $want: " <<<"$out"; then
			echo "FAIL: $what: expected rule $want, got (exit $rc):"
			echo "$out"
			failures=$((failures + 1))
		fi
	fi
}

clean_tree
expect ok "the clean tree"

# linux-header
clean_tree; printf '#include <sys/epoll.h>\n' >"$work/t/aqm/poll.cpp"
expect linux-header "an epoll include in portable code"
clean_tree; printf '#include <sys/epoll.h>\n' >"$work/t/dataplane/poll_linux.cpp"
expect ok "an epoll include in a *_linux file"

# find-library
clean_tree; printf "lib = cxx.find_library('rte_net_ring')\n" >"$work/t/meson.build"
expect find-library "find_library without dirs:"
clean_tree; printf "lib = cxx.find_library('rte_net_ring', required: false,\n  dirs: ['/usr/local/lib'])\n" >"$work/t/meson.build"
expect ok "find_library with dirs: on its second line"

# interpreter
clean_tree; printf '#!/usr/bin/env bash\n/usr/bin/python3 plot.py\n' >"$work/t/tests/plot.sh"
expect interpreter "a script calling /usr/bin/python3"
clean_tree; printf '#!/usr/bin/python3\nprint(1)\n' >"$work/t/tests/report"
expect interpreter "a /usr/bin/python3 shebang"
clean_tree; printf "fuzz = custom_target('f', command: ['/usr/bin/clang++', '@INPUT@'])\n" >>"$work/t/meson.build"
expect interpreter "a hard-coded /usr/bin/clang++"
clean_tree; printf '#!/usr/bin/env python3\nprint(1)\n' >"$work/t/tests/report"
expect ok "an env python3 shebang"
clean_tree; printf 'import subprocess\nsubprocess.run(["/usr/bin/python3", "plot"])\n' >"$work/t/tests/helper.py"
expect interpreter "/usr/bin/python3 in a Python module without a shebang"

# bash (and git) missing from the guide's pkg line
clean_tree; printf '# FreeBSD\n\n```sh\npkg install dpdk meson ninja python3\n```\n' >"$work/t/docs/freebsd.md"
expect bash "a bash script with bash not in the guide"
clean_tree; printf '# FreeBSD\n\n```sh\npkg install bash dpdk\n```\n' >"$work/t/docs/freebsd.md"
printf '#!/bin/sh\nfiles=$(git ls-files)\n' >"$work/t/tests/list.sh"
expect bash "a script calling git with git not in the guide"

# eal-option
clean_tree; printf 'const char *a = "--file-prefix=x";\n' >"$work/t/tests/bed.cpp"
expect eal-option "--file-prefix in code FreeBSD runs"
clean_tree; printf '#if defined(__linux__)\nconst char *a = "--file-prefix=x";\n#else\nconst char *a = "--no-shconf";\n#endif\n' >"$work/t/tests/bed.cpp"
expect ok "--file-prefix under a __linux__ guard"
clean_tree; printf '#!/usr/bin/env bash\nrouter -- --huge-dir /mnt/huge\n' >"$work/t/tests/run.sh"
expect eal-option "--huge-dir in a script FreeBSD runs"
clean_tree; printf '#ifdef __linux__\nconst char *a = "x";\n#else\nconst char *a = "--file-prefix=x";\n#endif\n' >"$work/t/tests/bed.cpp"
expect eal-option "--file-prefix in the #else of a __linux__ guard (FreeBSD's branch)"
clean_tree; printf "test('bed', exe, args: ['--file-prefix=x'])\n" >>"$work/t/meson.build"
expect eal-option "--file-prefix in a meson test's arguments"

# socket-name
clean_tree; printf 'bool f(cmsghdr *c) { return c->cmsg_type == IP_TOS; }\n' >"$work/t/aqm/rx.cpp"
expect socket-name "IP_TOS as the received TOS message, unguarded"
clean_tree; printf '#ifdef __FreeBSD__\nint t = IP_RECVTOS;\n#else\nbool f(cmsghdr *c) { return c->cmsg_type == IP_TOS; }\n#endif\n' >"$work/t/aqm/rx.cpp"
expect ok "the TOS message under a platform guard"
clean_tree; printf 'void f(int fd) { setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, "e", 1); }\n' >"$work/t/aqm/bind.cpp"
expect socket-name "a Linux-only socket option"
clean_tree; printf 'int f(cmsghdr *c) { switch (c->cmsg_type) { case IP_TOS: return 1; } return 0; }\n' >"$work/t/aqm/rx.cpp"
expect socket-name "IP_TOS as a case label of the received message"
clean_tree; printf 'bool f(cmsghdr *c) { return IP_TTL == c->cmsg_type; }\n' >"$work/t/aqm/rx.cpp"
expect socket-name "IP_TTL compared the other way round"

# linux-pmd
clean_tree; printf '#!/usr/bin/env bash\nrouter -- --vdev net_memif0,role=server\n' >"$work/t/tests/memif.sh"
expect linux-pmd "net_memif in a script FreeBSD runs"
clean_tree; printf '#if defined(__FreeBSD__)\nconst char *d = "net_memif0";\n#endif\n' >"$work/t/aqm/dev.cpp"
expect linux-pmd "net_memif inside a __FreeBSD__ branch"
clean_tree; printf '#!/usr/bin/env bash\nrouter -- --vdev net_af_packet0,iface=veth0\n' >"$work/t/tests/netns/bed.sh"
expect ok "net_af_packet in a netns bed"

[ $failures -eq 0 ] || { echo "$failures planted-fault case(s) failed"; exit 1; }
echo "check-platform: every planted fault found, every allowed variant passed"
