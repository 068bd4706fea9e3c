// safetensors files (the layout Hugging Face checkpoints ship in): an
// 8-byte little-endian header length N, N bytes of JSON naming each tensor's
// dtype, shape and [begin, end) byte range in the data that follows, then
// the data. Read here to take a pretrained backbone's weights (policy/gpt2);
// nothing is downloaded, the user brings the file.
//
// The reader refuses, naming the defect: a header length past the file or
// past 100 MB, JSON that does not parse or is not an object of tensor
// entries, an unknown dtype, a shape whose byte count disagrees with its
// range, ranges outside the data, overlapping or leaving holes (the format
// requires the data to be indexed exactly). F32, F64, F16 and BF16 tensors
// are converted to float.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace dualpilot::policy {

struct StTensor {
	std::string name;
	std::string dtype;            // as stored: "F32", "F16", "BF16", "F64"
	std::vector<uint64_t> shape;
	std::vector<float> values;    // converted to float, row-major

	uint64_t elements() const
	{
		uint64_t n = 1;
		for (uint64_t s : shape)
			n *= s;
		return n;
	}
};

struct SafeTensors {
	std::vector<StTensor> tensors;          // in data order
	std::map<std::string, std::string> metadata; // "__metadata__", string values only

	const StTensor *find(const std::string &name) const;
};

// Parses a whole file's bytes; `what` names it in messages. Error or empty.
[[nodiscard]] std::string parse_safetensors(const uint8_t *data, size_t size, const std::string &what,
					    SafeTensors &out);
[[nodiscard]] std::string read_safetensors(const std::string &path, SafeTensors &out);
// Writes every tensor as F32 (dtype is ignored), in the order given.
[[nodiscard]] std::string write_safetensors(const SafeTensors &st, const std::string &path);

} // namespace dualpilot::policy
