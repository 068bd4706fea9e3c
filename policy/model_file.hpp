// The model file (.dpm): what training (policy/, issue 7's exporter) writes
// and the runtime backends (cpu, gpu) read. Little-endian throughout:
//
//   offset  size            field
//   0       char[8]         magic "DPMODEL\0"
//   8       u32             version (1)
//   12      u32             feature_count F
//   16      u32             feature_embed e
//   20      u32             d_model
//   24      u32             layers
//   28      u32             heads
//   32      u32             window w
//   36      u32             action_count K (2..128; 3: enqueue, drop, ECN mark)
//   40      u32             mlp_hidden
//   44      u32             backbone (0 = transformer)
//   48      u32             flags (bit 0: head_residual; bit 1: per-feature state tokens;
//                           bit 2: ring-position time embedding)
//   52      f32 x 4         target_return, rtg_scale, reward_offset_us, gamma
//   68      u32             tensor_count T
//   72      u32 x F         kernel size per feature
//   ..      char[32] x F    feature names, NUL-padded
//   ..      T x 80 bytes    tensor table: char[48] name (NUL-padded), u32 dtype
//                           (0 f32, 1 i8), u32 rank, u32 shape[4] (unused = 1),
//                           u64 offset (from the file start), then u64 bytes
//   ..                      tensor data, each at an offset that is a multiple of
//                           64: f32 values; or i8 values followed by an f32
//                           scale per row (2-D weights only)
//   end-8   u64             FNV-1a 64 of every byte before it
//
// The reader refuses, naming the defect: a wrong magic or version, a file too
// short for what it announces, a checksum mismatch, hyper-parameters out of
// range, a tensor table entry outside the file or overlapping another, and a
// tensor set or shape that disagrees with the hyper-parameters.
#pragma once

#include <string>
#include <string_view>

#include "policy/model.hpp"

namespace dualpilot::policy {

inline constexpr uint32_t kModelFileVersion = 1;
inline constexpr uint64_t kMaxModelFileBytes = 4ull << 30;

[[nodiscard]] std::string encode_model(const Model &m, std::string &bytes);
[[nodiscard]] std::string write_model(const Model &m, const std::string &path);

// origin names the file in error messages.
[[nodiscard]] std::string decode_model(std::string_view bytes, const std::string &origin, Model &out);
[[nodiscard]] std::string read_model(const std::string &path, Model &out);

} // namespace dualpilot::policy
