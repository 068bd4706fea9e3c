#!/usr/bin/env bash
# perf/eval end to end, briefly: the paper setting (8 Mbit/s, 10 ms each
# way) for FIFO, DualPI2, and the tuned default with the shipped pilot
# enforcing at an inference interval of 10 (the base it was trained over,
# given to the router as a [ports.dualpi2] table), one 10-second repetition
# each on the bed and on the simulator. Checks that the report and its six figures are written, the
# delay line gives the 20 ms base RTT, FIFO bloats where DualPI2 does not,
# and DualPI2's L queue stays below its Classic queue.
# usage: eval_smoke.sh BUILD_DIR. Exits 77 where namespaces cannot be made.
set -uo pipefail
build=${1:?usage: eval_smoke.sh BUILD_DIR}
here=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$here/perf/eval" --build "$build" --out "$out" --settings paper --configs fifo,dualpi2,tuned-policy-enforce-10 \
	--reps 1 --duration 10 >"$out/eval.log" 2>&1
rc=$?
cat "$out/eval.log"
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || { echo "FAIL: perf/eval exited $rc"; exit 1; }
python3 - "$out" <<'PY'
import glob, os, re, sys
out = sys.argv[1]
fails = 0
def check(what, ok):
    global fails
    print(("ok:   " if ok else "FAIL: ") + what)
    fails += 0 if ok else 1
report = open(os.path.join(out, "report.md")).read()
rows = {}
for line in report.splitlines():
    cols = [c.strip() for c in line.strip("|").split("|")]
    if len(cols) == 12 and cols[1] in ("bed", "sim"):
        rows[(cols[0], cols[1])] = cols
for c in ("fifo", "dualpi2", "tuned-policy-enforce-10"):
    for s in ("bed", "sim"):
        check(f"report row {c} / {s}", (c, s) in rows)
for key, cols in sorted(rows.items()):
    check(f"row {key[0]} / {key[1]}: a score (the objective, by dualpilot-score) {cols[11]}",
          re.fullmatch(r"[01]\.\d{4}", cols[11]) is not None)
pngs = sorted(os.path.basename(p) for p in glob.glob(os.path.join(out, "paper_fig1*.png")))
check(f"six figures written ({len(pngs)})", len(pngs) == 6)
base = open(os.path.join(out, "bed/paper/dualpi2/rep-1/base.txt")).read()
# The median of the ten unloaded pings: a worker the kernel preempts between
# its poll's clock read and the rx burst stamps a frame early by the gap,
# so on a busy host the minimum can sit a millisecond or two under 20 ms.
rtts = sorted(float(x) for x in re.findall(r"time=([\d.]+) ms", base))
median = rtts[len(rtts) // 2] if rtts else None
check(f"base RTT median {median} ms: the delay line's 2 x 10 ms", median is not None and 19.5 <= median <= 25)
def p50(c, s, col):
    return float(rows[(c, s)][col].split("/")[0])
if ("fifo", "bed") in rows and ("dualpi2", "bed") in rows:
    f, d = p50("fifo", "bed", 3), p50("dualpi2", "bed", 3)
    check(f"bed: FIFO's Classic delay p50 {f} ms above 100 ms, DualPI2's {d} ms below 40 ms", f > 100 and d < 40)
    l = p50("dualpi2", "bed", 4)
    check(f"bed: DualPI2's L4S delay p50 {l} ms below its Classic {d} ms", l < d)
sys.exit(1 if fails else 0)
PY
