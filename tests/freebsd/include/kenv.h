/* Stand-in for FreeBSD 14's <kenv.h> (which includes <sys/kenv.h>): the
 * kernel environment, kenv(2). Values as in sys/sys/kenv.h. */
#ifndef DUALPILOT_STANDIN_KENV_H
#define DUALPILOT_STANDIN_KENV_H
#ifdef __cplusplus
extern "C" {
#endif
#define KENV_GET 0
#define KENV_SET 1
#define KENV_UNSET 2
#define KENV_DUMP 3
#define KENV_MNAMELEN 128 /* maximum name length (for the syscall) */
#define KENV_MVALLEN 128  /* maximum value length (for the syscall) */
int kenv(int action, const char *name, char *value, int len);
#ifdef __cplusplus
}
#endif
#endif
