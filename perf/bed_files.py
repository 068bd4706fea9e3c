"""What perf/bed_report and perf/eval_report read off a test-bed run: ping
output, JSON files, and the router's exit summary."""
import json
import re


def pings(path):
    """(seconds since the first reply, rtt ms) from `ping -D` output."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                m = re.match(r"\[(\d+\.\d+)\].*time=([\d.]+) ms", line)
                if m:
                    out.append((float(m.group(1)), float(m.group(2))))
    except OSError:
        pass
    if out:
        t0 = out[0][0]
        out = [(t - t0, r) for t, r in out]
    return out


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def router_figures(path, port):
    """Per-queue sojourn percentiles and the port's counters from the router's summary."""
    fig = {"C": (None, None), "L": (None, None), "marked": 0, "drops": 0, "objective": None, "score": None}
    try:
        text = open(path).read()
    except OSError:
        return fig
    for q, name in (("C", "Classic"), ("L", "L4S")):
        # The objective's figure where the router printed it (drops counted at
        # their wait plus the penalty, as the simulator scores them), else the
        # forwarded packets' sojourn (a router from before the scored lines).
        m = re.search(rf"^{port} {name} queue scored delay: p50 ([\d.]+) ms p99 ([\d.]+) ms", text, re.M) or \
            re.search(rf"^{port} {name} queue sojourn: p50 ([\d.]+) ms p90 [\d.]+ ms p99 ([\d.]+) ms", text, re.M)
        if m:
            fig[q] = (float(m.group(1)), float(m.group(2)))
    m = re.search(rf"^{port} (objective: .*)$", text, re.M)
    if m:
        fig["objective"] = objective_line_inputs(m.group(1))
        # The score the router printed, under its own [objective] weights.
        printed = re.match(r"objective: score ([\d.]+)", m.group(1))
        fig["score"] = float(printed.group(1)) if printed else None
    m = re.search(rf"^{port}\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", text, re.M)
    if m:
        fig["marked"] = int(m.group(3))
        fig["drops"] = int(m.group(4)) + int(m.group(5))
    return fig


def objective_line_inputs(text):
    """The inputs of an `objective: score ...` line (sim/objective.cpp's objective_line), or None."""
    m = re.search(r"objective: score [\d.]+ \(L (?:p50 ([\d.]+) p99 ([\d.]+) ms|-), "
                  r"C (?:p50 ([\d.]+) p99 ([\d.]+) ms|-), utilisation ([\d.]+) %, Jain ([\d.]+|-), "
                  r"balance ([\d.]+|-)\)", text)
    if not m:
        return None
    g = m.groups()
    cls = lambda a, b: None if a is None else {"p50_ms": float(a), "p99_ms": float(b)}
    known = lambda v: None if v == "-" else float(v)
    return {"l4s": cls(g[0], g[1]), "classic": cls(g[2], g[3]), "utilisation": float(g[4]) / 100,
            "jain": known(g[5]), "balance": known(g[6])}


def score(inputs, score_exe, objective=None):
    """The objective (docs/objective.md) of each input, by dualpilot-score: the one implementation.

    inputs: [{"l4s": {"p50_ms", "p99_ms"} or None, "classic": the same, "utilisation": 0..1, "jain": or None,
              "balance": the L4S flows' mean rate over the Classic flows' or None}]
    Returns the scores in order; raises RuntimeError with the tool's message when it refuses an input."""
    import subprocess
    if not inputs:
        return []
    cmd = [score_exe, "--json"] + (["--objective", objective] if objective else [])
    p = subprocess.run(cmd, input=json.dumps(inputs), capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {p.stderr.strip()}")
    return [r["score"] for r in json.loads(p.stdout)]
