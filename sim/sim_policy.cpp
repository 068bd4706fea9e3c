#include "sim/sim_policy.hpp"

#include "aqm/aqm.hpp"
#include "policy/cpu_backend.hpp"
#include "policy/model_file.hpp"

namespace dualpilot::sim {

namespace {

// A model file read and handed to load(model); a refusal names the file.
template <typename Load>
std::string load_file(const std::string &model_path, Load load)
{
	policy::Model m;
	if (std::string err = policy::read_model(model_path, m); !err.empty())
		return err;
	if (std::string err = load(m); !err.empty())
		return model_path + ": " + err;
	return {};
}

} // namespace

std::string SimPolicy::load(const std::string &model_path)
{
	return load_file(model_path, [this](const policy::Model &m) { return load(m); });
}

std::string SimPolicy::load(const policy::Model &m)
{
	std::vector<int> feature_of;
	if (std::string err = policy::state_feature_index(m.config, feature_of); !err.empty())
		return err;
	loop_.init({}, aqm::kQueueCount, std::make_unique<policy::CpuBackend>(m), std::move(feature_of), {});
	return {};
}

std::string SimTuner::load(const std::string &model_path, const policy::TuneConfig &tune)
{
	return load_file(model_path, [&](const policy::Model &m) { return load(m, tune); });
}

std::string SimTuner::load(const policy::Model &m, const policy::TuneConfig &tune)
{
	// A port for now; each run restarts the loop with the bottleneck's.
	aqm::DualPi2Params base;
	if (std::string err = aqm::dualpi2_finalize(base); !err.empty())
		return err;
	policy::TuneLoopConfig c;
	c.tune = tune;
	c.fall_back = false;
	return loop_.init(c, {{base, 0}}, std::make_unique<policy::CpuBackend>(m));
}

std::string SimModel::load(const policy::Model &m, const policy::TuneConfig &tune)
{
	is_tuner_ = policy::is_tuner_model(m.config);
	tune_ = tune;
	return is_tuner_ ? tuner_.load(m, tune) : pilot_.load(m);
}

std::string SimModel::load(const std::string &model_path, const policy::TuneConfig &tune)
{
	return load_file(model_path, [&](const policy::Model &m) { return load(m, tune); });
}

void SimModel::attach(RunOptions &opt, uint64_t decision_delay_ns)
{
	opt.decision_delay_ns = decision_delay_ns;
	if (is_tuner_) {
		opt.tuner = tuner_.loop();
		opt.tune = tune_;
		return;
	}
	opt.pilot = pilot_.loop();
	opt.inference_interval = policy::pilot_profile::kInferenceInterval;
	opt.override_ttl_ns = policy::pilot_profile::kOverrideTtlNs;
}

} // namespace dualpilot::sim
