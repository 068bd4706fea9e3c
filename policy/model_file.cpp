#include "policy/model_file.hpp"

#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <limits>

#include "common/checksum.hpp"

namespace dualpilot::policy {

namespace {

constexpr char kMagic[8] = {'D', 'P', 'M', 'O', 'D', 'E', 'L', '\0'};
constexpr size_t kFixedHeader = 72;
constexpr size_t kNameLen = 48;
constexpr size_t kEntryBytes = kNameLen + 4 + 4 + 16 + 8 + 8;
constexpr uint64_t kAlign = 64;

template <class T> void put(std::string &b, T v)
{
	char raw[sizeof(T)];
	std::memcpy(raw, &v, sizeof(T));
	b.append(raw, sizeof(T));
}

template <class T> void put_at(std::string &b, size_t at, T v) { std::memcpy(b.data() + at, &v, sizeof(T)); }

void put_name(std::string &b, const std::string &name, size_t len)
{
	std::string padded = name.substr(0, len - 1);
	padded.resize(len, '\0');
	b += padded;
}

uint64_t tensor_bytes(const Tensor &t)
{
	return t.dtype == DType::f32 ? t.elements() * 4 : t.elements() + 4ull * t.shape[0];
}

// A bounds-checked little-endian cursor over the file.
struct Reader {
	std::string_view b;
	size_t at = 0;
	bool ok = true;
	template <class T> T get()
	{
		T v{};
		if (at + sizeof(T) > b.size()) {
			ok = false;
			return v;
		}
		std::memcpy(&v, b.data() + at, sizeof(T));
		at += sizeof(T);
		return v;
	}
	std::string name(size_t len)
	{
		if (at + len > b.size()) {
			ok = false;
			return {};
		}
		std::string s(b.substr(at, len));
		at += len;
		s.resize(std::strlen(s.c_str()));
		return s;
	}
};

// The fixed header's fields after the version, in file order, into c; what
// the config does not keep is returned for the caller to check.
struct HeaderRest {
	uint32_t flags, tensor_count;
};
HeaderRest read_config(Reader &r, ModelConfig &c)
{
	c.feature_count = r.get<uint32_t>();
	c.feature_embed = r.get<uint32_t>();
	c.d_model = r.get<uint32_t>();
	c.layers = r.get<uint32_t>();
	c.heads = r.get<uint32_t>();
	c.window = r.get<uint32_t>();
	c.action_count = r.get<uint32_t>();
	c.mlp_hidden = r.get<uint32_t>();
	c.backbone = static_cast<Backbone>(r.get<uint32_t>());
	const auto flags = r.get<uint32_t>();
	c.head_residual = (flags & 1) != 0;
	c.state_layout = (flags & 2) != 0 ? StateLayout::per_feature : StateLayout::concat;
	c.time_embedding = (flags & 4) != 0 ? TimeEmbedding::ring_position : TimeEmbedding::window_position;
	c.target_return = r.get<float>();
	c.rtg_scale = r.get<float>();
	c.reward_offset_us = r.get<float>();
	c.gamma = r.get<float>();
	const auto tensor_count = r.get<uint32_t>();
	return HeaderRest{flags, tensor_count};
}

// A tensor's dtype, rank and shape from its table entry, checked: every
// dimension and the whole within sane bounds, int8 only for 2-D weights.
// Sets t's dtype and shape and the element count. Error text or empty.
std::string check_shape(uint32_t i, uint32_t dtype, uint32_t rank, const uint32_t (&shape)[4], Tensor &t,
			uint64_t &elements)
{
	if (dtype > 1 || rank == 0 || rank > 4)
		return fmt::format("tensor {} ('{}'): bad dtype {} or rank {}", i, t.name, dtype, rank);
	t.dtype = static_cast<DType>(dtype);
	t.shape.assign(shape, shape + rank);
	elements = 1;
	for (uint32_t s : t.shape) {
		if (s == 0 || s > (1u << 24))
			return fmt::format("tensor '{}': absurd dimension {}", t.name, s);
		elements *= s;
		if (elements > (1ull << 32))
			return fmt::format("tensor '{}': absurd size", t.name);
	}
	if (t.dtype == DType::i8 && rank != 2)
		return fmt::format("tensor '{}': int8 tensors must be 2-D weights", t.name);
	return {};
}

// Tensor i: its entry in the table (at r), then its data, which must lie in
// the file's data (before data_end) after the tensors read so far (which end
// at last_end). Error text or empty.
std::string read_tensor(std::string_view b, Reader &r, uint32_t i, uint64_t data_end, uint64_t &last_end, Tensor &t)
{
	t.name = r.name(kNameLen);
	const auto dtype = r.get<uint32_t>();
	const auto rank = r.get<uint32_t>();
	uint32_t shape[4];
	for (uint32_t &s : shape)
		s = r.get<uint32_t>();
	const auto offset = r.get<uint64_t>();
	const auto bytes = r.get<uint64_t>();
	uint64_t elements = 0;
	if (std::string err = check_shape(i, dtype, rank, shape, t, elements); !err.empty())
		return err;
	const uint64_t want = t.dtype == DType::f32 ? elements * 4 : elements + 4ull * t.shape[0];
	if (bytes != want)
		return fmt::format("tensor '{}': {} bytes recorded, its shape needs {}", t.name, bytes, want);
	if (offset < last_end || offset > data_end || bytes > data_end - offset)
		return fmt::format("tensor '{}': data at {}..{} is outside the file's data or overlaps another tensor",
				   t.name, offset, offset + bytes);
	last_end = offset + bytes;
	const char *p = b.data() + offset;
	if (t.dtype == DType::f32) {
		t.values.resize(elements);
		std::memcpy(t.values.data(), p, bytes);
	} else {
		t.q.resize(elements);
		std::memcpy(t.q.data(), p, elements);
		t.scales.resize(t.shape[0]);
		std::memcpy(t.scales.data(), p + elements, 4ull * t.shape[0]);
	}
	return {};
}

} // namespace

std::string encode_model(const Model &m, std::string &b)
{
	if (std::string err = check_config(m.config); !err.empty())
		return err;
	if (std::string err = check_tensors(m); !err.empty())
		return err;
	const ModelConfig &c = m.config;
	b.clear();
	b.append(kMagic, 8);
	for (uint32_t v : {kModelFileVersion, c.feature_count, c.feature_embed, c.d_model, c.layers, c.heads, c.window,
			   c.action_count, c.mlp_hidden, static_cast<uint32_t>(c.backbone),
			   (c.head_residual ? 1u : 0u) | (c.state_layout == StateLayout::per_feature ? 2u : 0u) |
				   (c.time_embedding == TimeEmbedding::ring_position ? 4u : 0u)})
		put(b, v);
	for (float v : {c.target_return, c.rtg_scale, c.reward_offset_us, c.gamma})
		put(b, v);
	put(b, static_cast<uint32_t>(m.tensors.size()));
	for (uint32_t k : c.kernels)
		put(b, k);
	for (const std::string &n : c.feature_names)
		put_name(b, n, kFeatureNameLen);
	const size_t table = b.size();
	b.resize(table + m.tensors.size() * kEntryBytes, '\0');
	for (size_t i = 0; i < m.tensors.size(); i++) {
		const Tensor &t = m.tensors[i];
		b.resize((b.size() + kAlign - 1) / kAlign * kAlign, '\0');
		const uint64_t offset = b.size();
		if (t.dtype == DType::f32) {
			b.append(reinterpret_cast<const char *>(t.values.data()), t.values.size() * 4);
		} else {
			b.append(reinterpret_cast<const char *>(t.q.data()), t.q.size());
			b.append(reinterpret_cast<const char *>(t.scales.data()), t.scales.size() * 4);
		}
		std::string entry;
		put_name(entry, t.name, kNameLen);
		put(entry, static_cast<uint32_t>(t.dtype));
		put(entry, static_cast<uint32_t>(t.shape.size()));
		for (size_t s = 0; s < 4; s++)
			put(entry, s < t.shape.size() ? t.shape[s] : 1u);
		put(entry, offset);
		put(entry, tensor_bytes(t));
		b.replace(table + i * kEntryBytes, kEntryBytes, entry);
	}
	put(b, common::fnv1a64(b.data(), b.size()));
	return {};
}

std::string write_model(const Model &m, const std::string &path)
{
	std::string bytes;
	if (std::string err = encode_model(m, bytes); !err.empty())
		return path + ": " + err;
	std::ofstream out(path, std::ios::binary | std::ios::trunc);
	if (!out)
		return path + ": cannot open for writing";
	out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
	if (!out.flush())
		return path + ": write failed";
	return {};
}

std::string decode_model(std::string_view b, const std::string &origin, Model &out)
{
	auto fail = [&](const std::string &what) { return origin + ": " + what; };
	if (b.size() < 8 || std::memcmp(b.data(), kMagic, 8) != 0)
		return fail("not a dualpilot model file (wrong magic)");
	if (b.size() < kFixedHeader + 8)
		return fail(fmt::format("truncated: {} bytes, shorter than the header", b.size()));
	Reader r{b, 8};
	const auto version = r.get<uint32_t>();
	if (version != kModelFileVersion)
		return fail(fmt::format("version {} (this build reads version {})", version, kModelFileVersion));
	// The checksum first: a damaged file is reported as damaged, not by
	// whatever field the damage landed in.
	uint64_t stored = 0;
	std::memcpy(&stored, b.data() + b.size() - 8, 8);
	if (common::fnv1a64(b.data(), b.size() - 8) != stored)
		return fail("checksum mismatch: the file is damaged or truncated");
	Model m;
	ModelConfig &c = m.config;
	// action_count is checked with the other hyper-parameters (check_config).
	const auto [flags, tensor_count] = read_config(r, c);
	if (flags > 7)
		return fail(fmt::format("unknown flags 0x{:x}", flags));
	if (c.feature_count == 0 || c.feature_count > kMaxFeatures)
		return fail(fmt::format("feature_count = {} is outside 1..{}", c.feature_count, kMaxFeatures));
	const size_t data_end = b.size() - 8;
	if (tensor_count > 100000 || r.at + c.feature_count * (4 + kFeatureNameLen) + uint64_t{tensor_count} * kEntryBytes > data_end)
		return fail(fmt::format("truncated: the header announces {} features and {} tensors", c.feature_count,
					tensor_count));
	for (uint32_t f = 0; f < c.feature_count; f++)
		c.kernels.push_back(r.get<uint32_t>());
	for (uint32_t f = 0; f < c.feature_count; f++)
		c.feature_names.push_back(r.name(kFeatureNameLen));
	if (std::string err = check_config(c); !err.empty())
		return fail(err);
	const uint64_t table_end = r.at + uint64_t{tensor_count} * kEntryBytes;
	uint64_t last_end = table_end;
	for (uint32_t i = 0; i < tensor_count && r.ok; i++) {
		Tensor t;
		if (std::string err = read_tensor(b, r, i, data_end, last_end, t); !err.empty())
			return fail(err);
		m.tensors.push_back(std::move(t));
	}
	if (!r.ok)
		return fail("truncated tensor table");
	if (std::string err = check_tensors(m); !err.empty())
		return fail(err);
	out = std::move(m);
	return {};
}

std::string read_model(const std::string &path, Model &out)
{
	std::ifstream in(path, std::ios::binary | std::ios::ate);
	if (!in)
		return path + ": cannot open";
	const std::streamsize size = in.tellg();
	if (size < 0 || static_cast<uint64_t>(size) > kMaxModelFileBytes)
		return fmt::format("{}: {} bytes, above the {} byte limit for a model file", path, size, kMaxModelFileBytes);
	std::string bytes(static_cast<size_t>(size), '\0');
	in.seekg(0);
	if (!in.read(bytes.data(), size))
		return path + ": read failed";
	return decode_model(bytes, path, out);
}

} // namespace dualpilot::policy
