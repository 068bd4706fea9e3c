// dualpilot-model: look into and make model files (.dpm).
//   dualpilot-model info FILE                 hyper-parameters, features, tensors, size
//   dualpilot-model random -o FILE [...]      a model of chosen size with seeded random weights
//   dualpilot-model quantize IN -o OUT        int8 weights (one scale per row)
//   dualpilot-model check FILE POOL...        the cpu backend against the double-precision
//                                             reference on windows from the pools (exit 1 beyond
//                                             the tolerance)
// A random model exercises the policy path end to end (shadow mode, the
// benchmarks) before a trained one exists; it is not a policy.
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/ranges.h>

#include "common/cli.hpp"
#include "policy/model_check.hpp"
#include "policy/model_file.hpp"
#include "aqm/observe.hpp"
#include "experience/features.hpp"
#include "experience/pool_paths.hpp"

using namespace dualpilot;

namespace {

int check(const std::string &path, const std::vector<std::string> &pool_args, const policy::CheckOptions &opt)
{
	policy::Model m;
	if (std::string err = policy::read_model(path, m); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 1;
	}
	std::vector<std::string> paths;
	if (std::string err = experience::expand_pool_paths(pool_args, paths); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 1;
	}
	std::vector<experience::Pool> pools(paths.size());
	for (size_t i = 0; i < paths.size(); i++) {
		experience::PoolReadReport read;
		if (std::string err = experience::read_pool(paths[i], pools[i], &read); !err.empty()) {
			fmt::print(stderr, "error: {}\n", err);
			return 1;
		}
		for (const std::string &w : read.warnings(paths[i]))
			fmt::print(stderr, "warning: {}\n", w);
	}
	policy::CheckReport r;
	if (std::string err = policy::check_model(m, pools, paths, opt, r); !err.empty()) {
		fmt::print(stderr, "error: {}: {}\n", path, err);
		return 1;
	}
	const double n = static_cast<double>(r.windows);
	fmt::print("{}: {}; {} windows from {} pools ({} entries, {} episodes)\n", path,
		   r.int8 ? "int8 weights (the reference runs on them dequantised)" : "fp32 weights", r.windows, pools.size(), r.entries,
		   r.episodes);
	fmt::print("max |p_cpu - p_ref| {:.3g}{} (tolerance {:.3g})\n", r.max_diff,
		   r.max_diff_at.empty() ? "" : " at " + r.max_diff_at, opt.tolerance);
	fmt::print("most likely action, cpu backend vs reference: {} of {} agree ({:.2f} %)\n", r.argmax_agree,
		   r.windows, 100.0 * static_cast<double>(r.argmax_agree) / n);
	fmt::print("most likely action vs the logged action: {} of {} agree ({:.2f} %)\n", r.logged_agree, r.windows,
		   100.0 * static_cast<double>(r.logged_agree) / n);
	if (r.non_finite)
		fmt::print("{} windows with a probability that is not finite (damaged weights?)\n", r.non_finite);
	fmt::print("check: {}\n", r.passed ? "passed" : "FAILED");
	return r.passed ? 0 : 1;
}

// dualpilot-model random's choices.
struct RandomOptions {
	policy::ModelConfig c;
	uint64_t seed = 1;
	bool int8 = false;
	float bias_drop = 0, bias_mark = 0;
	bool per_feature = false;
	bool ring_time = false;
};

CLI::App *add_random(CLI::App &app, std::string &out, RandomOptions &o)
{
	using common::example;
	policy::ModelConfig &c = o.c;
	auto *random = app.add_subcommand("random", "write a model with seeded random weights (not a policy)");
	random->add_option("-o,--out", out, "model file to write")->required();
	random->add_option("--d-model", c.d_model, "model width")->capture_default_str();
	random->add_option("--layers", c.layers, "transformer blocks")->capture_default_str();
	random->add_option("--heads", c.heads, "attention heads")->capture_default_str();
	random->add_option("--window", c.window, "context window, steps")->capture_default_str();
	random->add_option("--embed", c.feature_embed, "per-feature embedding width")->capture_default_str();
	random->add_option("--mlp", c.mlp_hidden, "MLP hidden width")->capture_default_str();
	random->add_option("--actions", c.action_count, "actions (3: enqueue, drop, ECN mark)")->capture_default_str();
	random->add_option("--seed", o.seed, "weight generator seed")->capture_default_str();
	random->add_option("--bias-drop", o.bias_drop, "added to the head's drop logit")->capture_default_str();
	random->add_option("--bias-mark", o.bias_mark, "added to the head's mark logit")->capture_default_str();
	random->add_flag("--int8", o.int8, "int8 weights");
	random->add_flag("--per-feature", o.per_feature, "one token per state feature (the paper's layout)");
	random->add_flag("--ring-time", o.ring_time, "time embedding by ring slot (keys and values cached in one block)");
	random->footer(example({"dualpilot-model random -o random.dpm --d-model 16 --layers 1 --heads 2 --seed 7"}));
	return random;
}

CLI::App *add_check(CLI::App &app, std::string &in, std::vector<std::string> &pools, policy::CheckOptions &opt)
{
	auto *chk = app.add_subcommand("check", "the cpu backend against the double-precision reference on windows "
						 "from experience pools (exit 1 beyond the tolerance)");
	chk->add_option("file", in, "model file")->required();
	chk->add_option("pools,--pools", pools, "pool files, directories or glob patterns")->required();
	chk->add_option("--windows", opt.windows, "windows checked, evenly spaced over the pools' decisions")
		->capture_default_str()
		->check(CLI::Range(size_t{1}, size_t{100000000}));
	chk->add_option("--tolerance", opt.tolerance,
			"largest |p_cpu - p_ref| allowed (int8 models: against the reference on their dequantised weights)")
		->capture_default_str()
		->check(CLI::Range(0.0, 1.0));
	chk->footer(common::example({"dualpilot-model check student-int8.dpm runs/dualpi2/ --windows 500"}));
	return chk;
}

int info(const std::string &in)
{
	policy::Model m;
	if (std::string err = policy::read_model(in, m); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 1;
	}
	const auto &k = m.config;
	fmt::print("{}: transformer, d_model {}, {} layers, {} heads, window {}, mlp {}, feature embed {}, {} state "
		   "token(s) per step, head residual {}, time embedding by {}\n",
		   in, k.d_model, k.layers, k.heads, k.window, k.mlp_hidden, k.feature_embed, k.state_tokens(),
		   k.head_residual, k.time_embedding == policy::TimeEmbedding::ring_position ? "ring slot" : "window position");
	fmt::print("returns: target {} x rtg_scale {}; reward offset {} us; gamma {}\n", k.target_return, k.rtg_scale,
		   k.reward_offset_us, k.gamma);
	fmt::print("actions: {}\n", k.action_count);
	for (uint32_t f = 0; f < k.feature_count; f++)
		fmt::print("feature {}: {} (kernel {})\n", f, k.feature_names[f], k.kernels[f]);
	uint64_t bytes = 0;
	for (const auto &t : m.tensors)
		bytes += t.dtype == policy::DType::f32 ? t.elements() * 4 : t.elements() + 4 * t.shape[0];
	fmt::print("{} tensors, {} parameters, {} bytes of weights\n", m.tensors.size(), m.parameter_count(), bytes);
	return 0;
}

// A random model of o's shape over the router's features, its
// normalisation set to their typical magnitudes. An exit status: 0, or 2 for
// a shape check_config refuses.
int make_random(RandomOptions o, policy::Model &m)
{
	policy::ModelConfig &c = o.c;
	c.feature_count = experience::kFeatureCount;
	c.kernels.assign(c.feature_count, 1);
	c.feature_names.assign(experience::kFeatureNames.begin(), experience::kFeatureNames.end());
	c.target_return = 1;
	if (o.per_feature)
		c.state_layout = policy::StateLayout::per_feature;
	if (o.ring_time)
		c.time_embedding = policy::TimeEmbedding::ring_position;
	c.rtg_scale = 1000;
	if (std::string err = policy::check_config(c); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 2;
	}
	if (c.action_count != policy::kVerdictActions && (o.bias_drop != 0 || o.bias_mark != 0)) {
		fmt::print(stderr, "error: --bias-drop and --bias-mark are a verdict model's (--actions 3)\n");
		return 2;
	}
	m = policy::random_model(c, o.seed);
	// Typical magnitudes of the router's features, so they arrive near unit scale.
	const float scale[experience::kFeatureCount] = {1, 1000, 0.1f, 10000, 0.1f, 100000, 1000, 1000};
	for (uint32_t f = 0; f < c.feature_count; f++)
		m.find("norm.std")->values[f] = scale[f];
	if (c.action_count == policy::kVerdictActions) {
		m.find("head.b")->values[1] += o.bias_drop;
		m.find("head.b")->values[2] += o.bias_mark;
	}
	return 0;
}

} // namespace

