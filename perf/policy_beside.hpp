// The policy worker beside a measured router, as dualpilot-router runs it
// on its service lcore: a random default-size student (model_shapes.hpp)
// over the router's samples, polled on a thread pinned to `cpu`, napping
// when there is nothing to do. Started once the router is initialised,
// joined before it shuts down (measure_router's started / stopping hooks).
#pragma once

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "dataplane/policy_worker.hpp"
#include "dataplane/router.hpp"
#include "model_shapes.hpp"
#include "policy/cpu_backend.hpp"

namespace dualpilot::bench {

struct PolicyBeside {
	unsigned cpu = 0;
	std::atomic<bool> stop{false};
	std::thread thread;
	dataplane::PolicyWorker policy;

	void start(dataplane::Router &router)
	{
		policy.init(router.config().policy, router,
			    std::make_unique<policy::CpuBackend>(policy::random_model(student(10), 1)));
		thread = std::thread([this, &router] {
			while (!stop.load(std::memory_order_relaxed))
				if (policy.poll(router.now_ns()) == 0)
					std::this_thread::sleep_for(std::chrono::microseconds(dataplane::kPolicyIdleNapUs));
		});
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		pthread_setaffinity_np(thread.native_handle(), sizeof(set), &set);
	}
	void join()
	{
		stop = true;
		thread.join();
	}
};

} // namespace dualpilot::bench
