#!/usr/bin/env python3
"""No function in the tree's C++ runs past a screen (STYLE.md, rule 12): each
function's lines, from the first line of its signature to its closing brace,
are at most LIMIT. A longer one is a sequence of steps that wants names
(issue 28). Each finding is printed as FILE:LINE: NAME is N lines, and the
test fails if there is any.

Looked at: the C++ and CUDA sources of the components (FOLDERS), not tests/.
A function that is mostly one switch over opcodes reads best as that switch;
those are allowed by name in ALLOWED, each with the reason.

The scanner is a brace matcher, not a parser: comments, string and character
literals and preprocessor lines are blanked first; then a '{' at namespace or
class scope opens a function body when the text before it since the last ';'
or '}' holds a parameter list and is not a type (class, struct, union, enum)
or an initialiser ('=' before the parameter list). Braces inside a body
(lambdas, blocks, local types) count towards the function around them.

  tests/function_length.py SOURCE_DIR [--limit N] [--list]
"""
import argparse
import os
import re
import sys

LIMIT = 80
FOLDERS = ["aqm", "common", "experience", "policy", "sim", "dataplane", "gpu", "perf"]
SUFFIXES = (".cpp", ".hpp", ".h", ".cc", ".cu", ".cuh")

# (file, function) -> why it may be longer than LIMIT.
ALLOWED = {
    ("sim/pickle.cpp", "Machine::op"): "the pickle machine's one switch over its opcodes, a case each, "
    "as the protocol lists them; split, an opcode's meaning would sit far from its byte",
}


