#include "gpu/backend.hpp"

namespace dualpilot::gpu {

std::unique_ptr<GpuBackend> GpuBackend::create(const policy::Model &m, const EngineOptions &opt, std::string &err)
{
	std::unique_ptr<Engine> engine = Engine::create(m, opt, err);
	if (!engine)
		return nullptr;
	return std::unique_ptr<GpuBackend>(new GpuBackend(m, std::move(engine)));
}

bool GpuBackend::submit(const policy::Window *windows, size_t n)
{
	if (engine_->submit(windows, n))
		return true;
	error_ = engine_->error();
	return false;
}

bool GpuBackend::collect(policy::Probs *out)
{
	if (engine_->collect(out))
		return true;
	error_ = engine_->error();
	return false;
}

} // namespace dualpilot::gpu
