#!/usr/bin/env python3
"""configs/heldout/generate.py: writes the held-out family (issue 26), seeded.

Each of the MIXES below is one held-out scenario. Its bottleneck rate and
base RTT are drawn by a Latin hypercube over 8 Mbit/s - 1 Gbit/s and
1 - 200 ms (log-uniform, one stratum of each per scenario, strata paired by
a seeded shuffle), so the family spans both ranges evenly whatever the
mixes are. A drawn rate or RTT that a training sweep uses exactly is moved
by 10 %: the sweeps never see a held-out rate or RTT (sim/sweep.cpp). The
mixes were chosen to differ from every training sweep's mix
(configs/sweeps/), so no training cell is a near twin (sim/heldout.hpp).

  configs/heldout/generate.py [--check]   (--check: exit 1 if the files differ)

The family was fixed with the objective of the same commit, before any
policy ran on it; it is not to be regenerated to fit results.
"""
import math
import os
import random
import sys

SEED = 26
HERE = os.path.dirname(os.path.abspath(__file__))
TRAINING_RATES_M = {8, 20, 50, 100, 200, 500, 1000}
TRAINING_RTTS_MS = {1, 5, 10, 20, 50, 100, 200}
DURATION_S, WARMUP_S = 14, 4
VARYING_DURATION_S = 20  # the rate halves (or quarters) at 8 s for 5 s, then recovers

# (name, description, flows, changes). A flow: dict of TOML keys; "rtt" as a
# multiple of the scenario's base RTT ("rtt_x"), udp "rate" as a share of the
# bottleneck ("rate_share"), web arrival_rate from the share of capacity its
# objects would fill ("load").
def long(cc, count=1, **kw):
    return dict(cc=cc, count=count, **kw)


def web(cc, load, mean_packets=30, **kw):
    return dict(cc=cc, load=load, mean_packets=mean_packets, **kw)


def udp(ecn, share, size, **kw):
    return dict(cc="udp", ecn=ecn, rate_share=share, size=size, **kw)


