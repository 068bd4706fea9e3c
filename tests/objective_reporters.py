#!/usr/bin/env python3
"""One run's score, read by every reporter: the simulator (summary.json,
summary.txt, runs.csv), perf/eval_report (its sim rows, through
dualpilot-score), and the router's summary line as perf/bed_report and
perf/eval_report read it (bed_files.router_figures, then dualpilot-score).
They must agree exactly: there is one implementation (sim/objective.cpp), and
every line and file carries the inputs as they were scored. The bed's score
reads the router's per-packet sojourn of each queue, as the simulator's
reads its own, and the flows' L4S/Classic rate balance.

usage: objective_reporters.py BUILD_DIR SOURCE_DIR"""
import csv
import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

build, src = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(src, "perf"))
import bed_files  # noqa: E402

score_exe = os.path.join(build, "sim", "dualpilot-score")


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def load(path, name):
    loader = importlib.machinery.SourceFileLoader(name, path)
    spec = importlib.util.spec_from_loader(name, loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


with tempfile.TemporaryDirectory() as tmp:
    scenario = os.path.join(tmp, "s.toml")
    with open(scenario, "w") as f:
        f.write('name = "reporters"\nduration = "6s"\nwarmup = "2s"\n[bottleneck]\nrate = "10mbit"\n'
                '[[flows]]\ncc = "cubic"\ncount = 2\nrtt = "20ms"\n[[flows]]\nname = "l4s"\ncc = "scalable"\nrtt = "20ms"\n')
    run_dir = os.path.join(tmp, "sim", "s", "dualpi2")
    subprocess.run([os.path.join(build, "sim", "dualpilot-sim"), "--scenario", scenario, "--runs", "2", "--out", run_dir,
                    "--no-plots", "--no-pool", "-q"], check=True)

    # The simulator's own figures.
    sim_scores, lines = [], []
    for seed in (1, 2):
        with open(os.path.join(run_dir, f"seed-{seed}", "summary.json")) as f:
            s = json.load(f)
        sim_scores.append(s["objective"]["score"])
        lines.append(s["objective"]["line"])
        with open(os.path.join(run_dir, f"seed-{seed}", "summary.txt")) as f:
            if s["objective"]["line"] not in f.read():
                fail("summary.txt lacks the objective line of summary.json")
    with open(os.path.join(run_dir, "runs.csv")) as f:
        csv_scores = [float(r["score"]) for r in csv.DictReader(f)]
    for a, b in zip(sim_scores, csv_scores):
        if abs(a - b) > 5e-7:  # runs.csv prints 6 decimals
            fail(f"runs.csv score {b} against summary.json {a}")
    if not 0 < sim_scores[0] <= 1:
        fail(f"score {sim_scores[0]} outside (0, 1]")

    # perf/eval_report's sim rows: the figures of summary.json, scored by dualpilot-score.
    report = load(os.path.join(src, "perf", "eval_report"), "eval_report")
    data = report.collect(tmp)
    report.add_scores(data, score_exe, None)
    eval_scores = data["s"]["dualpi2"]["sim"]["score"]
    if eval_scores != sim_scores:
        fail(f"perf/eval_report scores {eval_scores} against the simulator's {sim_scores}")

    # The router's summary line (the same objective_line) as the bed's reports read it.
    for line, want in zip(lines, sim_scores):
        bed = os.path.join(tmp, "bed")
        os.makedirs(bed, exist_ok=True)
        with open(os.path.join(bed, "router.log"), "w") as f:
            f.write(f"port rx tx\nb egress: dualpi2\nb {line}\n")
        fig = bed_files.router_figures(os.path.join(bed, "router.log"), "b")
        if fig["objective"] is None:
            fail(f"router line not read: {line}")
        got = bed_files.score([fig["objective"]], score_exe)[0]
        if got != want:
            fail(f"router line scored {got} by the bed's reports, the simulator {want}: {line}")
        out = subprocess.run([sys.executable, os.path.join(src, "perf", "bed_report"), bed],
                             capture_output=True, text=True)
        if f"{want:.4f}" not in out.stdout:
            fail(f"perf/bed_report does not print {want:.4f}: {out.stdout} {out.stderr}")
    # perf/eval_report's bed rows score each queue's per-packet sojourn as
    # the router printed it (the figure the simulator scores), never the
    # pings: a bed repetition whose ECT(1) ping says 0.2 ms while the L
    # queue's packets waited 5.4 ms at p99 is scored on 5.4.
    rep = os.path.join(tmp, "rep-1")
    os.makedirs(rep, exist_ok=True)
    with open(os.path.join(rep, "router.log"), "w") as f:
        f.write("b Classic queue sojourn: p50 12.5000 ms p90 20.0000 ms p99 31.0000 ms\n"
                "b L4S queue sojourn: p50 0.7000 ms p90 2.0000 ms p99 5.4000 ms\n")
    with open(os.path.join(rep, "ping-l4s.txt"), "w") as f:
        f.writelines(f"[{100 + i}.000000] 64 bytes from 10.0.0.2: icmp_seq={i} ttl=64 time=0.200 ms\n" for i in range(50))
    with open(os.path.join(rep, "prague-1.json"), "w") as f:
        json.dump({"goodput_mbps": 14.2, "intervals": [{"t_s": t + 1.0, "goodput_mbps": 14.2} for t in range(5)]}, f)
    with open(os.path.join(rep, "iperf-cubic.json"), "w") as f:
        json.dump({"end": {"streams": [{"receiver": {"bits_per_second": 19.7e6}}]},
                   "intervals": [{"sum": {"start": float(t), "bits_per_second": 19.7e6}} for t in range(5)]}, f)
    inputs = report.bed_run(rep, 100e6)["score_inputs"]
    if inputs["l4s"] != {"p50_ms": 0.7, "p99_ms": 5.4} or inputs["classic"] != {"p50_ms": 12.5, "p99_ms": 31.0}:
        fail(f"perf/eval_report's bed score reads {inputs['l4s']} / {inputs['classic']}, not the router's sojourn")
    if abs(inputs["balance"] - 14.2 / 19.7) > 1e-9:
        fail(f"perf/eval_report's bed rate balance {inputs['balance']}, expected {14.2 / 19.7}")
    print(f"ok: scores {sim_scores} identical in the simulator, perf/eval_report, the router line and perf/bed_report")
