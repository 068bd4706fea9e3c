// Configure-time probe (tests/meson.build): does clang++ link a libFuzzer
// target here? Some systems ship the fuzzer runtime as its own package.
#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *, size_t) { return 0; }
