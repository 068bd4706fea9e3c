// Where the policy worker runs the model: a backend takes a batch of
// context windows and returns an action distribution for each. One call per
// batch, off the packet path, so a virtual call is fine here.
//   cpu   policy/cpu_backend.hpp (this library)
//   gpu   gpu/backend.hpp (CUDA graphs + cuBLAS), where built and a GPU is present
//
// A pass is submitted and its result collected later, so that a backend
// that computes elsewhere (the GPU) works while the caller drains its rings
// and packs the next batch: up to pass_slots() passes are in flight, and
// they are collected in the order they were submitted. The cpu backend
// computes in submit() and has one slot.
#pragma once

#include <memory>
#include <string>

#include "policy/model.hpp"
#include "policy/window.hpp"

namespace dualpilot::policy {

class Backend {
public:
	virtual ~Backend() = default;
	virtual const char *name() const = 0;
	virtual const ModelConfig &config() const = 0;

	// Passes that may be in flight at once.
	virtual size_t pass_slots() const { return 1; }
	// Starts a pass over n windows (n >= 1, at most the batch the backend
	// was made for; each queue at most once). Their inputs are copied before
	// it returns: the contexts may change at once. False when the backend
	// has failed (error() says why); it then does nothing more.
	[[nodiscard]] virtual bool submit(const Window *windows, size_t n) = 0;
	// Whether the oldest pass in flight has finished (never blocks).
	virtual bool done() const { return true; }
	// The oldest pass's distributions, one per window, in order (blocks
	// until it has finished). False when the backend has failed.
	[[nodiscard]] virtual bool collect(Probs *out) = 0;
	virtual const std::string &error() const { return error_; }
	// The backend to carry on with when this one fails (the gpu backend's
	// is the cpu backend of the same model); null where there is none.
	virtual std::unique_ptr<Backend> fallback() const { return nullptr; }

	// Work done once per step, on arrival, into the queue's cache
	// (CpuForward::cache_floats and cache_step); 0 where the backend caches
	// nothing.
	virtual uint32_t cache_floats() const { return 0; }
	virtual void cache_step(float, const float *, uint8_t, uint32_t, float *) {}

protected:
	std::string error_;
};

} // namespace dualpilot::policy