MIXES = [
    ("cubic-vs-scalable", "one Cubic and one scalable flow", [long("cubic"), long("scalable")], None),
    ("reno-vs-scalable", "one Reno and one scalable flow", [long("reno"), long("scalable")], None),
    ("eight-flows", "4 Cubic and 4 scalable flows", [long("cubic", 4), long("scalable", 4)], None),
    ("fifty-flows", "25 Cubic and 25 scalable flows", [long("cubic", 25), long("scalable", 25)], None),
    ("forty-mixed", "10 Reno, 10 Cubic and 20 scalable flows",
     [long("reno", 10), long("cubic", 10), long("scalable", 20)], None),
    ("l4s-only-one", "L4S only: one scalable flow", [long("scalable")], None),
    ("l4s-only-six", "L4S only: six scalable flows", [long("scalable", 6)], None),
    ("classic-only-cubic", "Classic only: three Cubic flows", [long("cubic", 3)], None),
    ("classic-only-ecn", "Classic only: 2 Reno and 2 Cubic with Classic ECN",
     [long("reno", 2), long("cubic", 2, ecn=True)], None),
    ("web-cubic-scalable", "web-like Cubic short flows (30 % load) beside a long scalable flow",
     [web("cubic", 0.3), long("scalable")], None),
    ("web-scalable-cubic", "web-like scalable short flows (30 % load) beside a long Cubic flow",
     [web("scalable", 0.3), long("cubic")], None),
    ("web-both-long-both", "web-like Cubic and scalable short flows (20 % each) beside one long flow of each",
     [web("cubic", 0.2), web("scalable", 0.2), long("cubic"), long("scalable")], None),
    ("onoff-two", "long Cubic and scalable; Reno and scalable flows on for 3 s each",
     [long("cubic"), long("scalable"), long("reno", start="5s", stop="8s"),
      long("scalable", start="9s", stop="12s")], None),
    ("join-pairs", "a Cubic and a scalable flow, another of each joining at 7 s",
     [long("cubic"), long("cubic", start="7s"), long("scalable"), long("scalable", start="7s")], None),
    ("leave-pairs", "2 Cubic and 1 scalable long; a Cubic and a scalable flow leaving at 9 s",
     [long("cubic", 2), long("cubic", stop="9s"), long("scalable"), long("scalable", stop="9s")], None),
    ("l4s-udp-burst", "Cubic and scalable, an ECT(1) UDP burst of 40 % of the rate from 6 to 10 s",
     [long("cubic"), long("scalable"), udp("ect1", 0.4, 1200, start="6s", stop="10s")], None),
    ("classic-udp-burst", "2 Reno and a scalable flow, a Not-ECT UDP burst of 40 % from 6 to 10 s",
     [long("reno", 2), long("scalable"), udp("not-ect", 0.4, 1200, start="6s", stop="10s")], None),
    ("call-beside-bulk", "2 Cubic, 2 scalable and a 2 % ECT(1) UDP call",
     [long("cubic", 2), long("scalable", 2), udp("ect1", 0.02, 200)], None),
    ("radio-halves", "Cubic and scalable; the rate halves from 8 to 13 s",
     [long("cubic"), long("scalable")], [(8, 0.5), (13, 1.0)]),
    ("radio-quarter-web", "2 Cubic, 2 scalable, web-like Cubic (15 %); the rate falls to a quarter from 8 to 13 s",
     [long("cubic", 2), long("scalable", 2), web("cubic", 0.15)], [(8, 0.25), (13, 1.0)]),
    ("radio-l4s-only", "L4S only: 2 scalable flows; the rate halves from 8 to 13 s",
     [long("scalable", 2)], [(8, 0.5), (13, 1.0)]),
    ("rtt-spread-both", "Cubic and scalable at the base RTT and at 4x it",
     [long("cubic"), long("cubic", rtt_x=4), long("scalable"), long("scalable", rtt_x=4)], None),
    ("rtt-reno-short-l4s-long", "Reno at the base RTT, scalable at 5x it",
     [long("reno"), long("scalable", rtt_x=5)], None),
    ("rtt-l4s-short-cubic-long", "scalable at the base RTT, 2 Cubic at 5x it",
     [long("scalable"), long("cubic", 2, rtt_x=5)], None),
    ("reno-ecn-pairs", "2 Reno with Classic ECN, 2 scalable", [long("reno", 2, ecn=True), long("scalable", 2)], None),
    ("l4s-heavy-eight", "8 scalable flows and one Cubic", [long("scalable", 8), long("cubic")], None),
    ("classic-heavy-eight", "8 Cubic flows and one scalable", [long("cubic", 8), long("scalable")], None),
    ("web-only", "web-like Cubic and scalable short flows only (35 % load each)",
     [web("cubic", 0.35), web("scalable", 0.35)], None),
    ("crowd-joining", "10 Cubic flows; 10 scalable joining at 6 s", [long("cubic", 10), long("scalable", 10, start="6s")],
     None),
    ("reno-web-game", "a long Reno, web-like Reno (30 %) and a 1 % ECT(1) UDP game stream",
     [long("reno"), web("reno", 0.3), udp("ect1", 0.01, 300)], None),
    ("kitchen-sink", "2 Cubic, 2 scalable, web-like Cubic and scalable (10 % each), a call and a Not-ECT burst",
     [long("cubic", 2), long("scalable", 2), web("cubic", 0.1), web("scalable", 0.1), udp("ect1", 0.02, 200),
      udp("not-ect", 0.3, 1200, start="7s", stop="9s")], None),
    ("reno-late-l4s-three", "a Reno flow, another joining at 6 s, 3 scalable",
     [long("reno"), long("reno", start="6s"), long("scalable", 3)], None),
]


