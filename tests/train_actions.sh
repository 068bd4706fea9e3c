#!/usr/bin/env bash
# A pool of 5 actions (the kind a tuner records: K discrete choices, not the
# verdicts), as JSON with its schema's action_count: dualpilot-train gives a
# model of 5 outputs, reports recall and confusion over the 5, writes a
# metrics column per action and refuses weights for another count; the model
# file says 5 actions and dualpilot-model check runs it on the cpu backend
# against the reference on the pool's windows.
# usage: train_actions.sh DUALPILOT-TRAIN DUALPILOT-MODEL
set -uo pipefail
train=${1:?usage}
model_tool=${2:?usage}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# Three episodes of 500 decisions; the action is the queue delay's fifth.
python3 - "$dir/pool.json" <<'PY' || fail "writing the pool"
import json, random, sys
rng = random.Random(5)
states, actions, rewards, dones = [], [], [], []
for episode in range(3):
    for i in range(500):
        s = [rng.random() for _ in range(8)]
        s[3] = rng.random() * 20000  # current_queue_delay_us
        states.append(s)
        actions.append(min(4, int(s[3] // 4000)))
        rewards.append(1500 / (s[3] + 1))
        dones.append(1 if i == 499 else 0)
json.dump({"schema": {"format": "dualpilot-pool", "action_count": 5}, "states": states, "actions": actions,
           "rewards": rewards, "dones": dones}, open(sys.argv[1], "w"))
PY

"$train" "$dir/pool.json" -o "$dir/m.dpm" --val-fraction 0.34 --steps 150 --eval-every 50 \
	--metrics "$dir/m.csv" >"$dir/out.txt" 2>"$dir/log.txt" || fail "train: $(tail -3 "$dir/log.txt")"
grep -q "recall per action: action0 .*, action4 " "$dir/out.txt" || fail "no recall of 5 actions: $(cat "$dir/out.txt")"
grep -q "^  action4 " "$dir/out.txt" || fail "no confusion row of action 4: $(cat "$dir/out.txt")"
head -1 "$dir/m.csv" | grep -q "val_macro_recall,val_recall_action0,.*,val_recall_action4,best_step" ||
	fail "metrics header: $(head -1 "$dir/m.csv")"
"$model_tool" info "$dir/m.dpm" >"$dir/info.txt" || fail "info: $(cat "$dir/info.txt")"
grep -q "^actions: 5$" "$dir/info.txt" || fail "the model does not have 5 actions: $(cat "$dir/info.txt")"
"$model_tool" check "$dir/m.dpm" "$dir/pool.json" --windows 200 >"$dir/check.txt" 2>&1 ||
	fail "check: $(cat "$dir/check.txt")"
grep -q "check: passed" "$dir/check.txt" || fail "check: $(cat "$dir/check.txt")"
if "$train" "$dir/pool.json" -o "$dir/x.dpm" --class-weights 1,1,1 >/dev/null 2>"$dir/cw.txt"; then
	fail "3 class weights accepted for 5 actions"
fi
grep -q "3 class weights given, the pools have 5 actions" "$dir/cw.txt" || fail "class weights message: $(cat "$dir/cw.txt")"
echo "train_actions: ok ($(grep heldout_accuracy "$dir/out.txt"))"
