// The command line every dualpilot tool keeps (dualpilot-router, -sim,
// -pool, -score, -baselines, -finetune, -model, -train, -prague,
// -trafficgen), so that one tool's habits hold for the next:
//
//   - what a command reads is positional:   dualpilot-pool info POOL...
//   - what it writes is -o/--out, a file or, where it writes several, a
//     folder:                                dualpilot-pool convert IN -o OUT
//   - settings, and the files that only set a run up (a router config, a
//     scenario, an objective, a model run beside the AQM), are named options;
//   - every --help ends with an example (CLI11's footer, see example());
//   - errors go to stderr as "error: WHAT", each part of WHAT said once
//     (the file and line, then the AQM or key, then what was wrong);
//   - progress is redrawn in place with '\r' only on a terminal; into a file
//     or a pipe it is plain lines, or nothing.
//
// tests/cli_conventions.py holds the built tools to it.
#pragma once

#include <string>

#include <unistd.h>

namespace dualpilot::common {

// The --help footer: "Example:" and the command lines, each indented.
inline std::string example(std::initializer_list<const char *> lines)
{
	std::string text = "Example:";
	for (const char *l : lines)
		text += std::string("\n  ") + l;
	return text;
}

// Whether stderr is a terminal: only then is progress redrawn with '\r'.
inline bool stderr_is_terminal()
{
	return isatty(STDERR_FILENO) != 0;
}

} // namespace dualpilot::common
