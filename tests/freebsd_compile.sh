#!/usr/bin/env bash
# The FreeBSD side of the tree compiled for FreeBSD, on Linux: clang++
# --target=x86_64-unknown-freebsd14 over dataplane/platform_freebsd.cpp and
# every file with an RTE_EXEC_ENV_FREEBSD or __FreeBSD__ branch, against the
# stand-in headers of tests/freebsd/include (the FreeBSD-only interfaces,
# each with FreeBSD 14's signature) and the host's libstdc++ and C library
# for what POSIX fixes the same on both (tests/freebsd/README.md says what
# this proves and what it does not). Every such file must be listed here:
# a FreeBSD branch in a file that is not is a failure too.
# usage: freebsd_compile.sh SOURCE_DIR CLANG++        (77: no clang++)
set -uo pipefail
src=${1:?usage: freebsd_compile.sh SOURCE_DIR CLANG++}
clangxx=${2:-clang++}
cd "$src" || exit 1
command -v "$clangxx" >/dev/null || { echo "skipped: no clang++ to compile for FreeBSD with"; exit 77; }

files=(
	dataplane/platform_freebsd.cpp
	dataplane/platform_linux.cpp
	dataplane/platform_bsd.cpp
	dataplane/platform.cpp
	dataplane/config.cpp
	perf/prague/main.cpp
	tests/freebsd/eal_args_freebsd.cpp
)

# Files with a FreeBSD branch that the list above misses.
missing=0
while IFS= read -r f; do
	# common/eal_args.hpp is compiled through tests/freebsd/eal_args_freebsd.cpp.
	if [[ " ${files[*]} common/eal_args.hpp " != *" $f "* ]]; then
		echo "FAIL: $f has a FreeBSD branch but is not compiled here; add it to tests/freebsd_compile.sh"
		missing=1
	fi
done < <(git ls-files -- '*.cpp' '*.hpp' '*.h' | xargs grep -l -E '^\s*#\s*(if|ifdef|ifndef|elif).*(RTE_EXEC_ENV_FREEBSD|__FreeBSD__|RTE_EXEC_ENV_LINUX|__linux__)' |
	grep -v '^tests/freebsd/')

# The host's libstdc++ directories, as its g++ searches them.
stdcxx=()
while IFS= read -r dir; do
	stdcxx+=(-isystem "$dir")
done < <(echo | c++ -x c++ -E -Wp,-v - 2>&1 | sed -n 's/^ \(\/.*c++.*\)$/\1/p')
[ ${#stdcxx[@]} -gt 0 ] || { echo "skipped: no libstdc++ headers found (c++ -Wp,-v)"; exit 77; }
multiarch=$(c++ -print-multiarch 2>/dev/null)

flags=(--target=x86_64-unknown-freebsd14 -std=c++20 -fsyntax-only -D_GNU_SOURCE -Wall -Wextra -Werror
	-nostdinc++ "${stdcxx[@]}" -isystem tests/freebsd/include -I.)
[ -n "$multiarch" ] && flags+=(-idirafter "/usr/include/$multiarch")
# policy/pilot_profile.hpp is what the build writes from configs/pilot/profile.toml
# (policy/meson.build): written here the same way.
generated=$(mktemp -d)
trap 'rm -rf "$generated"' EXIT
mkdir -p "$generated/policy"
scripts/pilot-profile header "$generated/policy/pilot_profile.hpp" || exit 1
flags+=(-I"$generated")
failed=$missing
for f in "${files[@]}"; do
	if out=$("$clangxx" "${flags[@]}" "$f" 2>&1); then
		echo "ok      $f"
	else
		echo "FAIL    $f"
		echo "$out" | head -30
		failed=1
	fi
done
# The branch really taken: the FreeBSD file's body, not an empty guard.
preprocessed=$("$clangxx" "${flags[@]/-fsyntax-only/-E}" dataplane/platform_freebsd.cpp 2>/dev/null)
if [[ "$preprocessed" != *"bool read_kenv("* ]]; then
	echo "FAIL    dataplane/platform_freebsd.cpp compiled to nothing: its RTE_EXEC_ENV_FREEBSD guard was not taken"
	failed=1
fi
[ $failed -eq 0 ] && echo "freebsd_compile: ${#files[@]} files compiled for x86_64-unknown-freebsd14"
exit $failed
