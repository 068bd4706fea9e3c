#!/bin/sh
# dist/rc.d/dualpilot_router's own logic, run here under a stand-in for
# FreeBSD's /etc/rc.subr (the functions the script calls: load_rc_config,
# check_pidfile, run_rc_command; rc.subr's own behaviour is FreeBSD's and is
# not tested here). What a FreeBSD operator relies on:
#  - dualpilot_router_flags reach the router, not daemon(8): rc.subr splices
#    ${name}_flags between $command and $command_args;
#  - EAL flags follow "--"; syslog at daemon.info; restarts delayed;
#  - a router that dies right after `start` stops its supervisor instead of
#    being restarted for ever; `status` says "restarting" while the
#    supervisor is up and the router is not; `reload` signals the router.
# usage: rcd_script.sh SOURCE_DIR
set -u
src=${1:?usage: rcd_script.sh SOURCE_DIR}
work=$(mktemp -d)
pids=""
trap 'for p in $pids; do kill "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# The stand-in rc.subr: run_rc_command prints what rc.subr would run
# (`$command $rc_flags $command_args`, rc_flags from ${name}_flags) for
# `start`, and calls the script's own functions for the rest.
cat >"$work/rc.subr" <<'EOF'
load_rc_config() { :; }
check_pidfile() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null && cat "$1"; }
run_rc_command() {
	eval "rc_flags=\${${name}_flags}"
	case $1 in
	print) echo "$command $rc_flags $command_args" ;;
	prestart) eval "$start_precmd" ;;
	poststart) eval "$start_postcmd" ;;
	status) eval "$status_cmd" ;;
	reload) eval "$reload_cmd" ;;
	esac
}
EOF
sed -e "s|^\. /etc/rc.subr|. $work/rc.subr|" \
    -e "s|/var/run/\${name}|$work/\${name}|g" \
    "$src/dist/rc.d/dualpilot_router" >"$work/rcd"

run() { # the rc command, then environment assignments...
	cmd=$1
	shift
	env "$@" sh "$work/rcd" "$cmd" 2>&1
}

# Flags: the router's own after the binary, none where daemon(8) takes options.
line=$(run print dualpilot_router_flags="--quiet" dualpilot_router_eal_flags="-l 2-5")
case $line in
"/usr/sbin/daemon  -R 5 -S -s info -l daemon -T dualpilot-router "*) ;;
*) fail "daemon(8) got options it should not have, or lost its own: $line" ;;
esac
case $line in
*'/usr/local/bin/dualpilot-router --config "/usr/local/etc/dualpilot/router.toml" --quiet -- -l 2-5') ;; # rc.subr evals it
*) fail "the router's flags and EAL flags are not the router's: $line" ;;
esac
line=$(run print dualpilot_router_restart_delay=9)
case $line in *" -R 9 "*) ;; *) fail "restart delay not taken: $line" ;; esac

# A fake router binary: --check and --check-host answer as told.
cat >"$work/router" <<'EOF'
#!/bin/sh
case "$*" in *--check-host*) exit "${HOST_RC:-0}" ;; *--check*) exit 0 ;; esac
EOF
chmod +x "$work/router"
if [ "$(id -u)" -eq 0 ]; then
	out=$(run prestart dualpilot_router_binary="$work/router" HOST_RC=1) && fail "prestart passed with the host missing a piece"
	run prestart dualpilot_router_binary="$work/router" HOST_RC=0 >/dev/null || fail "prestart refused a ready host"
fi

# A supervisor (a stand-in for daemon(8)) and a router that died at once.
sleep 60 &
supervisor=$!
pids="$pids $supervisor"
echo "$supervisor" >"$work/dualpilot_router.pid"
sh -c 'exit 1' &
dead=$!
wait "$dead" 2>/dev/null
echo "$dead" >"$work/dualpilot_router_child.pid"
out=$(run status dualpilot_router_settle=1)
[ $? -ne 0 ] || fail "status said running while the router is down: $out"
case $out in *restarting*) ;; *) fail "status does not say restarting: $out" ;; esac
out=$(run poststart dualpilot_router_settle=1)
[ $? -ne 0 ] || fail "poststart accepted a router that died on start"
sleep 0.2
state=$(ps -o stat= -p "$supervisor" 2>/dev/null)
case $state in "" | Z*) ;; *) fail "poststart left the supervisor restarting the router" ;; esac

# A router that stays up: started, running, and reload reaches it.
sleep 60 &
supervisor=$!
# (SIGHUP back to its default first: a shell cannot trap a signal it was
# started with ignored, as under nohup.)
env --default-signal=HUP sh -c 'trap "echo hup >'"$work"'/hup" HUP; while :; do sleep 0.1; done' &
router=$!
pids="$pids $supervisor $router"
echo "$supervisor" >"$work/dualpilot_router.pid"
echo "$router" >"$work/dualpilot_router_child.pid"
run poststart dualpilot_router_settle=1 >/dev/null || fail "poststart refused a router that stayed up"
out=$(run status) || fail "status said not running: $out"
case $out in *"running as pid $router"*) ;; *) fail "status names another pid: $out" ;; esac
run reload >/dev/null || fail "reload failed"
# The stand-in handles the signal between its sleeps: wait for it (a busy
# host may take a while), up to 5 s.
for _ in $(seq 50); do
	[ -f "$work/hup" ] && break
	sleep 0.1
done
[ -f "$work/hup" ] || fail "reload did not reach the router"

[ $fails -eq 0 ] || exit 1
echo "rc.d script: flags, restart policy, status and reload as the guide says"
