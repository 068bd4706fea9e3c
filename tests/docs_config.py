#!/usr/bin/env python3
"""The configuration reference against the parsers (issue 28).

  docs_config.py keys SOURCE_DIR
      The keys each parser accepts, read from the parsers' own source (the
      lists they give TomlReader::only_keys, the `key == "..."` tests of each
      AQM's *_apply and *_is_flag, perf/eval's and scripts/pilot-profile's
      `known` keys), against the keys
      docs/configuration.md documents: each documented table follows a
      comment `<!-- keys: FILE CONTEXT -->` naming the parser's file and the
      table as the parser names it. Fails naming every key missing from
      either side, every parser without a documented table and every
      documented table without a parser. Also: configs/router.example.toml
      names every key of every router table (active or commented out), and
      every TOML block of README.md and docs/*.md that is not a router
      config uses only keys its parser knows.

  docs_config.py check SOURCE_DIR ROUTER
      `ROUTER --config F --check` passes for configs/router.example.toml and
      for every router config in README.md and docs/*.md: a ```toml block is
      a whole router config; a ```toml fragment block is part of one and is
      checked appended to a two-port base config; blocks of other files say
      which (```toml scenario, ```toml sweep, ```toml traffic, ```toml eval)."""
import os
import re
import subprocess
import sys
import tempfile
import tomllib

SKIP_DIRS = {".git", "tests", "dist", "docs", "configs", "subprojects", "shared"}
ROUTER_FILE = "config.cpp"
ROUTER_TABLES = {  # a section of the router's example -> the parser's table
    "": (ROUTER_FILE, "the config"),
    "eal": (ROUTER_FILE, "[eal]"),
    "router": (ROUTER_FILE, "[router]"),
    "ports": (ROUTER_FILE, "[[ports]]"),
    "ports.dualpi2": ("dualpi2.cpp", "dualpi2_apply"),
    "routes": (ROUTER_FILE, "[[routes]]"),
    "policy": (ROUTER_FILE, "[policy]"),
    "policy.tune": ("config_tune.cpp", "[policy.tune]"),
    "telemetry": (ROUTER_FILE, "[telemetry]"),
    "objective": ("objective_config.cpp", "[objective]"),
}
BASE_CONFIG = """[eal]
args = ["--no-huge", "-m", "1024", "--no-pci"]

[[ports]]
name = "west"
device = "net_null0"
peer = "east"

[[ports]]
name = "east"
device = "net_null1"
peer = "west"
"""

errors = []


def fail(msg):
    errors.append(msg)


def source_files(src):
    for root, dirs, files in os.walk(src):
        rel = os.path.relpath(root, src)
        top = rel.split(os.sep)[0]
        if top in SKIP_DIRS or top.startswith("build") or top.startswith("."):
            if rel != ".":
                dirs[:] = []
                continue
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith("build") and not d.startswith(".")]
        for f in files:
            yield os.path.join(root, f)


def aqm_names(src):
    text = open(os.path.join(src, "aqm", "aqm.hpp")).read()
    m = re.search(r"kAqmNames\[\]\s*=\s*\{([^}]*)\}", text)
    if not m:
        sys.exit("FAIL: aqm/aqm.hpp: kAqmNames not found")
    return re.findall(r'"([^"]+)"', m.group(1))


def parsers(src):
    """{(file name, context): set of keys}, from the source."""
    aqms = aqm_names(src)
    found = {}
    call = re.compile(r'\bonly_keys(_and_aqm_tables)?\(\s*[^,;]+?,\s*"([^"]*)"\s*,\s*\{([^}]*)\}')
    for path in source_files(src):
        name = os.path.basename(path)
        if path.endswith(".cpp"):
            text = open(path, encoding="utf-8").read()
            for m in re.finditer(r"\bonly_keys(_and_aqm_tables)?\(", text):
                c = call.match(text, m.start())
                line = text.count("\n", 0, m.start()) + 1
                if not c:
                    fail(f"{os.path.relpath(path, src)}:{line}: an only_keys call whose keys are not a list "
                         "of string literals: this test cannot read them")
                    continue
                keys = set(re.findall(r'"([^"]+)"', c.group(3)))
                if c.group(1):
                    keys |= set(aqms)
                found.setdefault((name, c.group(2)), set()).update(keys)
            for m in re.finditer(r"\n(?:std::string|bool) (\w+)_(apply|is_flag)\(", text):
                if name != m.group(1) + ".cpp":
                    continue  # an AQM's keys are read in its own file
                body = text[m.end():text.find("\n}\n", m.end())]
                keys = set(re.findall(r'key == "([^"]+)"', body))
                found.setdefault((name, m.group(1) + "_apply"), set()).update(keys)
        elif path.endswith(os.path.join("scripts", "pilot-profile")):
            text = open(path, encoding="utf-8").read()
            tables = re.search(r"if table not in \(([^)]*)\)", text)
            known = re.search(r"^\s*known = \(([^)]*)\)", text, re.M)
            if not tables or not known:
                fail("scripts/pilot-profile: its tables (if table not in (...)) or its [closed_loop] keys "
                     "(known = (...)) not found")
            else:
                found[("pilot-profile", "the profile")] = set(re.findall(r'"([^"]+)"', tables.group(1)))
                found[("pilot-profile", "[closed_loop]")] = set(re.findall(r'"([^"]+)"', known.group(1)))
        elif path.endswith(os.path.join("perf", "eval")):
            text = open(path, encoding="utf-8").read()
            m = re.search(r"^known = \{([^}]*)\}", text, re.M)
            if not m:
                fail("perf/eval: its [run] keys (known = {...}) not found")
            else:
                found[("eval", "[run]")] = set(re.findall(r'"([^"]+)"', m.group(1)))
    return found


