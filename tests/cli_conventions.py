#!/usr/bin/env python3
"""The command-line convention of the built tools (common/cli.hpp).

  cli_conventions.py SOURCE_DIR NAME=PATH...

Each NAME=PATH is a built tool (dualpilot-pool=build/sim/dualpilot-pool, ...).
Checks:
  - every tool's --help, and every subcommand's, ends with an example that
    runs the tool: "Example:" and indented command lines naming it; so do
    the --help of the scripts in perf/ and scripts/ that take one;
  - dualpilot-pool reads its inputs as positionals and writes with -o/--out:
    import, convert, merge and shard, each result read back by info; the
    old `convert IN OUT` is refused, not a second spelling;
  - a bad AQM parameter in a router config or a scenario names the AQM once
    (it read "dualpi2: dualpi2: target: ..." from the router);
  - a sweep's progress into a file has no carriage return.
Tools not given (the router without DPDK, the trainer without libtorch)
are not checked.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

failures = 0


def check(what, ok, detail=""):
    global failures
    print(("ok:   " if ok else "FAIL: ") + what + ("" if ok or not detail else f"\n      {detail}"))
    failures += 0 if ok else 1


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=300, **kw)


def subcommands(help_text):
    """The names under "Subcommands:" in a CLI11 help text."""
    names, inside = [], False
    for line in help_text.splitlines():
        if line.startswith("Subcommands:"):
            inside = True
        elif inside and re.match(r"^  \S", line):
            names.append(line.split()[0])
        elif inside and line and not line.startswith(" "):
            inside = False
    return names


def ends_with_example(help_text, tool):
    """The last "Example:" line is followed only by indented command lines,
    the first of which runs the tool."""
    lines = help_text.rstrip().splitlines()
    at = max((i for i, l in enumerate(lines) if l == "Example:"), default=-1)
    commands = lines[at + 1:]
    return at >= 0 and commands and all(l.startswith("  ") for l in commands) and tool in commands[0]


def check_help(tools):
    for name, path in sorted(tools.items()):
        top = run([path, "--help"])
        check(f"{name} --help exits 0", top.returncode == 0, top.stderr)
        check(f"{name} --help ends with an example", ends_with_example(top.stdout, name), top.stdout[-300:])
        for sub in subcommands(top.stdout):
            h = run([path, sub, "--help"])
            check(f"{name} {sub} --help ends with an example", h.returncode == 0 and ends_with_example(h.stdout, name),
                  h.stdout[-300:])


SCRIPTS = ["perf/eval", "perf/bed_report", "perf/eval_report", "perf/plot", "perf/plot_training",
           "perf/small_pool.py", "perf/bench-train", "perf/bench-dp", "perf/bench-pilot",
           "scripts/check-platform", "scripts/demo", "scripts/train-pilot", "scripts/train-policy",
           "scripts/train-distributed"]


def check_scripts(source_dir):
    for script in SCRIPTS:
        path = os.path.join(source_dir, script)
        python = open(path).readline().rstrip().endswith("python3")
        args = [os.path.join(source_dir, "scripts", "python3"), path] if python else [path]
        h = run(args + ["--help"])
        if h.returncode != 0 and "ModuleNotFoundError" in h.stderr:
            print(f"skip: {script} --help (a Python module it needs is missing)")
            continue
        check(f"{script} --help ends with an example", h.returncode == 0 and ends_with_example(h.stdout, script),
              h.stdout[-300:] + h.stderr[-300:])


def check_pool(pool, d):
    src = os.path.join(d, "paper.json")
    with open(src, "w") as f:
        json.dump({"states": [[0, 0, 0.1, 2000, 0.2, 3000, 1500], [1, 0, 0.3, 500, 0.1, 1500, 1000]],
                   "actions": [1, 2], "rewards": [0.5, 0.66], "dones": [0, 1]}, f)
    a, b, m = (os.path.join(d, n) for n in ("a.dpp", "b.json", "m.dpp"))
    steps = [("import IN -o OUT", [pool, "import", src, "-o", a], a),
             ("convert IN -o OUT", [pool, "convert", a, "-o", b], b),
             ("merge IN... --out OUT", [pool, "merge", a, b, "--out", m], m),
             ("shard N IN... -o DIR", [pool, "shard", "2", m, "-o", os.path.join(d, "shards")],
              os.path.join(d, "shards", "shard-1-of-2.dpp"))]
    for what, args, made in steps:
        r = run(args)
        check(f"dualpilot-pool {what}", r.returncode == 0 and os.path.exists(made), r.stderr)
        if os.path.exists(made):
            info = run([pool, "info", made])
            check(f"dualpilot-pool info reads what {what.split()[0]} wrote", info.returncode == 0, info.stderr)
    old = run([pool, "convert", a, os.path.join(d, "c.json")])
    check("dualpilot-pool convert IN OUT (the old spelling) is refused", old.returncode != 0, old.stdout)


def once(text, what):
    return text.count(what) == 1


def check_prefixes(tools, d, source_dir):
    if "dualpilot-router" in tools:
        cfg = os.path.join(d, "bad.toml")
        with open(cfg, "w") as f:
            f.write('[[ports]]\nname = "a"\ndevice = "net_null0"\npeer = "b"\n'
                    '[[ports]]\nname = "b"\ndevice = "net_null1"\npeer = "a"\n'
                    '[ports.dualpi2]\ntarget = "xyz"\n')
        r = run([tools["dualpilot-router"], "--config", cfg, "--check"])
        check("router config: a bad dualpi2 target names dualpi2 once, at its line",
              r.returncode != 0 and once(r.stderr, "dualpi2:") and f"{cfg}:10: dualpi2: target:" in r.stderr, r.stderr)
    if "dualpilot-sim" in tools:
        with open(os.path.join(source_dir, "configs", "scenarios", "demo.toml")) as f:
            scenario = f.read()
        bad = os.path.join(d, "bad-scenario.toml")
        with open(bad, "w") as f:
            f.write(scenario + '\n[bottleneck.dualpi2]\ntarget = "xyz"\n')
        r = run([tools["dualpilot-sim"], "--scenario", bad, "--aqm", "dualpi2", "--runs", "1", "-q", "--no-plots",
                 "--no-pool", "-o", os.path.join(d, "run")])
        check("scenario: a bad dualpi2 target names dualpi2 once", r.returncode != 0 and once(r.stderr, "dualpi2:"),
              r.stderr)
        r = run([tools["dualpilot-sim"], "--scenario", os.path.join(source_dir, "configs", "scenarios", "demo.toml"),
                 "--aqm", "dualpi2", "--set", "target=xyz", "--runs", "1", "-q", "-o", os.path.join(d, "run")])
        check("sim --set: a bad dualpi2 target names dualpi2 once", r.returncode != 0 and once(r.stderr, "dualpi2:"),
              r.stderr)


def check_progress(tools, d, source_dir):
    if "dualpilot-sim" not in tools:
        return
    with open(os.path.join(d, "sweep.log"), "w") as log:
        r = subprocess.run([tools["dualpilot-sim"], "--sweep", os.path.join(source_dir, "configs", "sweeps", "train.toml"),
                            "--sweep-cells", "2", "--no-pool", "-o", os.path.join(d, "sweep")],
                           stdout=subprocess.DEVNULL, stderr=log, timeout=300)
    text = open(os.path.join(d, "sweep.log")).read()
    check("sim --sweep into a file: progress as lines, no carriage return",
          r.returncode == 0 and "\r" not in text and "cell 2/2" in text, text[-300:])


def main():
    source_dir = sys.argv[1]
    tools = dict(a.split("=", 1) for a in sys.argv[2:])
    with tempfile.TemporaryDirectory() as d:
        check_help(tools)
        check_scripts(source_dir)
        if "dualpilot-pool" in tools:
            check_pool(tools["dualpilot-pool"], d)
        check_prefixes(tools, d, source_dir)
        check_progress(tools, d, source_dir)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
