#include "policy/safetensors.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <limits>

namespace dualpilot::policy {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20; // as the format's reference reader
constexpr uint64_t kMaxTensorElements = 1ull << 34;

size_t dtype_bytes(const std::string &dtype)
{
	if (dtype == "F32")
		return 4;
	if (dtype == "F64")
		return 8;
	if (dtype == "F16" || dtype == "BF16")
		return 2;
	return 0;
}

float half_to_float(uint16_t h)
{
	const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
	const uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
	if (exp == 0) { // zero or subnormal: mant * 2^-24
		const float v = static_cast<float>(mant) * 5.9604644775390625e-8f;
		return sign ? -v : v;
	}
	if (exp == 31) // infinity or NaN
		return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
	return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

void convert(const uint8_t *src, const std::string &dtype, uint64_t n, std::vector<float> &out)
{
	out.resize(n);
	for (uint64_t i = 0; i < n; i++) {
		if (dtype == "F32") {
			std::memcpy(&out[i], src + 4 * i, 4);
		} else if (dtype == "F64") {
			double v;
			std::memcpy(&v, src + 8 * i, 8);
			out[i] = static_cast<float>(v);
		} else {
			uint16_t h;
			std::memcpy(&h, src + 2 * i, 2);
			out[i] = dtype == "BF16" ? std::bit_cast<float>(static_cast<uint32_t>(h) << 16) : half_to_float(h);
		}
	}
}

} // namespace

const StTensor *SafeTensors::find(const std::string &name) const
{
	for (const StTensor &t : tensors)
		if (t.name == name)
			return &t;
	return nullptr;
}

namespace {

// Where a tensor's bytes lie in the data that follows the header.
struct Range {
	uint64_t begin, end;
	size_t index;
};

// One entry of the header: its dtype and shape, and where its bytes lie in
// the body_len bytes of data. Error text (without the tensor's name) or empty.
std::string read_entry(const nlohmann::json &entry, uint64_t body_len, StTensor &t, uint64_t &begin, uint64_t &end)
{
	if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets"))
		return "expected an object with dtype, shape and data_offsets";
	const auto &dtype = entry["dtype"], &shape = entry["shape"], &offsets = entry["data_offsets"];
	if (!dtype.is_string())
		return "dtype is not a string";
	t.dtype = dtype.get<std::string>();
	const size_t width = dtype_bytes(t.dtype);
	if (width == 0)
		return fmt::format("dtype {} is not supported (F32, F64, F16, BF16)", t.dtype);
	if (!shape.is_array())
		return "shape is not an array";
	uint64_t n = 1;
	for (const auto &dim : shape) {
		if (!dim.is_number_unsigned())
			return "shape holds something other than a non-negative integer";
		const uint64_t v = dim.get<uint64_t>();
		if (v != 0 && n > kMaxTensorElements / v)
			return "shape is absurdly large";
		n *= v;
		t.shape.push_back(v);
	}
	if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
	    !offsets[1].is_number_unsigned())
		return "data_offsets is not a pair of non-negative integers";
	begin = offsets[0].get<uint64_t>();
	end = offsets[1].get<uint64_t>();
	if (begin > end || end > body_len)
		return fmt::format("data_offsets [{}, {}] fall outside the {} data bytes", begin, end, body_len);
	if (end - begin != n * width)
		return fmt::format("{} bytes for a {} tensor of {} elements ({} expected)", end - begin, t.dtype, n, n * width);
	return {};
}

// The tensors in the order of their data, each one's values converted to
// f32: the data must be covered exactly, without overlaps or holes. Error
// text or empty.
std::string take_data(const uint8_t *body, uint64_t body_len, std::vector<Range> ranges, SafeTensors &st)
{
	std::sort(ranges.begin(), ranges.end(), [](const Range &a, const Range &b) {
		return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
	});
	uint64_t covered = 0;
	std::vector<StTensor> ordered;
	for (const Range &r : ranges) {
		StTensor &t = st.tensors[r.index];
		if (r.begin < covered)
			return fmt::format("tensor '{}' overlaps the tensor before it in the data", t.name);
		if (r.begin > covered)
			return fmt::format("data bytes {}..{} belong to no tensor (a hole before '{}')", covered, r.begin, t.name);
		convert(body + r.begin, t.dtype, t.elements(), t.values);
		covered = r.end;
		ordered.push_back(std::move(t));
	}
	if (covered != body_len)
		return fmt::format("{} trailing data bytes belong to no tensor", body_len - covered);
	st.tensors = std::move(ordered);
	return {};
}

} // namespace