def documented(src):
    """{(file name, context): (doc file, set of keys)}, from the docs' marked tables."""
    out = {}
    docs = os.path.join(src, "docs")
    for f in sorted(os.listdir(docs)):
        if not f.endswith(".md"):
            continue
        lines = open(os.path.join(docs, f), encoding="utf-8").read().split("\n")
        for i, line in enumerate(lines):
            m = re.fullmatch(r"<!-- keys: (\S+) (.+?) -->", line.strip())
            if not m:
                continue
            keys = set()
            j = i + 1
            while j < len(lines) and not lines[j].startswith("|"):
                j += 1
            rows = 0
            while j < len(lines) and lines[j].startswith("|"):
                rows += 1
                first = re.split(r"(?<!\\)\|", lines[j])[1]
                if rows > 2:  # past the header and its rule
                    keys |= set(re.findall(r"`([^`]+)`", first))
                j += 1
            key = (m.group(1), m.group(2))
            if key in out:
                fail(f"docs/{f}: the table of {key[0]} {key[1]} is documented twice")
            out[key] = (f"docs/{f}", keys)
    return out


def compare(src, found, docs):
    for key in sorted(found):
        if key not in docs:
            fail(f"{key[0]} {key[1]}: accepts {' '.join(sorted(found[key]))}, and no table of "
                 f"docs/configuration.md documents it (add one after '<!-- keys: {key[0]} {key[1]} -->')")
            continue
        where, keys = docs[key]
        for k in sorted(found[key] - keys):
            fail(f"{key[0]} {key[1]}: key '{k}' is accepted but not documented in {where}")
        for k in sorted(keys - found[key]):
            fail(f"{key[0]} {key[1]}: key '{k}' is documented in {where} but the parser does not accept it")
    for key in sorted(set(docs) - set(found)):
        fail(f"{docs[key][0]}: documents {key[0]} {key[1]}, which no parser in the source reads")


def example_keys(path):
    """{section: set of keys} of a TOML file, commented-out lines included."""
    out = {"": set()}
    section = ""
    for line in open(path, encoding="utf-8"):
        s = line.strip()
        if s.startswith("#"):
            s = s[1:].strip()
        m = re.match(r"^\[\[?([A-Za-z0-9_.\-]+)\]\]?(\s|#|$)", s)
        if m:
            section = m.group(1)
            out.setdefault(section, set())
            top = section.split(".")[0]
            out[""].add(top)
            if "." in section:
                out.setdefault(top, set()).add(section.split(".", 1)[1])
            continue
        m = re.match(r"^([A-Za-z0-9_\-]+)\s*=", s)
        if m:
            out.setdefault(section, set()).add(m.group(1))
    return out


def check_example(src, found):
    path = os.path.join(src, "configs", "router.example.toml")
    have = example_keys(path)
    for section, parser in ROUTER_TABLES.items():
        for k in sorted(found.get(parser, set()) - have.get(section, set())):
            if section == "ports" and k != "dualpi2" and k in aqm_names(src):
                continue  # one AQM's table is shown: dualpi2's
            fail(f"configs/router.example.toml: [{section or 'top level'}] does not name key '{k}'")


def blocks(src):
    """(file, line, info, text) of every fenced block of README.md and docs/*.md."""
    files = [os.path.join(src, "README.md")]
    files += sorted(os.path.join(src, "docs", f) for f in os.listdir(os.path.join(src, "docs")) if f.endswith(".md"))
    for path in files:
        lines = open(path, encoding="utf-8").read().split("\n")
        i = 0
        while i < len(lines):
            m = re.match(r"^```(.*)$", lines[i])
            if m:
                j = i + 1
                while j < len(lines) and not lines[j].startswith("```"):
                    j += 1
                yield os.path.relpath(path, src), i + 1, m.group(1).strip(), "\n".join(lines[i + 1:j]) + "\n"
                i = j
            i += 1


