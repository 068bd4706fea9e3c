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
    fig = {"C": (None, None), "L": (None, None), "marked": 0, "drops": 0}
    try:
        text = open(path).read()
    except OSError:
        return fig
    for q, name in (("C", "Classic"), ("L", "L4S")):
        m = re.search(rf"^{port} {name} queue sojourn: p50 ([\d.]+) ms p90 [\d.]+ ms p99 ([\d.]+) ms", text, re.M)
        if m:
            fig[q] = (float(m.group(1)), float(m.group(2)))
    m = re.search(rf"^{port}\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", text, re.M)
    if m:
        fig["marked"] = int(m.group(3))
        fig["drops"] = int(m.group(4)) + int(m.group(5))
    return fig
