# The netns tests' checks, sourced beside perf/bed/testbed.sh: a named check
# (a Python boolean expression), counted in bed_failures; the median of
# numbers on stdin; the RTTs of a ping log.
bed_failures=0
check() {
	if python3 -c "import sys; sys.exit(0 if ($2) else 1)"; then
		echo "ok: $1"
	else
		echo "FAIL: $1"
		bed_failures=$((bed_failures + 1))
	fi
}
median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.stdin.read().split()]; print(statistics.median(v) if v else 1e9)'; }
rtts() { grep -o 'time=[0-9.]*' "$1" | cut -d= -f2; }