std::string parse_safetensors(const uint8_t *data, size_t size, const std::string &what, SafeTensors &out)
{
	auto fail = [&](const std::string &msg) { return what + ": " + msg; };
	if (size < 8)
		return fail("truncated: shorter than the 8-byte header length");
	uint64_t header_len = 0;
	std::memcpy(&header_len, data, 8);
	if (header_len > kMaxHeaderBytes)
		return fail(fmt::format("header length {} is past the 100 MB limit: not a safetensors file", header_len));
	if (header_len > size - 8)
		return fail(fmt::format("header length {} runs past the end of the file ({} bytes): truncated", header_len,
					size));
	nlohmann::json header;
	try {
		header = nlohmann::json::parse(data + 8, data + 8 + header_len);
	} catch (const nlohmann::json::exception &e) {
		return fail(std::string("header is not JSON: ") + e.what());
	}
	if (!header.is_object())
		return fail("header is not a JSON object");
	const uint8_t *body = data + 8 + header_len;
	const uint64_t body_len = size - 8 - header_len;
	SafeTensors st;
	std::vector<Range> ranges;
	for (const auto &item : header.items()) {
		const std::string name = item.key();
		const nlohmann::json &entry = item.value();
		if (name == "__metadata__") {
			if (!entry.is_object())
				return fail("__metadata__ is not an object");
			for (const auto &[k, v] : entry.items())
				if (v.is_string())
					st.metadata[k] = v.get<std::string>();
			continue;
		}
		StTensor t;
		t.name = name;
		uint64_t begin = 0, end = 0;
		if (std::string err = read_entry(entry, body_len, t, begin, end); !err.empty())
			return fail(fmt::format("tensor '{}': {}", name, err));
		ranges.push_back({begin, end, st.tensors.size()});
		st.tensors.push_back(std::move(t));
	}
	if (std::string err = take_data(body, body_len, std::move(ranges), st); !err.empty())
		return fail(err);
	out = std::move(st);
	return {};
}

std::string read_safetensors(const std::string &path, SafeTensors &out)
{
	std::ifstream in(path, std::ios::binary);
	if (!in)
		return path + ": cannot open";
	const std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(in), {}};
	return parse_safetensors(bytes.data(), bytes.size(), path, out);
}

std::string write_safetensors(const SafeTensors &st, const std::string &path)
{
	nlohmann::json header = nlohmann::json::object();
	if (!st.metadata.empty())
		header["__metadata__"] = st.metadata;
	uint64_t offset = 0;
	for (const StTensor &t : st.tensors) {
		if (t.values.size() != t.elements())
			return fmt::format("{}: tensor '{}' has {} values for its shape of {} elements", path, t.name,
					   t.values.size(), t.elements());
		const uint64_t bytes = t.values.size() * 4;
		header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
		offset += bytes;
	}
	std::string text = header.dump();
	text.resize((text.size() + 7) / 8 * 8, ' '); // the data starts 8-byte aligned
	const uint64_t len = text.size();
	std::ofstream out(path, std::ios::binary | std::ios::trunc);
	out.write(reinterpret_cast<const char *>(&len), 8);
	out.write(text.data(), static_cast<std::streamsize>(text.size()));
	for (const StTensor &t : st.tensors)
		out.write(reinterpret_cast<const char *>(t.values.data()), static_cast<std::streamsize>(t.values.size() * 4));
	if (!out)
		return path + ": cannot write";
	return {};
}

} // namespace dualpilot::policy
