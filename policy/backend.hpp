// Where the policy worker runs the model: a backend takes a batch of
// context windows and returns an action distribution for each. One call per
// batch, off the packet path, so a virtual call is fine here.
//   cpu   policy/forward_cpu.hpp (this library)
//   gpu   gpu/ (CUDA graphs + cuBLAS), where built and a GPU is present
#pragma once

#include <memory>
#include <string>

#include "policy/forward_cpu.hpp"
#include "policy/model.hpp"

namespace dualpilot::policy {

class Backend {
public:
	virtual ~Backend() = default;
	virtual const char *name() const = 0;
	virtual const ModelConfig &config() const = 0;
	virtual void forward(const Window *windows, size_t n, Probs *out) = 0;
	// Work done once per step, on arrival, into the queue's cache
	// (CpuForward::cache_floats and cache_step); 0 where the backend caches
	// nothing.
	virtual uint32_t cache_floats() const { return 0; }
	virtual void cache_step(float, const float *, uint8_t, uint32_t, float *) {}
};

class CpuBackend final : public Backend {
public:
	explicit CpuBackend(const Model &m) : fwd_(m) {}
	const char *name() const override { return "cpu"; }
	const ModelConfig &config() const override { return fwd_.config(); }
	void forward(const Window *windows, size_t n, Probs *out) override { fwd_.forward(windows, n, out); }
	uint32_t cache_floats() const override { return fwd_.cache_floats(); }
	void cache_step(float rtg, const float *state, uint8_t action, uint32_t slot, float *cache) override
	{
		fwd_.cache_step(rtg, state, action, slot, cache);
	}

private:
	CpuForward fwd_;
};

} // namespace dualpilot::policy
