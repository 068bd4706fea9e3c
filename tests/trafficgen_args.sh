#!/usr/bin/env bash
# dualpilot-trafficgen's command line is the router's: its own options, then
# "--", then the EAL's. The order it once took (EAL arguments first, its own
# after "--") is refused before any EAL starts, exit 2, with the same command
# rewritten in the new order for the user to run.
# usage: trafficgen_args.sh PATH/TO/dualpilot-trafficgen
set -uo pipefail
tg=${1:?usage: trafficgen_args.sh TRAFFICGEN}
fails=0
fail() {
	echo "FAIL: $1"
	fails=$((fails + 1))
}

out=$("$tg" -l 0 --no-huge --vdev net_null0 -- --flow size=64,rate=1kpps --duration 1s 2>&1)
rc=$?
[ "$rc" -eq 2 ] || fail "the old order exited $rc, not 2"
want="$tg --flow size=64,rate=1kpps --duration 1s -- -l 0 --no-huge --vdev net_null0"
grep -qF -- "$want" <<<"$out" || fail "the refusal does not show '$want'; it said: $out"

out=$("$tg" -- --flows=configs/traffic/example.toml 2>&1)
rc=$?
[ "$rc" -eq 2 ] || fail "the old order without EAL arguments exited $rc, not 2"
grep -qF -- "$tg --flows=configs/traffic/example.toml" <<<"$out" ||
	fail "the refusal without EAL arguments does not show the tool's options alone; it said: $out"

"$tg" --help | grep -qF "EAL arguments after --" || fail "--help does not say where the EAL arguments go"

[ "$fails" -eq 0 ] && echo "ok: the old order is refused with the command in the new one"
exit $((fails > 0))
