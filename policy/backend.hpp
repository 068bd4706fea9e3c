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
	// Steps embedded once, on arrival (see CpuForward::embed_step), where
	// exact for the model; 0 floats per step where not offered.
	virtual uint32_t step_token_floats() const { return 0; }
	virtual void embed_step(float, const float *, uint8_t, float *) {}
};

class CpuBackend final : public Backend {
public:
	explicit CpuBackend(const Model &m) : fwd_(m) {}
	const char *name() const override { return "cpu"; }
	const ModelConfig &config() const override { return fwd_.config(); }
	void forward(const Window *windows, size_t n, Probs *out) override { fwd_.forward(windows, n, out); }
	uint32_t step_token_floats() const override
	{
		return fwd_.embeds_steps() ? fwd_.config().tokens_per_step() * fwd_.config().d_model : 0;
	}
	void embed_step(float rtg, const float *state, uint8_t action, float *out) override
	{
		fwd_.embed_step(rtg, state, action, out);
	}

private:
	CpuForward fwd_;
};

} // namespace dualpilot::policy
