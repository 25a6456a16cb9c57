/*
 * polyrun-seccomp-bpf: compiles one seccomp policy to a classic BPF program with libseccomp, for backends
 * that load a filter themselves (bwrap's --seccomp FD) instead of reading the OCI object.
 *
 * The policy is the same data the OCI runtimes get (seccomp.ts `toOciSeccomp`), flattened by
 * seccomp-bpf.ts into lines on stdin (the program parses no JSON):
 *   default <ACTION> <errno>
 *   arch <name>                                   (libseccomp's name: x86_64, x32, x86, aarch64...)
 *   rule <ACTION> <errno> <syscall> <nargs> [<index> <OP> <value> <valueTwo>]...
 * ACTION is an OCI action name without SCMP_ACT_ (ALLOW, ERRNO, KILL_PROCESS, KILL_THREAD, KILL, TRAP, LOG),
 * OP an OCI operator without SCMP_CMP_ (NE, LT, LE, EQ, GE, GT, MASKED_EQ). A syscall this libseccomp does
 * not know is skipped, as runc and crun skip it. The filter's bad-arch action kills the process: a call
 * through an ABI the policy does not list never reaches the kernel.
 * The BPF program goes to stdout. Exit 0 on success, 1 with a message on stderr otherwise.
 */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(const char *what, const char *detail) {
  fprintf(stderr, "polyrun-seccomp-bpf: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  exit(1);
}

static uint32_t action(const char *name, unsigned errno_ret) {
  if (strcmp(name, "ALLOW") == 0) return SCMP_ACT_ALLOW;
  if (strcmp(name, "ERRNO") == 0) return SCMP_ACT_ERRNO(errno_ret);
  if (strcmp(name, "KILL_PROCESS") == 0) return SCMP_ACT_KILL_PROCESS;
  if (strcmp(name, "KILL_THREAD") == 0 || strcmp(name, "KILL") == 0) return SCMP_ACT_KILL_THREAD;
  if (strcmp(name, "TRAP") == 0) return SCMP_ACT_TRAP;
  if (strcmp(name, "LOG") == 0) return SCMP_ACT_LOG;
  fail("unknown action", name);
  return 0;
}

static enum scmp_compare op(const char *name) {
  static const struct { const char *name; enum scmp_compare op; } ops[] = {
    {"NE", SCMP_CMP_NE}, {"LT", SCMP_CMP_LT}, {"LE", SCMP_CMP_LE}, {"EQ", SCMP_CMP_EQ},
    {"GE", SCMP_CMP_GE}, {"GT", SCMP_CMP_GT}, {"MASKED_EQ", SCMP_CMP_MASKED_EQ},
  };
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (strcmp(name, ops[i].name) == 0) return ops[i].op;
  fail("unknown operator", name);
  return SCMP_CMP_EQ;
}

int main(void) {
  scmp_filter_ctx ctx = NULL;
  char line[4096];
  int native_listed = 0;
  while (fgets(line, sizeof line, stdin)) {
    char *save = NULL;
    char *word = strtok_r(line, " \n", &save);
    if (!word) continue;
    if (strcmp(word, "default") == 0) {
      char *act = strtok_r(NULL, " \n", &save), *err = strtok_r(NULL, " \n", &save);
      if (!act || !err || ctx) fail("bad default line", NULL);
      ctx = seccomp_init(action(act, (unsigned)strtoul(err, NULL, 10)));
      if (!ctx) fail("seccomp_init failed", NULL);
      if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) != 0) fail("bad-arch action", NULL);
      /* bwrap sets no_new_privs itself; the exported program carries no flags anyway. */
    } else if (strcmp(word, "arch") == 0) {
      char *name = strtok_r(NULL, " \n", &save);
      if (!ctx || !name) fail("bad arch line", NULL);
      uint32_t arch = seccomp_arch_resolve_name(name);
      if (arch == 0) fail("unknown architecture", name);
      if (arch == seccomp_arch_native()) native_listed = 1;
      else if (seccomp_arch_add(ctx, arch) != 0 && seccomp_arch_exist(ctx, arch) != 0) fail("cannot add architecture", name);
    } else if (strcmp(word, "rule") == 0) {
      char *act = strtok_r(NULL, " \n", &save), *err = strtok_r(NULL, " \n", &save);
      char *name = strtok_r(NULL, " \n", &save), *nargs_s = strtok_r(NULL, " \n", &save);
      if (!ctx || !act || !err || !name || !nargs_s) fail("bad rule line", NULL);
      unsigned nargs = (unsigned)strtoul(nargs_s, NULL, 10);
      if (nargs > 6) fail("too many argument conditions", name);
      struct scmp_arg_cmp args[6];
      for (unsigned i = 0; i < nargs; i++) {
        char *index = strtok_r(NULL, " \n", &save), *o = strtok_r(NULL, " \n", &save);
        char *a = strtok_r(NULL, " \n", &save), *b = strtok_r(NULL, " \n", &save);
        if (!index || !o || !a || !b) fail("bad argument condition", name);
        args[i] = (struct scmp_arg_cmp){(unsigned)strtoul(index, NULL, 10), op(o), strtoull(a, NULL, 10), strtoull(b, NULL, 10)};
      }
      int nr = seccomp_syscall_resolve_name(name);
      if (nr == __NR_SCMP_ERROR) continue; /* unknown to this libseccomp: skipped, as the OCI runtimes do */
      int rc = seccomp_rule_add_array(ctx, action(act, (unsigned)strtoul(err, NULL, 10)), nr, nargs, args);
      if (rc != 0) {
        errno = -rc;
        fail("cannot add rule", name);
      }
    } else {
      fail("unknown line", word);
    }
  }
  if (!ctx) fail("no default line", NULL);
  if (!native_listed) {
    /* seccomp_init always includes the native arch; a policy that does not list it must not allow it. */
    if (seccomp_arch_remove(ctx, seccomp_arch_native()) != 0) fail("cannot drop the native architecture", NULL);
  }
  int rc = seccomp_export_bpf(ctx, STDOUT_FILENO);
  if (rc != 0) {
    errno = -rc;
    fail("seccomp_export_bpf failed", strerror(errno));
  }
  seccomp_release(ctx);
  return 0;
}
