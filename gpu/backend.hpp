// The policy worker's `gpu` backend: the engine of gpu/engine.hpp behind
// policy::Backend, two passes in flight, the cpu backend of the same model
// as its fallback.
#pragma once

#include <memory>
#include <string>

#include "gpu/engine.hpp"
#include "policy/backend.hpp"
#include "policy/cpu_backend.hpp"

namespace dualpilot::gpu {

class GpuBackend final : public policy::Backend {
public:
	// Null with err set where the engine cannot start (gpu/engine.hpp).
	static std::unique_ptr<GpuBackend> create(const policy::Model &m, const EngineOptions &opt, std::string &err);

	const char *name() const override { return "gpu"; }
	const policy::ModelConfig &config() const override { return model_.config; }
	size_t pass_slots() const override { return Engine::kSlots; }
	bool submit(const policy::Window *windows, size_t n) override;
	bool done() const override { return engine_->done(); }
	bool collect(policy::Probs *out) override;
	std::unique_ptr<policy::Backend> fallback() const override
	{
		return std::make_unique<policy::CpuBackend>(model_);
	}
	Engine &engine() { return *engine_; }

private:
	GpuBackend(const policy::Model &m, std::unique_ptr<Engine> engine) : model_(m), engine_(std::move(engine)) {}
	policy::Model model_; // for the fallback
	std::unique_ptr<Engine> engine_;
};

} // namespace dualpilot::gpu
