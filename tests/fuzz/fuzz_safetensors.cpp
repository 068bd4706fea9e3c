// libFuzzer target for the safetensors reader (pretrained checkpoints): any
// bytes at all must give either tensors whose sizes agree with their shapes
// or an error message, never a crash, an out-of-bounds read or an absurd
// allocation (ASan and UBSan watch).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "policy/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dualpilot::policy::SafeTensors st;
	const std::string err = dualpilot::policy::parse_safetensors(data, size, "fuzz", st);
	if (err.empty())
		for (const auto &t : st.tensors)
			if (t.values.size() != t.elements())
				std::abort(); // accepted, yet the values disagree with the shape
	return 0;
}