int main(int argc, char **argv)
{
	using common::example;
	CLI::App app{"dualpilot-model: inspect and make dualpilot model files (.dpm)"};
	app.require_subcommand(1);
	app.footer(example({"dualpilot-model info configs/models/paper-student.dpm"}));
	std::string in, out;
	auto *info_cmd = app.add_subcommand("info", "print a model file's hyper-parameters, features and tensors");
	info_cmd->add_option("file", in, "model file")->required();
	info_cmd->footer(example({"dualpilot-model info configs/models/paper-student.dpm"}));
	RandomOptions ro;
	auto *random = add_random(app, out, ro);
	auto *quant = app.add_subcommand("quantize", "int8 weights, one scale per output row");
	quant->add_option("in", in, "model file")->required();
	quant->add_option("-o,--out", out, "model file to write")->required();
	quant->footer(example({"dualpilot-model quantize teacher.dpm -o teacher-int8.dpm"}));
	std::vector<std::string> check_pools;
	policy::CheckOptions check_opt;
	auto *chk = add_check(app, in, check_pools, check_opt);
	CLI11_PARSE(app, argc, argv);
	if (*chk)
		return check(in, check_pools, check_opt);
	if (*info_cmd)
		return info(in);
	policy::Model m;
	if (*random) {
		if (const int rc = make_random(ro, m); rc != 0)
			return rc;
	} else if (std::string err = policy::read_model(in, m); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 1;
	}
	const bool int8 = ro.int8 || *quant;
	if (int8)
		policy::quantize_int8(m);
	if (std::string err = policy::write_model(m, out); !err.empty()) {
		fmt::print(stderr, "error: {}\n", err);
		return 1;
	}
	fmt::print("{}: {} parameters{}\n", out, m.parameter_count(), int8 ? ", int8 weights" : "");
	return 0;
}