def check_table_keys(where, table, found, parser, subparsers=None):
    keys = found.get(parser)
    if keys is None:
        return fail(f"{where}: no parser {parser[0]} {parser[1]} in the source")
    for k, v in table.items():
        if k not in keys:
            fail(f"{where}: key '{k}' is not one {parser[0]} {parser[1]} accepts")
        elif subparsers and k in subparsers:
            sub = subparsers[k]
            for t in v if isinstance(v, list) else [v]:
                if isinstance(t, dict):
                    check_table_keys(where, t, found, sub[0], sub[1] if len(sub) > 1 else None)


def other_file_parsers(src):
    aqm = {a: ((a + ".cpp", a + "_apply"),) for a in aqm_names(src)}
    objective = (("objective_config.cpp", "[objective]"),)
    scenario_flows = (("scenario.cpp", "[[flows]]"),)
    bottleneck = {"changes": (("scenario.cpp", "a rate change"),), **aqm}
    scenario = {"bottleneck": (("scenario.cpp", "[bottleneck]"), bottleneck), "flows": scenario_flows,
                "objective": objective, "sweep": (("sweep.cpp", "[sweep]"),)}
    return {
        "scenario": (("scenario.cpp", "the scenario"), scenario),
        "sweep": None,  # [sweep], [[mix]] and [objective]: checked table by table
        "traffic": (("spec.cpp", "the traffic file"),
                    {"traffic": (("spec.cpp", "[traffic]"),), "flows": (("spec.cpp", "[[flows]]"),)}),
        "eval": None,
    }


def check_other_blocks(src, found):
    kinds = other_file_parsers(src)
    for where, line, info, text in blocks(src):
        words = info.split()
        if not words or words[0] != "toml" or len(words) == 1 or words[1] == "fragment":
            continue
        at = f"{where}:{line}"
        if words[1] not in kinds:
            fail(f"{at}: unknown kind of TOML block '{info}' (toml, toml fragment, toml "
                 + ", toml ".join(kinds) + ")")
            continue
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            fail(f"{at}: not TOML: {e}")
            continue
        if words[1] == "scenario" or words[1] == "traffic":
            parser, subs = kinds[words[1]]
            check_table_keys(at, doc, found, parser, subs)
        elif words[1] == "sweep":
            for k, v in doc.items():
                if k == "sweep":
                    check_table_keys(at, v, found, ("sweep.cpp", "[sweep]"))
                elif k == "mix":
                    for m in v:
                        check_table_keys(at, m, found, ("sweep.cpp", "[[mix]]"),
                                         {"flows": (("scenario.cpp", "[[flows]]"),)})
                elif k == "objective":
                    check_table_keys(at, v, found, ("objective_config.cpp", "[objective]"))
                else:
                    fail(f"{at}: a sweep has no table '{k}'")
        elif words[1] == "eval":
            for k, v in doc.items():
                if k == "run":
                    check_table_keys(at, v, found, ("eval", "[run]"))
                elif k == "objective":
                    check_table_keys(at, v, found, ("objective_config.cpp", "[objective]"))
                elif k != "settings":
                    fail(f"{at}: perf/eval's config has no table '{k}'")


def run_check(router, text, where):
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(text)
        path = f.name
    try:
        p = subprocess.run([router, "--config", path, "--check"], capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            fail(f"{where}: dualpilot-router --check fails: {(p.stdout + p.stderr).strip()}")
        return p.returncode == 0
    finally:
        os.unlink(path)


def check_router_blocks(src, router):
    example = os.path.join(src, "configs", "router.example.toml")
    p = subprocess.run([router, "--config", example, "--check"], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        fail(f"configs/router.example.toml: dualpilot-router --check fails: {(p.stdout + p.stderr).strip()}")
    checked = 0
    for where, line, info, text in blocks(src):
        if info == "toml":
            checked += run_check(router, text, f"{where}:{line}")
        elif info == "toml fragment":
            checked += run_check(router, BASE_CONFIG + "\n" + text, f"{where}:{line} (a fragment, with a base config)")
    print(f"{checked} router configs in the docs pass --check, and configs/router.example.toml")


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("keys", "check") or (sys.argv[1] == "check" and len(sys.argv) != 4):
        sys.exit(__doc__)
    src = sys.argv[2]
    if sys.argv[1] == "keys":
        found = parsers(src)
        docs = documented(src)
        compare(src, found, docs)
        check_example(src, found)
        check_other_blocks(src, found)
        print(f"{len(found)} parsers' tables, {sum(len(k) for k in found.values())} keys, "
              f"compared with {len(docs)} documented tables")
    else:
        check_router_blocks(src, sys.argv[3])
    for e in errors:
        print("FAIL:", e)
    sys.exit(1 if errors else 0)


main()
