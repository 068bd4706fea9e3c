/* Stand-in for FreeBSD 14's <sys/sysctl.h>, the userland part that the
 * platform files use: sysctlbyname(3). (glibc no longer ships a
 * sys/sysctl.h at all; FreeBSD's declares it as below.) */
#ifndef DUALPILOT_STANDIN_SYS_SYSCTL_H
#define DUALPILOT_STANDIN_SYS_SYSCTL_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
int sysctlbyname(const char *name, void *oldp, size_t *oldlenp, const void *newp, size_t newlen);
#ifdef __cplusplus
}
#endif
#endif
