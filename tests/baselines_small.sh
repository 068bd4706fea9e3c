#!/usr/bin/env bash
# The held-out table at CI size: dualpilot-baselines --grid small with the
# shipped pilot. Checks: every held-out scenario has its five rows (tc
# defaults, tuned default, oracle, the pilot at 20 us and 39 ms), the oracle
# scores at least the tuned default on each (it is the best of a grid that
# holds it), and the ratio lines are printed, the last pilot_vs_tuned_score.
# usage: baselines_small.sh DUALPILOT-BASELINES SOURCE_DIR
set -uo pipefail
exe=${1:?usage}
src=${2:?usage}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$exe" --grid small --train-cells 4 --seeds 1 --policy "$src/configs/models/pilot-student.dpm" --out "$dir" \
	>"$dir/out.txt" 2>"$dir/err.txt" || fail "dualpilot-baselines: $(tail -3 "$dir/err.txt")"
n=$(ls "$src"/configs/heldout/*.toml | wc -l)
rows=$(grep -c '^| heldout-' "$dir/table.md")
[ "$rows" -eq $((5 * n)) ] || fail "expected $((5 * n)) rows for $n held-out scenarios, got $rows"
"$src/scripts/python3" - "$dir/table.csv" <<'PY' || exit 1
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
by = {}
for r in rows:
    by.setdefault(r["scenario"], {})[(r["policy"], r["decision_delay"])] = float(r["score"])
for s, p in by.items():
    if p[("oracle", "-")] < p[("tuned", "-")] - 1e-9:
        sys.exit(f"FAIL: {s}: oracle {p[('oracle', '-')]} below the tuned default {p[('tuned', '-')]}")
    if not all(0 <= v <= 1 for v in p.values()):
        sys.exit(f"FAIL: {s}: a score outside 0..1: {p}")
PY
for k in tuned_vs_tc_defaults_score oracle_vs_tuned_score pilot_vs_tc_defaults_score pilot_vs_oracle_score \
	pilot_worst_vs_tuned; do
	grep -q "^$k: [0-9.]*" "$dir/out.txt" || fail "no $k line"
done
tail -1 "$dir/out.txt" | grep -q '^pilot_vs_tuned_score: [0-9.]*$' || fail "last line: $(tail -1 "$dir/out.txt")"
echo "ok: $rows rows; $(tail -1 "$dir/out.txt")"
