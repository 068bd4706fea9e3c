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
};

class CpuBackend final : public Backend {
public:
	explicit CpuBackend(const Model &m) : fwd_(m) {}
	const char *name() const override { return "cpu"; }
	const ModelConfig &config() const override { return fwd_.config(); }
	void forward(const Window *windows, size_t n, Probs *out) override { fwd_.forward(windows, n, out); }

private:
	CpuForward fwd_;
};

} // namespace dualpilot::policy
