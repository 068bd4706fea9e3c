// Pretrained checkpoints: safetensors files round-trip and convert every
// float dtype, every malformed file is refused with the defect named, and a
// GPT-2-layout checkpoint becomes the policy's backbone tensors (transposed
// to the model file's layout) or is refused when it does not fit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "policy/gpt2.hpp"
#include "policy/model.hpp"
#include "tests/gpt2_fixture.hpp"

namespace dualpilot::policy {
namespace {

std::string tmp(const std::string &name)
{
	return (std::filesystem::temp_directory_path() / ("dualpilot_test_st_" + name)).string();
}

// A file from a JSON header and raw data bytes.
std::string file_bytes(const std::string &header, const std::string &data)
{
	std::string out(8, '\0');
	const uint64_t len = header.size();
	std::memcpy(out.data(), &len, 8);
	return out + header + data;
}

std::string parse(const std::string &bytes, SafeTensors &st)
{
	return parse_safetensors(reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size(), "f", st);
}

TEST(SafeTensors, RoundTripKeepsNamesShapesValuesAndMetadata)
{
	SafeTensors st;
	st.metadata["format"] = "pt";
	st.tensors.push_back({"b", "F32", {2, 3}, {1, 2, 3, 4, 5, 6}});
	st.tensors.push_back({"a", "F32", {1}, {-7.5f}});
	st.tensors.push_back({"empty", "F32", {0, 4}, {}});
	const std::string path = tmp("roundtrip.safetensors");
	ASSERT_EQ(write_safetensors(st, path), "");
	SafeTensors back;
	ASSERT_EQ(read_safetensors(path, back), "");
	ASSERT_EQ(back.tensors.size(), 3u);
	EXPECT_EQ(back.metadata.at("format"), "pt");
	ASSERT_NE(back.find("b"), nullptr);
	EXPECT_EQ(back.find("b")->shape, (std::vector<uint64_t>{2, 3}));
	EXPECT_EQ(back.find("b")->values, (std::vector<float>{1, 2, 3, 4, 5, 6}));
	EXPECT_EQ(back.find("a")->values, (std::vector<float>{-7.5f}));
	EXPECT_EQ(back.find("empty")->elements(), 0u);
	std::remove(path.c_str());
}

TEST(SafeTensors, HalfBfloatAndDoubleAreConvertedToFloat)
{
	// F16 1.0 = 0x3c00, -2.0 = 0xc000, 2^-24 (smallest subnormal) = 0x0001;
	// BF16 1.5 = 0x3fc0; F64 0.25.
	const uint16_t f16[3] = {0x3c00, 0xc000, 0x0001};
	const uint16_t bf16[1] = {0x3fc0};
	const double f64[1] = {0.25};
	std::string data(reinterpret_cast<const char *>(f16), 6);
	data.append(reinterpret_cast<const char *>(bf16), 2);
	data.append(reinterpret_cast<const char *>(f64), 8);
	const std::string header = R"({"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},)"
				   R"("b":{"dtype":"BF16","shape":[1],"data_offsets":[6,8]},)"
				   R"("d":{"dtype":"F64","shape":[1,1],"data_offsets":[8,16]}})";
	SafeTensors st;
	ASSERT_EQ(parse(file_bytes(header, data), st), "");
	EXPECT_EQ(st.find("h")->values, (std::vector<float>{1.0f, -2.0f, 5.9604644775390625e-8f}));
	EXPECT_EQ(st.find("b")->values, (std::vector<float>{1.5f}));
	EXPECT_EQ(st.find("d")->values, (std::vector<float>{0.25f}));
}

TEST(SafeTensors, EveryMalformedFileIsRefusedWithItsDefect)
{
	const std::string ok = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
	const std::string eight(8, '\0');
	std::string huge(8, '\0');
	const uint64_t big = 200ull << 20;
	std::memcpy(huge.data(), &big, 8);
	struct Case {
		const char *name;
		std::string bytes;
		const char *message;
	} cases[] = {
		{"empty", "", "shorter than the 8-byte header length"},
		{"header past end", file_bytes(ok, eight).substr(0, 20), "runs past the end"},
		{"absurd header", huge + "{}", "past the 100 MB limit"},
		{"not json", file_bytes("{nope", eight), "header is not JSON"},
		{"not object", file_bytes("[1,2]", eight), "not a JSON object"},
		{"missing field", file_bytes(R"({"a":{"dtype":"F32","shape":[2]}})", eight), "expected an object with dtype"},
		{"dtype", file_bytes(R"({"a":{"dtype":"I8","shape":[8],"data_offsets":[0,8]}})", eight),
		 "dtype I8 is not supported"},
		{"negative dim", file_bytes(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight),
		 "non-negative integer"},
		{"size", file_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight),
		 "8 bytes for a F32 tensor of 3 elements (12 expected)"},
		{"outside", file_bytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", eight),
		 "fall outside the 8 data bytes"},
		{"overlap",
		 file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
			    eight),
		 "overlaps"},
		{"hole", file_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight), "belong to no tensor"},
		{"trailing", file_bytes(ok, eight + "xxxx"), "4 trailing data bytes"},
		{"absurd shape",
		 file_bytes(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}})", eight),
		 "absurdly large"},
	};
	for (const Case &c : cases) {
		SafeTensors st;
		const std::string err = parse(c.bytes, st);
		EXPECT_NE(err.find(c.message), std::string::npos) << c.name << ": " << err;
	}
	SafeTensors st;
	EXPECT_EQ(parse(file_bytes(ok, eight), st), "");
	EXPECT_NE(read_safetensors("/nonexistent/x.safetensors", st).find("cannot open"), std::string::npos);
}

