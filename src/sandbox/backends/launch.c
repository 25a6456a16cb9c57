/*
 * polyrun-launch: how the bwrap backend starts bwrap. Run by the service (root), it
 *   1. writes its own pid into each given cgroup.procs file: the sandbox's cgroup holds this process, so
 *      bwrap and everything it starts (polyrun-init, then the program) are inside the cgroup, with its
 *      limits, from their first instruction: there is no window where a child escapes accounting;
 *   2. sets the sandbox's hard rlimits (the OCI spec's process.rlimits) and its niceness;
 *   3. drops to the unprivileged host uid/gid (supplementary groups cleared), so bwrap runs unprivileged
 *      and its user namespace can map nothing but that uid: the program's uid never maps to host root;
 *   4. asks for SIGKILL when the service dies (set after the uid change, which would clear it), then
 *      execs bwrap, which keeps it (bwrap is not setuid) and passes it on with --die-with-parent.
 *
 * usage: polyrun-launch UID GID NICE NOFILE FSIZE STACK PROCS_FILE... -- PROGRAM ARG...
 * Exit 125 with a message on stderr when a step fails (the service reports the runtime's stderr).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

static void fail(const char *what, const char *detail) {
  fprintf(stderr, "polyrun-launch: %s %s: %s\n", what, detail ? detail : "", strerror(errno));
  _exit(125);
}

static unsigned long long number(const char *s, const char *what) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || end == s) {
    errno = EINVAL;
    fail("bad number for", what);
  }
  return v;
}

static void limit(int resource, unsigned long long value, const char *what) {
  struct rlimit rl = {value, value};
  if (setrlimit(resource, &rl) < 0) fail("setrlimit", what);
}

int main(int argc, char **argv) {
  if (argc < 10) {
    errno = EINVAL;
    fail("usage: polyrun-launch UID GID NICE NOFILE FSIZE STACK PROCS_FILE... -- PROGRAM ARG...", NULL);
  }
  pid_t parent = getppid();
  uid_t uid = (uid_t)number(argv[1], "uid");
  gid_t gid = (gid_t)number(argv[2], "gid");
  int nice_value = (int)number(argv[3], "nice");
  unsigned long long nofile = number(argv[4], "nofile"), fsize = number(argv[5], "fsize"), stack = number(argv[6], "stack");
  if (uid == 0 || gid == 0) {
    errno = EPERM;
    fail("refusing to run the sandbox as host root", NULL);
  }

  int i = 7;
  char pid[32];
  int len = snprintf(pid, sizeof pid, "%d", (int)getpid());
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    int fd = open(argv[i], O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, pid, (size_t)len) != len) fail("joining cgroup", argv[i]);
    close(fd);
  }
  if (i + 1 >= argc) {
    errno = EINVAL;
    fail("no program after --", NULL);
  }

  if (nice_value && setpriority(PRIO_PROCESS, 0, nice_value) < 0) fail("setpriority", NULL);
  limit(RLIMIT_NOFILE, nofile, "nofile");
  limit(RLIMIT_FSIZE, fsize, "fsize");
  limit(RLIMIT_STACK, stack, "stack");
  limit(RLIMIT_CORE, 0, "core");

  if (setgroups(0, NULL) < 0) fail("setgroups", NULL);
  if (setresgid(gid, gid, gid) < 0) fail("setresgid", NULL);
  if (setresuid(uid, uid, uid) < 0) fail("setresuid", NULL);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) fail("prctl", "PR_SET_PDEATHSIG");
  if (getppid() != parent) _exit(125); /* the service died before the death signal was armed */

  execv(argv[i + 1], argv + i + 1);
  fail("exec", argv[i + 1]);
  return 125;
}
