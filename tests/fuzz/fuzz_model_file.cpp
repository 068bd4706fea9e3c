// libFuzzer target for the model file reader: any bytes at all must give
// either a model that passes every check or an error message, never a crash,
// an out-of-bounds read or an absurd allocation (ASan and UBSan watch).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "common/checksum.hpp"

#include "policy/forward_cpu.hpp"
#include "policy/model_file.hpp"

namespace {

void try_bytes(std::string_view bytes)
{
	dualpilot::policy::Model m;
	const std::string err = dualpilot::policy::decode_model(bytes, "fuzz", m);
	if (err.empty()) {
		// What the reader accepts, the backend can run.
		dualpilot::policy::CpuForward fwd(m);
		const auto &c = fwd.config();
		std::vector<float> returns(c.window, 1.0f), states(size_t{c.window} * c.feature_count, 0.5f);
		std::vector<uint8_t> actions(c.window, 0);
		const dualpilot::policy::Window w{c.window, returns.data(), states.data(), actions.data()};
		dualpilot::policy::Probs p;
		fwd.forward(&w, 1, &p);
	}
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const std::string_view raw(reinterpret_cast<const char *>(data), size);
	try_bytes(raw);
	// Most mutations break the checksum and stop at it; with the checksum made
	// right again, the same bytes reach every structural check behind it.
	if (size >= 16) {
		std::string fixed(raw);
		const uint64_t h = dualpilot::common::fnv1a64(fixed.data(), fixed.size() - 8);
		std::memcpy(fixed.data() + fixed.size() - 8, &h, 8);
		try_bytes(fixed);
	}
	return 0;
}