def draw(rng, n):
    """n (rate_mbit, rtt_ms) pairs: one log-uniform stratum of each per scenario."""
    def strata(lo, hi):
        xs = [math.exp(math.log(lo) + (i + rng.random()) / n * (math.log(hi) - math.log(lo))) for i in range(n)]
        rng.shuffle(xs)
        return xs
    rates, rtts = strata(8, 1000), strata(1, 200)
    out = []
    for r, t in zip(rates, rtts):
        r = float(f"{r:.2g}") if r < 100 else round(r, -1)
        t = float(f"{t:.2g}")
        if r in TRAINING_RATES_M:
            r = round(r * 1.1, 1)
        if t in TRAINING_RTTS_MS:
            t = round(t * 1.1, 2)
        out.append((r, t))
    return out


def fmt_num(x):
    return f"{x:g}"


def scenario(index, mix, rate_m, rtt_ms):
    key, desc, flows, changes = mix
    name = f"heldout-{index:02d}-{fmt_num(rate_m)}m-{fmt_num(rtt_ms)}ms-{key}"
    duration = VARYING_DURATION_S if changes else DURATION_S
    lines = [f"# Held out (configs/heldout/generate.py, seed {SEED}): do not edit by hand.",
             f'name = "{name}"',
             f'description = "{fmt_num(rate_m)} Mbit/s, {fmt_num(rtt_ms)} ms: {desc}"',
             f'duration = "{duration}s"', f'warmup = "{WARMUP_S}s"', "repetitions = 5", "",
             "[bottleneck]", f'rate = "{int(rate_m * 1000)}kbit"']
    if changes:
        items = ", ".join(f'{{at = "{at}s", rate = "{int(rate_m * 1000 * share)}kbit"}}' for at, share in changes)
        lines.append(f"changes = [{items}]")
    for i, f in enumerate(flows):
        f = dict(f)
        lines += ["", "[[flows]]", f'name = "{f["cc"]}-{i + 1}"', f'cc = "{f.pop("cc")}"']
        rtt = rtt_ms * f.pop("rtt_x", 1)
        if round(rtt, 6) in TRAINING_RTTS_MS:
            rtt *= 1.1
        lines.append(f'rtt = "{int(round(rtt * 1000))}us"')
        if "rate_share" in f:
            lines.append(f'rate = "{max(1, int(rate_m * 1000 * f.pop("rate_share")))}kbit"')
        if "load" in f:
            # connections / s whose mean objects fill `load` of the capacity
            per_conn_bits = f["mean_packets"] * 1500 * 8
            lines.append(f'arrival_rate = {rate_m * 1e6 * f.pop("load") / per_conn_bits:.4g}')
            lines.append("pareto_shape = 1.3")
        for k, v in f.items():
            if isinstance(v, bool):
                lines.append(f"{k} = {'true' if v else 'false'}")
            elif isinstance(v, str):
                lines.append(f'{k} = "{v}"')
            elif not (k == "count" and v == 1):
                lines.append(f"{k} = {v}")
    return name, "\n".join(lines) + "\n"


def family():
    rng = random.Random(SEED)
    pairs = draw(rng, len(MIXES))
    return [scenario(i + 1, mix, r, t) for i, (mix, (r, t)) in enumerate(zip(MIXES, pairs))]


def main():
    check = "--check" in sys.argv[1:]
    want = dict(family())
    have = {f[:-5]: open(os.path.join(HERE, f)).read() for f in os.listdir(HERE) if f.endswith(".toml")}
    if check:
        if want != have:
            print("configs/heldout/ differs from configs/heldout/generate.py's family", file=sys.stderr)
            return 1
        print(f"ok: {len(want)} held-out scenarios as generated")
        return 0
    for name in have.keys() - want.keys():
        os.remove(os.path.join(HERE, name + ".toml"))
    for name, text in want.items():
        with open(os.path.join(HERE, name + ".toml"), "w") as f:
            f.write(text)
    print(f"wrote {len(want)} held-out scenarios to {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
