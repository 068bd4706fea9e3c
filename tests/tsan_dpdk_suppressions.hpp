// The ThreadSanitizer suppressions of a test binary whose threads hand
// over through DPDK's rings and mempools. Included by the binary's one
// translation unit (it defines the function TSan looks up).
//
// DPDK's rings order their element and index stores with rte_smp_wmb /
// rte_smp_rmb (x86's generic ring, not the C11 one), fences ThreadSanitizer
// does not model, so each hand-over through a ring, and the mbufs and
// mempool entries it carries, would be reported. Those are DPDK's; every
// race of our own is still reported.
#pragma once

extern "C" const char *__tsan_default_suppressions()
{
	return "race:rte_ring_generic_pvt.h\n"
	       "race:rte_ring_elem_pvt.h\n"
	       "race:rte_ring_peek_elem_pvt.h\n"
	       "race:rte_mempool.h\n"
	       "race:rte_mbuf.h\n";
}
