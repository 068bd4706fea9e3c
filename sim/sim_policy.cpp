#include "sim/sim_policy.hpp"

#include "aqm/aqm.hpp"
#include "policy/cpu_backend.hpp"
#include "policy/model_file.hpp"

namespace dualpilot::sim {

std::string SimPolicy::load(const std::string &model_path)
{
	policy::Model m;
	if (std::string err = policy::read_model(model_path, m); !err.empty())
		return err;
	if (std::string err = load(m); !err.empty())
		return model_path + ": " + err;
	return {};
}

std::string SimPolicy::load(const policy::Model &m)
{
	std::vector<int> feature_of;
	if (std::string err = policy::state_feature_index(m.config, feature_of); !err.empty())
		return err;
	loop_.init({}, aqm::kQueueCount, std::make_unique<policy::CpuBackend>(m), std::move(feature_of), {});
	return {};
}

} // namespace dualpilot::sim
