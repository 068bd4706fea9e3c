#!/usr/bin/env python3
"""The modules' layering, read from their includes and build files.

Each module may include itself and the modules below it, never one above:

  common  <  aqm  <  experience  <  policy (and policy/training)  <  sim, gpu  <  dataplane

sim/ and gpu/ sit side by side (neither includes the other); dataplane/ is
over gpu/ and must not reach sim/: the router links no simulator code, so
dataplane/meson.build names no sim dependency and policy/ compiles no file
of sim/. perf/ and tests/ stand over everything and are not checked.

Usage: layering.py SOURCE_ROOT   (exit 1 naming each include that runs upward)
Example: python3 tests/layering.py .
"""
import pathlib
import re
import sys

ALLOWED = {
    'common': {'common'},
    'aqm': {'aqm', 'common'},
    'experience': {'experience', 'aqm', 'common'},
    'policy': {'policy', 'experience', 'aqm', 'common'},
    'sim': {'sim', 'policy', 'experience', 'aqm', 'common'},
    'gpu': {'gpu', 'policy', 'experience', 'aqm', 'common'},
    'dataplane': {'dataplane', 'gpu', 'policy', 'experience', 'aqm', 'common'},
}
# Includes that run upward on purpose, each with why.
EXCEPTIONS = {
    # The checked-TOML reader is header-only and reads what every config of
    # the project holds: AQM tables and units (aqm/units.hpp parses times,
    # rates and sizes). common/ is below aqm/ for everything else.
    ('common/toml_reader.hpp', 'aqm'),
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/')
# Build files that must not pull a higher module's code in.
BUILD_RULES = [
    ('dataplane/meson.build', re.compile(r'\bsim_dep\b|\.\./sim/'), 'the router links no simulator code'),
    ('policy/meson.build', re.compile(r'\bsim_dep\b|\.\./sim/'), 'policy/ compiles no simulator file'),
    ('policy/training/meson.build', re.compile(r'\bsim_dep\b|\.\./sim/'), 'training reads pools, not the simulator'),
    ('experience/meson.build', re.compile(r'\b(sim|policy|dataplane)_dep\b'), 'experience/ stands on aqm/ only'),
]


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1] in ('-h', '--help'):
        print(__doc__)
        return 0 if len(sys.argv) == 2 else 2
    root = pathlib.Path(sys.argv[1])
    faults = []
    for module, allowed in ALLOWED.items():
        for path in sorted((root / module).rglob('*')):
            if path.suffix not in ('.hpp', '.cpp', '.h', '.cu', '.cuh'):
                continue
            for n, line in enumerate(path.read_text(errors='replace').splitlines(), 1):
                m = INCLUDE.match(line)
                rel = str(path.relative_to(root))
                if m and m.group(1) in ALLOWED and m.group(1) not in allowed and (rel, m.group(1)) not in EXCEPTIONS:
                    faults.append(f'{rel}:{n}: {module}/ includes {m.group(1)}/, a module above it')
    for rel, pattern, why in BUILD_RULES:
        path = root / rel
        if not path.exists():
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split('#', 1)[0]
            if pattern.search(code):
                faults.append(f'{rel}:{n}: {why}: {line.strip()}')
    for f in faults:
        print(f)
    print(f'layering: {len(faults)} upward include(s) or link(s)' if faults else 'layering: every include runs downward')
    return 1 if faults else 0


if __name__ == '__main__':
    sys.exit(main())