TEST(Gpt2Backbone, LoadsBlocksTransposedIntoTheModelFileLayout)
{
	for (const char *prefix : {"", "transformer."}) {
		testing::TinyGpt2 g;
		g.prefix = prefix;
		const SafeTensors st = testing::tiny_gpt2(g);
		const std::string path = tmp("gpt2.safetensors");
		ASSERT_EQ(write_safetensors(st, path), "");
		Gpt2Backbone b;
		ASSERT_EQ(load_gpt2_backbone(path, 0, b), "") << prefix;
		EXPECT_EQ(b.d_model, 16u);
		EXPECT_EQ(b.layers, 2u);
		EXPECT_EQ(b.heads, 2u);
		EXPECT_EQ(b.mlp_hidden, 64u);
		EXPECT_EQ(b.positions, 32u);
		// Every block tensor the model file has for two layers, plus ln_f.
		ModelConfig c;
		c.d_model = 16;
		c.layers = 2;
		c.heads = 2;
		c.mlp_hidden = 64;
		uint64_t block_tensors = 0;
		for (const auto &[name, shape] : expected_tensors(c))
			if ((name[0] == 'h' && std::isdigit(static_cast<unsigned char>(name[1]))) || name.starts_with("ln_f")) {
				block_tensors++;
				bool found = false;
				for (const auto &[bn, values] : b.tensors)
					if (bn == name) {
						found = true;
						uint64_t n = 1;
						for (uint32_t s : shape)
							n *= s;
						EXPECT_EQ(values.size(), n) << name;
					}
				EXPECT_TRUE(found) << name;
			}
		EXPECT_EQ(b.tensors.size(), block_tensors);
		// c_attn [in=16][out=48] -> qkv.w [out][in]: element (out 5, in 3).
		const StTensor *c_attn = st.find(std::string(prefix) + "h.1.attn.c_attn.weight");
		const auto qkv = std::find_if(b.tensors.begin(), b.tensors.end(),
					      [](const auto &t) { return t.first == "h1.attn.qkv.w"; });
		ASSERT_NE(qkv, b.tensors.end());
		EXPECT_EQ(qkv->second[5 * 16 + 3], c_attn->values[3 * 48 + 5]);
		std::remove(path.c_str());
	}
}

TEST(Gpt2Backbone, AMismatchedCheckpointIsRefusedWithTheReason)
{
	// Its own folder: a config.json is written beside the checkpoint below.
	const std::filesystem::path dir = tmp("gpt2_" + std::to_string(::getpid()));
	std::filesystem::create_directories(dir);
	const std::string path = (dir / "model.safetensors").string();
	auto load = [&](const SafeTensors &st, uint32_t heads = 0) {
		EXPECT_EQ(write_safetensors(st, path), "");
		Gpt2Backbone b;
		return load_gpt2_backbone(path, heads, b);
	};
	testing::TinyGpt2 g;
	SafeTensors missing = testing::tiny_gpt2(g);
	std::erase_if(missing.tensors, [](const StTensor &t) { return t.name == "h.1.mlp.c_proj.bias"; });
	EXPECT_NE(load(missing).find("GPT-2 tensor h.1.mlp.c_proj.bias is missing"), std::string::npos);

	SafeTensors misshapen = testing::tiny_gpt2(g);
	for (StTensor &t : misshapen.tensors)
		if (t.name == "h.0.attn.c_proj.weight") {
			t.shape = {16, 8};
			t.values.resize(128);
		}
	EXPECT_NE(load(misshapen).find("h.0.attn.c_proj.weight has shape [16, 8], expected [16, 16]"), std::string::npos);

	SafeTensors other;
	other.tensors.push_back({"encoder.layer.0.weight", "F32", {2}, {1, 2}});
	EXPECT_NE(load(other).find("not a GPT-2 checkpoint"), std::string::npos);

	g.heads_in_metadata = false;
	const SafeTensors no_heads = testing::tiny_gpt2(g);
	EXPECT_NE(load(no_heads).find("does not give its head count"), std::string::npos);
	EXPECT_NE(load(no_heads, 3).find("3 heads do not divide the width n_embd = 16"), std::string::npos);
	EXPECT_EQ(load(no_heads, 4), "");
	// A config.json beside the checkpoint gives the head count.
	const std::string cfg = (dir / "config.json").string();
	std::ofstream(cfg) << R"({"n_head": 8, "n_embd": 16})";
	EXPECT_EQ(load(no_heads), "");
	std::remove(cfg.c_str());

	SafeTensors nan = testing::tiny_gpt2(testing::TinyGpt2{});
	nan.tensors[5].values[0] = std::nanf("");
	EXPECT_NE(load(nan).find("non-finite"), std::string::npos);
	std::filesystem::remove_all(dir);
}

} // namespace
} // namespace dualpilot::policy
