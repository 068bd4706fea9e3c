// A pilot whose decisions a test writes, run by the real pilot loop
// (policy/pilot_loop.hpp): a backend that shows a function the newest state
// of each queue's window (the pools' feature order) and hands back the
// probabilities it gives (enqueue, drop, mark), or non-finite ones, which the
// loop counts and never publishes, when the function says false. And a
// tuner whose choices a test writes, for the tuner's loop.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <vector>

#include "aqm/aqm.hpp"
#include "experience/features.hpp"
#include "experience/tune_state.hpp"
#include "policy/backend.hpp"
#include "policy/pilot_loop.hpp"

namespace dualpilot::testkit {

using PilotScript =
	std::function<bool(const float *state, uint32_t queue, std::array<float, policy::kVerdictActions> &probs)>;

class ScriptedBackend final : public policy::Backend {
public:
	explicit ScriptedBackend(PilotScript script) : script_(std::move(script))
	{
		config_.window = 1;
		config_.feature_count = experience::kFeatureCount;
		config_.feature_names.assign(experience::kFeatureNames.begin(), experience::kFeatureNames.end());
	}
	const char *name() const override { return "scripted"; }
	const policy::ModelConfig &config() const override { return config_; }
	bool submit(const policy::Window *windows, size_t n) override
	{
		out_.resize(n);
		for (size_t i = 0; i < n; i++) {
			const policy::Window &w = windows[i];
			const float *newest = w.states + size_t{w.steps - 1} * experience::kFeatureCount;
			// The script is handed what this batch position held last, as it always was.
			std::array<float, policy::kVerdictActions> probs{};
			std::copy_n(out_[i].p.begin(), probs.size(), probs.begin());
			if (script_(newest, w.queue, probs))
				std::copy(probs.begin(), probs.end(), out_[i].p.begin());
			else
				out_[i].p.fill(std::numeric_limits<float>::quiet_NaN());
		}
		return true;
	}
	bool collect(policy::Probs *out) override
	{
		std::copy(out_.begin(), out_.end(), out);
		return true;
	}

private:
	PilotScript script_;
	policy::ModelConfig config_;
	std::vector<policy::Probs> out_;
};

// A loop over the simulator's two queues (or `queues`) running the script.
inline std::unique_ptr<policy::PilotLoop> scripted_pilot(PilotScript script, size_t queues = aqm::kQueueCount)
{
	auto loop = std::make_unique<policy::PilotLoop>();
	std::vector<int> identity(experience::kFeatureCount);
	for (int f = 0; f < experience::kFeatureCount; f++)
		identity[static_cast<size_t>(f)] = f;
	loop->init({}, queues, std::make_unique<ScriptedBackend>(std::move(script)), identity, {});
	return loop;
}

// A tuner whose choice a test writes (policy/tune_loop.hpp): shown the
// newest features of a port's window, the script returns an action of the
// table, or -1 for a non-finite output, which the loop counts and never
// publishes.
using TuneScript = std::function<int(const float *state)>;

// What a scripted tuner says it is: a window of one step of the tuner's
// features, one output per setting of the table.
inline policy::ModelConfig scripted_tuner_config(size_t actions)
{
	policy::ModelConfig c;
	c.window = 1;
	c.feature_count = experience::kTuneFeatureCount;
	c.feature_names.assign(experience::kTuneFeatureNames.begin(), experience::kTuneFeatureNames.end());
	c.action_count = static_cast<uint32_t>(actions);
	return c;
}

class ScriptedTuner final : public policy::Backend {
public:
	ScriptedTuner(TuneScript script, size_t actions)
		: script_(std::move(script)), config_(scripted_tuner_config(actions))
	{
	}
	const char *name() const override { return "scripted"; }
	const policy::ModelConfig &config() const override { return config_; }
	bool submit(const policy::Window *w, size_t) override
	{
		const int a = script_(w->states + size_t{w->steps - 1} * experience::kTuneFeatureCount);
		out_ = {};
		if (a < 0)
			out_.p.fill(std::numeric_limits<float>::quiet_NaN());
		else
			out_.p[static_cast<size_t>(a)] = 1;
		return true;
	}
	bool collect(policy::Probs *out) override
	{
		*out = out_;
		return true;
	}

private:
	TuneScript script_;
	policy::ModelConfig config_;
	policy::Probs out_;
};

} // namespace dualpilot::testkit
