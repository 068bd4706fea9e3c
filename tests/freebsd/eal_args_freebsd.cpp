// The FreeBSD branch of common/eal_args.hpp, compiled for FreeBSD by
// tests/freebsd_compile.sh (never built into anything).
#include "common/eal_args.hpp"

#if !defined(__FreeBSD__)
#error "tests/freebsd_compile.sh compiles this for x86_64-unknown-freebsd14 only"
#endif

std::string freebsd_private_files_arg() { return dualpilot::common::eal_private_files_arg("dualpilot_bed_1"); }
