#!/usr/bin/env bash
# A small real pool as a user brings it: the paper's pickle (perf/small_pool.py)
# imported with dualpilot-pool, trained with dualpilot-train's defaults (the
# small-pool rule), its log read as a file. Checks: the import maps the 7
# features and marks total_drops absent; training without a terminal writes
# one line per validation pass and no carriage return; the report names the
# kept checkpoint, the class weights, per-action recall and the confusion
# matrix; the model leaves total_drops out; a hostile pickle and a file with
# no decisions are refused without running anything; a bad --class-weights
# is an error; a held-out scenario's pool is refused by name.
# usage: train_cli.sh DUALPILOT-POOL DUALPILOT-TRAIN SOURCE_DIR      (77: no numpy)
set -uo pipefail
pool_tool=${1:?usage}
train=${2:?usage}
src=${3:?usage}
py="$src/scripts/python3"
"$py" -c 'import numpy' 2>/dev/null || { echo "skipped: no python3 with numpy to write the pool"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$py" "$src/perf/small_pool.py" -o "$dir/pool.pkl" --decisions 1200 --seed 4 || fail "small_pool.py"
"$pool_tool" import "$dir/pool.pkl" -o "$dir/pool.dpp" >"$dir/import.txt" || fail "import: $(cat "$dir/import.txt")"
grep -q "7 features (the paper's; total_drops absent)" "$dir/import.txt" || fail "import note: $(cat "$dir/import.txt")"
"$pool_tool" info "$dir/pool.dpp" | grep -q "total_drops .*absent" || fail "info does not show total_drops absent"

"$train" "$dir/pool.dpp" -o "$dir/m.dpm" --val-fraction 0.2 --steps 200 --eval-every 50 \
	--metrics "$dir/m.csv" >"$dir/out.txt" 2>"$dir/log.txt" || fail "train: $(tail -3 "$dir/log.txt")"
if grep -q $'\r' "$dir/log.txt"; then fail "carriage returns in a log that is not a terminal"; fi
passes=$(grep -c '^step .* val acc' "$dir/log.txt")
[ "$passes" -ge 1 ] && [ "$passes" -le 4 ] || fail "expected one line per validation pass (at most 4), got $passes"
[ "$(wc -l <"$dir/log.txt")" -eq "$passes" ] || fail "log has lines other than the passes: $(cat "$dir/log.txt")"
for want in "small pool (under 20000 decisions)" "exported the checkpoint of step" "class weights:" "macro recall" \
	"confusion (rows: true action" "heldout_accuracy:" "heldout_macro_recall:"; do
	grep -q "$want" "$dir/out.txt" || fail "report lacks '$want'"
done
grep -q "features: .*packet_length" "$dir/out.txt" || fail "no features line"
if grep -q "features: .*total_drops" "$dir/out.txt"; then fail "the model kept the absent total_drops"; fi
head -1 "$dir/m.csv" | grep -q "val_macro_recall,val_recall_enqueue,val_recall_drop,val_recall_mark" || fail "metrics header"
[ "$(($(wc -l <"$dir/m.csv") - 1))" -eq "$passes" ] || fail "metrics rows != passes"

# A hostile pickle: refused by name, nothing run.
"$py" - "$dir" <<'PY' || fail "writing the hostile pickle"
import os, pickle, sys
class E:
    def __reduce__(self):
        return (os.system, (f"touch {sys.argv[1]}/pwned",))
pickle.dump(E(), open(f"{sys.argv[1]}/evil.pkl", "wb"))
PY
if "$pool_tool" import "$dir/evil.pkl" --out "$dir/evil.dpp" 2>"$dir/evil.txt"; then fail "hostile pickle accepted"; fi
grep -q "refused global" "$dir/evil.txt" || fail "hostile pickle: $(cat "$dir/evil.txt")"
[ ! -e "$dir/pwned" ] || fail "the hostile pickle ran"
[ ! -e "$dir/evil.dpp" ] || fail "a pool was written from the hostile pickle"
# A file with no decisions: an error, no pool written.
if "$pool_tool" import /etc/hostname --out "$dir/none.dpp" 2>"$dir/none.txt"; then fail "/etc/hostname imported"; fi
grep -q "no pool records found" "$dir/none.txt" || fail "no-records message: $(cat "$dir/none.txt")"
if "$train" --pools "$dir/pool.dpp" --out "$dir/x.dpm" --class-weights 1,2 2>"$dir/cw.txt"; then fail "bad weights accepted"; fi
grep -q "2 class weights given, the pools have 3 actions" "$dir/cw.txt" || fail "class weights message: $(cat "$dir/cw.txt")"
# Held-out scenarios are never trained on: a pool under a held-out run's
# directory, or beside a summary.json that names one, is refused by name.
mkdir -p "$dir/heldout-30m-onoff-dualpi2/seed-1" "$dir/run/seed-1"
cp "$dir/pool.dpp" "$dir/heldout-30m-onoff-dualpi2/seed-1/pool.dpp"
if "$train" --pools "$dir/heldout-30m-onoff-dualpi2/seed-1/pool.dpp" --out "$dir/h.dpm" 2>"$dir/h.txt"; then
	fail "a held-out run's pool was trained on"
fi
grep -q "held-out scenario" "$dir/h.txt" || fail "held-out message: $(cat "$dir/h.txt")"
cp "$dir/pool.dpp" "$dir/run/seed-1/pool.dpp"
echo '{"scenario": "heldout-12m-mixed-rtt"}' >"$dir/run/seed-1/summary.json"
if "$train" --pools "$dir/run/seed-1/pool.dpp" --out "$dir/h.dpm" 2>"$dir/h2.txt"; then fail "a pool recorded on a held-out scenario was trained on"; fi
grep -q "recorded on held-out scenario 'heldout-12m-mixed-rtt'" "$dir/h2.txt" || fail "held-out message: $(cat "$dir/h2.txt")"
[ ! -e "$dir/h.dpm" ] || fail "a model was written from held-out pools"
echo "train_cli: ok ($passes validation passes, $(grep heldout_accuracy "$dir/out.txt"))"
