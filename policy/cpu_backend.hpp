// The `cpu` backend: the policy worker's Backend over CpuForward
// (policy/forward_cpu.hpp), computing each pass in submit() on the calling
// thread, with one slot.
#pragma once

#include <algorithm>
#include <vector>

#include "policy/backend.hpp"
#include "policy/forward_cpu.hpp"

namespace dualpilot::policy {

class CpuBackend final : public Backend {
public:
	explicit CpuBackend(const Model &m) : fwd_(m) {}
	const char *name() const override { return "cpu"; }
	const ModelConfig &config() const override { return fwd_.config(); }
	// At once, on the calling thread.
	void forward(const Window *windows, size_t n, Probs *out) { fwd_.forward(windows, n, out); }
	[[nodiscard]] bool submit(const Window *windows, size_t n) override
	{
		result_.resize(n);
		fwd_.forward(windows, n, result_.data());
		return true;
	}
	[[nodiscard]] bool collect(Probs *out) override
	{
		std::copy(result_.begin(), result_.end(), out);
		return true;
	}
	uint32_t cache_floats() const override { return fwd_.cache_floats(); }
	void cache_step(float rtg, const float *state, uint8_t action, uint32_t slot, float *cache) override
	{
		fwd_.cache_step(rtg, state, action, slot, cache);
	}

private:
	CpuForward fwd_;
	std::vector<Probs> result_;
};

} // namespace dualpilot::policy
