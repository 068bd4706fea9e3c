#!/usr/bin/env bash
# The held-out benchmark at CI size (perf/bench-pilot --quick's arguments):
# dualpilot-baselines --grid small on every 8th held-out scenario, 2 report
# seeds, with the shipped pilot. Checks the outputs' shape, not their
# figures: each scenario has every policy on every report seed in
# per_seed.csv, scores lie in 0..1, each bootstrap interval holds its
# geometric mean, and every name: value line of issue 26 is printed; the
# progress, written to a file, comes as lines without carriage returns.
# usage: baselines_small.sh DUALPILOT-BASELINES SOURCE_DIR
set -uo pipefail
exe=${1:?usage}
src=${2:?usage}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$exe" --grid small --train-cells 4 --report-seeds 2 --selection-seeds 1 --every 8 --threads 2 \
	--heldout-dir "$src/configs/heldout" --policy "$src/configs/models/pilot-student.dpm" --out "$dir" \
	>"$dir/out.txt" 2>"$dir/err.txt" || fail "dualpilot-baselines: $(tail -3 "$dir/err.txt")"
n=$(ls "$src"/configs/heldout/*.toml | wc -l)
want=$(((n + 7) / 8))
if grep -q $'\r' "$dir/err.txt"; then fail "carriage returns in progress written to a file, not a terminal"; fi
grep -q "runs: .*/" "$dir/err.txt" || fail "no progress lines in the log: $(tail -3 "$dir/err.txt")"
grep -q "^heldout_scenarios: $want$" "$dir/out.txt" || fail "expected heldout_scenarios: $want"
grep -q "^heldout_seeds: 2$" "$dir/out.txt" || fail "expected heldout_seeds: 2"
"$src/scripts/python3" - "$dir" "$want" <<'PY' || exit 1
import csv, os, sys
d, want = sys.argv[1], int(sys.argv[2])
rows = list(csv.DictReader(open(os.path.join(d, "per_seed.csv"))))
policies = {"tc", "tuned", "oracle", "piecewise", "pilot-20us", "pilot-39ms"}
by = {}
for r in rows:
    by.setdefault(r["scenario"], set()).add((r["policy"], r["seed"]))
    if not 0 <= float(r["score"]) <= 1 or not 0 <= float(r["score_nofloor"]) <= 1:
        sys.exit(f"FAIL: a score outside 0..1: {r}")
if len(by) != want:
    sys.exit(f"FAIL: {len(by)} scenarios in per_seed.csv, expected {want}")
for s, got in by.items():
    if {p for p, _ in got} != policies or len(got) != 2 * len(policies):
        sys.exit(f"FAIL: {s}: policies and seeds {sorted(got)}")
PY
for k in pilot_vs_tuned_geomean_20us pilot_vs_tuned_ci_low_20us pilot_vs_tuned_ci_high_20us pilot_vs_tuned_median_20us \
	pilot_worst_vs_tuned_20us pilot_win_share_20us pilot_vs_tuned_geomean_nofloor_20us pilot_vs_tuned_geomean_39ms \
	pilot_vs_tuned_ci_low_39ms pilot_vs_tuned_ci_high_39ms pilot_vs_tuned_median_39ms pilot_worst_vs_tuned_39ms \
	pilot_win_share_39ms pilot_vs_tuned_geomean_nofloor_39ms oracle_vs_tuned_geomean piecewise_oracle_vs_tuned_geomean; do
	grep -q "^$k: [0-9.]*$" "$dir/out.txt" || fail "no $k line"
done
for d in 20us 39ms; do
	awk -v d="$d" '$1 == "pilot_vs_tuned_geomean_" d ":" { g = $2 } $1 == "pilot_vs_tuned_ci_low_" d ":" { lo = $2 }
		$1 == "pilot_vs_tuned_ci_high_" d ":" { hi = $2 }
		END { exit !(lo <= g && g <= hi) }' "$dir/out.txt" || fail "the $d interval does not hold its geometric mean"
done
[ -s "$dir/table.md" ] && [ -s "$dir/ratios.csv" ] && [ -s "$dir/search.csv" ] || fail "missing table.md, ratios.csv or search.csv"
echo "ok: $want scenarios x 6 policies x 2 seeds, every figure line printed"
