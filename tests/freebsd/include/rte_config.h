/* Stand-in for DPDK's rte_config.h as a FreeBSD build of DPDK generates it:
 * meson's config for lib/eal defines RTE_EXEC_ENV_FREEBSD (and
 * RTE_EXEC_ENV_IS_FREEBSD 1) where Linux's defines RTE_EXEC_ENV_LINUX
 * (DPDK config/meson.build, exec_env). Only what the platform files read. */
#ifndef DUALPILOT_STANDIN_RTE_CONFIG_H
#define DUALPILOT_STANDIN_RTE_CONFIG_H
#define RTE_EXEC_ENV_FREEBSD 1
#define RTE_EXEC_ENV_IS_FREEBSD 1
#define RTE_EXEC_ENV_NAME "freebsd"
#endif