def blank(text):
    """text with comments, literals and preprocessor lines turned to spaces
    (newlines kept, so line numbers hold)."""
    out = list(text)
    i, n = 0, len(text)

    def clear(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    at_line_start = True
    while i < n:
        c = text[i]
        if c == "\n":
            at_line_start = True
            i += 1
            continue
        if at_line_start and c == "#":
            # A preprocessor line, with its backslash continuations.
            j = i
            while j < n and not (text[j] == "\n" and text[j - 1] != "\\"):
                j += 1
            clear(i, j)
            i = j
            continue
        if not c.isspace():
            at_line_start = False
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            clear(i, j)
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            clear(i, j)
            i = j
        elif c == '"':
            m = re.compile(r'R"([^(\s]*)\(').match(text, i - 1) if i > 0 and text[i - 1] == "R" else None
            if m:
                end = text.find(")" + m.group(1) + '"', m.end())
                j = n if end < 0 else end + len(m.group(1)) + 2
            else:
                j = i + 1
                while j < n and text[j] != '"':
                    j += 2 if text[j] == "\\" else 1
                j += 1
            clear(i + 1, j - 1)
            i = j
        elif c == "'":
            # A digit separator (1'000'000) is no literal.
            k = i - 1
            while k >= 0 and (text[k].isalnum() or text[k] in "_."):
                k -= 1
            if k + 1 < i and text[k + 1].isdigit():
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != "'":
                j += 2 if text[j] == "\\" else 1
            j += 1
            clear(i + 1, j - 1)
            i = j
        else:
            i += 1
    return "".join(out)


# Attributes and specifiers whose parentheses are not a parameter list.
NOT_PARAMS = re.compile(r"\b(alignas|__attribute__|__declspec|__launch_bounds__|decltype|noexcept|requires)\s*\(")
TYPE_HEAD = re.compile(r"^(template\s*<.*>\s*)?(typedef\s+)?(class|struct|union|enum)\b", re.S)


def strip_parens_after(text, m_end):
    """The index just past the parenthesised group that opens at m_end - 1."""
    depth, j = 0, m_end - 1
    while j < len(text):
        if text[j] == "(":
            depth += 1
        elif text[j] == ")":
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    return j


def plain_header(h):
    """The header with attributes, alignas() and the like removed."""
    h = re.sub(r"\[\[.*?\]\]", " ", h, flags=re.S)
    while True:
        m = NOT_PARAMS.search(h)
        if not m:
            return h
        h = h[: m.start()] + " " + h[strip_parens_after(h, m.end()) :]


def classify(header):
    """'function', 'type', 'namespace', 'init' (a brace inside a signature:
    a default argument's {}, or a member's brace-init in a constructor's
    initialiser list) or 'data' for the '{' that follows header."""
    h = plain_header(header).strip()
    if re.match(r"^(inline\s+)?namespace\b", h) or re.match(r'^extern\s+""\s*$', h):
        return "namespace"
    if TYPE_HEAD.match(h):
        return "type"
    if h.count("(") > h.count(")"):
        return "init"  # a brace inside parentheses: a default argument's {}, a braced argument
    p = h.find("(")
    if p < 0:
        return "data"
    if "=" in h[:p] and not re.search(r"\boperator\b", h[:p]):
        return "data"  # an initialiser: x = f(...) {  or a lambda assigned at namespace scope
    # A constructor's member initialiser list: `) : a_(a), b_{` is a member's
    # brace-init, `) : a_(a) {` the body.
    close = strip_parens_after(h, p + 1)
    tail = h[close:]
    if re.match(r"^\s*(const\s+|noexcept\s+|override\s+|final\s+)*:(?!:)", tail) and re.search(r"[\w>]\s*$", tail):
        last_item = re.split(r"[,:](?!:)", tail)[-1].strip()
        if re.fullmatch(r"[\w:]+(<.*>)?", last_item, flags=re.S):
            return "init"
    return "function"


def function_name(header):
    h = plain_header(header)
    m = re.search(r"(operator\s*(\(\)|[^\s(]+)|[~\w:]+)\s*(<[^()]*>)?\s*\(", h)
    return re.sub(r"\s+", "", m.group(1)) if m else "?"


def functions(text):
    """(name, first line, last line) of every function body in text."""
    code = blank(text)
    found = []
    scopes = []  # kinds of the '{' open at namespace/class level
    header_start = 0
    i, n = 0, len(code)
    while i < n:
        c = code[i]
        if c == ";":
            header_start = i + 1
        elif c == "}":
            kind = scopes.pop() if scopes else "namespace"
            if kind != "init":
                header_start = i + 1
        elif c == "{":
            header = code[header_start:i]
            kind = classify(header)
            if kind != "function":
                scopes.append(kind)
                if kind != "init":
                    header_start = i + 1
                i += 1
                continue
            # Skip the body, braces and all.
            depth, j = 0, i
            while j < n:
                if code[j] == "{":
                    depth += 1
                elif code[j] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            first = header_start + (len(header) - len(header.lstrip()))
            found.append((function_name(header), code.count("\n", 0, first) + 1, code.count("\n", 0, j) + 1))
            header_start = j + 1
            i = j + 1
            continue
        i += 1
    return found


def sources(root):
    for folder in FOLDERS:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, folder)):
            dirnames.sort()
            for f in sorted(filenames):
                if f.endswith(SUFFIXES):
                    yield os.path.join(dirpath, f)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", help="the source tree")
    ap.add_argument("--limit", type=int, default=LIMIT, help=f"lines a function may have (default {LIMIT})")
    ap.add_argument("--list", action="store_true", help="every function longer than half the limit, longest first")
    args = ap.parse_args()
    findings, seen, rows = [], set(), []
    for path in sources(args.root):
        rel = os.path.relpath(path, args.root)
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for name, first, last in functions(text):
            lines = last - first + 1
            rows.append((lines, rel, first, name))
            if lines <= args.limit:
                continue
            if (rel, name) in ALLOWED:
                seen.add((rel, name))
                continue
            findings.append(f"{rel}:{first}: {name} is {lines} lines (limit {args.limit}): name its steps")
    if args.list:
        for lines, rel, first, name in sorted(rows, reverse=True):
            if lines > args.limit // 2:
                print(f"{lines:5d} {rel}:{first}: {name}")
    for rel, name in sorted(set(ALLOWED) - seen):
        if not os.path.exists(os.path.join(args.root, rel)):
            findings.append(f"{rel}: allowed {name} but the file is gone: drop it from ALLOWED")
    for line in findings:
        print(line)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
