#!/usr/bin/env python3
"""The pilot profile's values are written in one file (configs/pilot/profile.toml):
the files that set a pilot up read it (scripts/pilot-profile, or the header the
build makes from it) and never write its values out again. Each finding is
printed as FILE:LINE: what, and the test fails if there is any.

Looked at: the files that set up the pilot's closed loop or its base DualPI2
(SCOPE). Elsewhere the same numbers mean something else (a DualPI2 test vector
with target 5ms, a sampling interval a benchmark measures at, a run's record
in perf/RESULTS.md) and are not the profile's.

  tests/pilot_profile_literals.py SOURCE_DIR
"""
import fnmatch
import os
import re
import sys
import tomllib

# The files that set a pilot up: what they hold of the profile must come from it.
SCOPE = [
    "scripts/*",
    "perf/eval", "perf/eval_report", "perf/bench-pilot", "perf/bench-train", "perf/bed_report",
    "perf/plot", "perf/plot_pilot", "perf/*.py",
    "sim/*_main.cpp", "sim/finetune.*", "sim/simulation.hpp", "sim/heldout_bench.*",
    "dataplane/config.hpp", "dataplane/config.cpp",
    "configs/eval/*",
]
# The profile's own reader writes none of its values, but names units and
# examples in its help.
NOT_CHECKED = {"scripts/pilot-profile"}

UNITS_NS = {"ns": 1, "us": 1000, "ms": 1000000, "s": 1000000000}


def time_ns(text):
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s)", text)
    return int(float(m.group(1)) * UNITS_NS[m.group(2)])


def spelled(ns):
    """A time as scripts and prose write it: 20000 ns -> 20 ?us (20us, 20 us)."""
    for unit in ("s", "ms", "us"):
        if ns % UNITS_NS[unit] == 0:
            return rf"{ns // UNITS_NS[unit]} ?{unit}"
    return rf"{ns} ?ns"


def patterns(profile):
    """(regex, what) for each way a file could write a profile value again."""
    out = []
    settings = [("base", k, v) for k, v in profile["base"].items()]
    settings += [("tuner_base", k, v) for k, v in profile.get("tuner_base", {}).items()]
    for table, key, value in settings:
        v = str(value)
        m = re.fullmatch(r"([0-9.]+)([a-z]+)", v)
        v_re = rf"{re.escape(m.group(1))} ?{m.group(2)}" if m else re.escape(v)
        # target=5ms (--set), target = "5ms" (TOML), target 5 ms (prose), {"target", "5ms"} (C++)
        out.append((rf"\b{key}(=| = \"?| ){v_re}(?![\w.])", f"[{table}] {key} = {value!r}"))
        out.append((rf"\{{\"{key}\", \"{re.escape(v)}\"\}}", f"[{table}] {key} = {value!r}"))
    loop = profile["closed_loop"]
    n = loop["inference_interval"]
    out.append((rf"inference[_-]interval\W{{0,4}}{n}\b|\bevery {n} decisions", f"inference_interval = {n}"))
    ttl = time_ns(loop["override_ttl"])
    out.append((rf"(?<![\w.]){ttl}(?![\w.])|ttl\w*\s*=\s*\"?{spelled(ttl)}\b|ttl\w*\s*=\s*{ttl // 1000}\b",
                f"override_ttl = {loop['override_ttl']!r}"))
    for d in loop["decision_delays"]:
        ns = time_ns(d)
        alts = [rf"(?<![\w.]){ns}(?![\w.])", rf"(?<![\w.]){spelled(ns)}\b"]
        if ns >= 1000000:  # as microseconds (39000): too short a number below that
            alts.append(rf"(?<![\w.]){ns // 1000}(?![\w.])")
        out.append(("|".join(alts), f"decision delay {d!r}"))
    return [(re.compile(p), what) for p, what in out]


def in_scope(rel):
    return rel not in NOT_CHECKED and any(fnmatch.fnmatchcase(rel, g) for g in SCOPE)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    with open(os.path.join(root, "configs", "pilot", "profile.toml"), "rb") as f:
        pats = patterns(tomllib.load(f))
    findings = 0
    for d in sorted({os.path.dirname(g) for g in SCOPE}):
        for name in sorted(os.listdir(os.path.join(root, d))):
            rel = f"{d}/{name}"
            if not in_scope(rel) or not os.path.isfile(os.path.join(root, rel)):
                continue
            try:
                lines = open(os.path.join(root, rel), encoding="utf-8").read().splitlines()
            except UnicodeDecodeError:
                continue
            for i, line in enumerate(lines, 1):
                for rx, what in pats:
                    if rx.search(line):
                        print(f"{rel}:{i}: the pilot profile's {what}, written again "
                              f"(read it from configs/pilot/profile.toml): {line.strip()}")
                        findings += 1
    if findings:
        print(f"FAIL: {findings} literal(s) of the pilot profile outside configs/pilot/profile.toml")
        return 1
    print("ok: no literal of the pilot profile outside configs/pilot/profile.toml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
