/*
 * polyrun-init: the first process of every sandbox (pid 1 inside the container).
 *
 * Why it exists: the OCI runtime (runc/crun/runsc) builds the container; this program only runs the stages
 * of one execution inside it, so that a container can be started ahead of time (warm pool) and handed its
 * work later with no runtime invocation on the request path. It sets up no namespace, no seccomp and no
 * cgroup: the OCI runtime did all of that before this binary was exec'd. Nothing here is privileged: it runs
 * as the same unprivileged uid as the program, with no capabilities and noNewPrivileges.
 *
 * Being pid 1 matters: when it exits, the kernel kills everything left in the pid namespace, and signals
 * sent from inside the namespace cannot kill it.
 *
 * Protocol: binary frames on fd 0 (host -> init) and fd 1 (init -> host):
 *   u8 type, u32 big-endian payload length, payload.
 * host -> init:
 *   'F' file:   u32 mode, path, NUL, content       (created under the cwd, O_EXCL|O_NOFOLLOW)
 *   'I' stdin:  bytes appended to the next stage's stdin
 *   'R' run:    NUL-terminated fields: cpu_seconds, nofile, fsize, stack, argc, argv..., envc, env..., cwd
 *   'G' get:    path; answered with 'D' (u32 mode, content) or 'N' (error text)
 *   'L' list:   answered with 'D': relative paths of the regular files under the cwd, each NUL-terminated
 *   EOF on fd 0: exit 0.
 * init -> host:
 *   'H' hello (ready), 'O' stdout bytes, 'E' stderr bytes, 'X' stage exit: "code\0signal\0" (-1 when n/a),
 *   'D' / 'N' file answers.
 *
 * After the stage's main process exits, every other process in the namespace is killed (daemons do not
 * outlive their stage) and the output pipes are drained before 'X' is sent, so all output of a stage
 * precedes its exit frame.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_FRAME (256u * 1024u * 1024u)
#define MAX_FIELDS 4096

static void die(const char *what) {
  dprintf(2, "polyrun-init: %s: %s\n", what, strerror(errno));
  _exit(120);
}

static int read_full(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r == 0) return got == 0 ? 0 : -1;
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    got += (size_t)r;
  }
  return 1;
}

static void write_full(int fd, const void *buf, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(fd, (const char *)buf + done, n - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      _exit(121); /* host went away */
    }
    done += (size_t)w;
  }
}

static void send_frame(char type, const void *payload, uint32_t len) {
  unsigned char hdr[5] = {(unsigned char)type, (unsigned char)(len >> 24), (unsigned char)(len >> 16),
                          (unsigned char)(len >> 8), (unsigned char)len};
  write_full(1, hdr, 5);
  if (len) write_full(1, payload, len);
}

static void send_text(char type, const char *text) { send_frame(type, text, (uint32_t)strlen(text)); }

static uint32_t be32(const unsigned char *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* A path from the host must be relative and free of ".." components; the host checks too. */
static int path_is_safe(const char *path) {
  if (path[0] == '\0' || path[0] == '/') return 0;
  const char *p = path;
  while (*p) {
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    if (len == 0 || (len == 2 && p[0] == '.' && p[1] == '.') || (len == 1 && p[0] == '.')) return 0;
    if (!slash) break;
    p = slash + 1;
  }
  return 1;
}

static int make_parents(char *path) {
  for (char *p = path; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    int r = mkdir(path, 0755);
    *p = '/';
    if (r < 0 && errno != EEXIST) return -1;
  }
  return 0;
}

static void put_file(unsigned char *payload, uint32_t len) {
  if (len < 5) { send_text('N', "bad file frame"); return; }
  mode_t mode = be32(payload) & 0777;
  char *name = (char *)payload + 4;
  size_t name_len = strnlen(name, len - 4);
  if (name_len == len - 4 || !path_is_safe(name)) { send_text('N', "unsafe file name"); return; }
  const unsigned char *content = payload + 4 + name_len + 1;
  size_t content_len = len - 4 - name_len - 1;
  if (make_parents(name) < 0) { send_text('N', strerror(errno)); return; }
  int fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) { send_text('N', strerror(errno)); return; }
  size_t done = 0;
  while (done < content_len) {
    ssize_t w = write(fd, content + done, content_len - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      char msg[256];
      snprintf(msg, sizeof msg, "write %s: %s", name, strerror(errno));
      close(fd);
      send_text('N', msg);
      return;
    }
    done += (size_t)w;
  }
  close(fd);
  send_frame('D', NULL, 0);
}

static void get_file(unsigned char *payload, uint32_t len, uint32_t max_bytes) {
  char *name = (char *)payload;
  if (strnlen(name, len) == len && len > 0) { /* payload is not NUL-terminated: copy */
    name = strndup((char *)payload, len);
  } else {
    name = strdup(name);
  }
  if (!path_is_safe(name)) { free(name); send_text('N', "unsafe file name"); return; }
  int fd = open(name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  free(name);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max_bytes) {
    if (fd >= 0) close(fd);
    send_text('N', "not a regular file of allowed size");
    return;
  }
  size_t size = (size_t)st.st_size;
  unsigned char *buf = malloc(size + 4);
  if (!buf) die("malloc");
  uint32_t mode = st.st_mode & 0777;
  buf[0] = (unsigned char)(mode >> 24); buf[1] = (unsigned char)(mode >> 16);
  buf[2] = (unsigned char)(mode >> 8); buf[3] = (unsigned char)mode;
  size_t got = 0;
  while (got < size) {
    ssize_t r = read(fd, buf + 4 + got, size - got);
    if (r <= 0) {
      if (r < 0 && errno == EINTR) continue;
      break;
    }
    got += (size_t)r;
  }
  close(fd);
  if (got != size) { free(buf); send_text('N', "file changed while reading"); return; }
  send_frame('D', buf, (uint32_t)(size + 4));
  free(buf);
}

/* Regular files under the working dir, as relative paths (what a compile produced). Symlinks are neither
 * listed nor followed; depth and count are bounded so a program cannot make the listing endless. */
#define LIST_MAX_DEPTH 16
#define LIST_MAX_ENTRIES 10000

struct listing {
  char *out;
  size_t len, cap, count;
};

static void list_add(struct listing *l, const char *path) {
  size_t n = strlen(path) + 1;
  if (l->len + n > l->cap) {
    l->cap = (l->len + n) * 2;
    l->out = realloc(l->out, l->cap);
    if (!l->out) die("realloc");
  }
  memcpy(l->out + l->len, path, n);
  l->len += n;
  l->count++;
}

static void list_dir(struct listing *l, int dirfd_, const char *prefix, int depth) {
  DIR *dir = fdopendir(dirfd_);
  if (!dir) { close(dirfd_); return; }
  struct dirent *entry;
  while ((entry = readdir(dir)) != NULL && l->count < LIST_MAX_ENTRIES) {
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
    struct stat st;
    if (fstatat(dirfd(dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
    char path[4096];
    int w = snprintf(path, sizeof path, "%s%s", prefix, entry->d_name);
    if (w < 0 || (size_t)w >= sizeof path - 1) continue;
    if (S_ISREG(st.st_mode)) {
      list_add(l, path);
    } else if (S_ISDIR(st.st_mode) && depth < LIST_MAX_DEPTH) {
      int sub = openat(dirfd(dir), entry->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) continue;
      strcat(path, "/");
      list_dir(l, sub, path, depth + 1);
    }
  }
  closedir(dir);
}

static void list_files(void) {
  int top = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (top < 0) { send_text('N', strerror(errno)); return; }
  struct listing l = {malloc(4096), 0, 4096, 0};
  if (!l.out) die("malloc");
  list_dir(&l, top, "", 0);
  send_frame('D', l.out, (uint32_t)l.len);
  free(l.out);
}

struct stage {
  unsigned long long cpu_seconds, nofile, fsize, stack;
  char **argv;
  char **envp;
  const char *cwd;
};

static int parse_stage(char *payload, uint32_t len, struct stage *s) {
  static char *fields[MAX_FIELDS];
  size_t n = 0;
  char *p = payload, *end = payload + len;
  while (p < end && n < MAX_FIELDS) {
    char *nul = memchr(p, '\0', (size_t)(end - p));
    if (!nul) return -1;
    fields[n++] = p;
    p = nul + 1;
  }
  if (n < 7) return -1;
  size_t i = 0;
  s->cpu_seconds = strtoull(fields[i++], NULL, 10);
  s->nofile = strtoull(fields[i++], NULL, 10);
  s->fsize = strtoull(fields[i++], NULL, 10);
  s->stack = strtoull(fields[i++], NULL, 10);
  size_t argc = strtoull(fields[i++], NULL, 10);
  if (argc == 0 || i + argc >= n) return -1;
  s->argv = calloc(argc + 1, sizeof(char *));
  for (size_t a = 0; a < argc; a++) s->argv[a] = fields[i++];
  size_t envc = strtoull(fields[i++], NULL, 10);
  if (i + envc >= n) return -1;
  s->envp = calloc(envc + 1, sizeof(char *));
  for (size_t e = 0; e < envc; e++) s->envp[e] = fields[i++];
  s->cwd = fields[i++];
  return 0;
}

static void set_limit(int resource, unsigned long long value) {
  struct rlimit rl = {value, value};
  setrlimit(resource, &rl);
}

static void child_exec(struct stage *s, int in_fd, int out_fd, int err_fd) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) _exit(126);
  /* The program, not init, should be the one the kernel picks on a memory overrun. */
  int oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (oom >= 0) { (void)!write(oom, "1000", 4); close(oom); }
  set_limit(RLIMIT_CORE, 0);
  if (s->cpu_seconds) set_limit(RLIMIT_CPU, s->cpu_seconds);
  if (s->nofile) set_limit(RLIMIT_NOFILE, s->nofile);
  if (s->fsize) set_limit(RLIMIT_FSIZE, s->fsize);
  if (s->stack) set_limit(RLIMIT_STACK, s->stack);
  if (chdir(s->cwd) < 0) {
    dprintf(2, "polyrun-init: chdir %s: %s\n", s->cwd, strerror(errno));
    _exit(126);
  }
  execve(s->argv[0], s->argv, s->envp);
  dprintf(2, "polyrun-init: exec %s: %s\n", s->argv[0], strerror(errno));
  _exit(127);
}

static int set_nonblock(int fd) { return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static void run_stage(struct stage *s, unsigned char *stdin_buf, size_t stdin_len, int sigfd) {
  int in_p[2], out_p[2], err_p[2];
  if (pipe2(in_p, O_CLOEXEC) < 0 || pipe2(out_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0) die("pipe");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) child_exec(s, in_p[0], out_p[1], err_p[1]);
  close(in_p[0]); close(out_p[1]); close(err_p[1]);
  set_nonblock(in_p[1]); set_nonblock(out_p[0]); set_nonblock(err_p[0]);
  signal(SIGPIPE, SIG_IGN);

  int in_fd = in_p[1], out_fd = out_p[0], err_fd = err_p[0];
  size_t in_off = 0;
  if (stdin_len == 0) { close(in_fd); in_fd = -1; }
  int main_done = 0, status = 0;
  static unsigned char buf[65536];

  while (!main_done || out_fd >= 0 || err_fd >= 0) {
    struct pollfd fds[4];
    int n = 0, i_out = -1, i_err = -1, i_in = -1, i_sig;
    if (out_fd >= 0) { i_out = n; fds[n].fd = out_fd; fds[n++].events = POLLIN; }
    if (err_fd >= 0) { i_err = n; fds[n].fd = err_fd; fds[n++].events = POLLIN; }
    if (in_fd >= 0) { i_in = n; fds[n].fd = in_fd; fds[n++].events = POLLOUT; }
    i_sig = n; fds[n].fd = sigfd; fds[n++].events = POLLIN;
    if (poll(fds, (nfds_t)n, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (i_out >= 0 && fds[i_out].revents) {
      ssize_t r = read(out_fd, buf, sizeof buf);
      if (r > 0) send_frame('O', buf, (uint32_t)r);
      else if (r == 0 || (errno != EAGAIN && errno != EINTR)) { close(out_fd); out_fd = -1; }
    }
    if (i_err >= 0 && fds[i_err].revents) {
      ssize_t r = read(err_fd, buf, sizeof buf);
      if (r > 0) send_frame('E', buf, (uint32_t)r);
      else if (r == 0 || (errno != EAGAIN && errno != EINTR)) { close(err_fd); err_fd = -1; }
    }
    if (i_in >= 0 && fds[i_in].revents) {
      ssize_t w = write(in_fd, stdin_buf + in_off, stdin_len - in_off);
      if (w > 0) in_off += (size_t)w;
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || in_off == stdin_len) { close(in_fd); in_fd = -1; }
    }
    if (fds[i_sig].revents) {
      struct signalfd_siginfo info;
      while (read(sigfd, &info, sizeof info) > 0) {}
      int st;
      pid_t r;
      while ((r = waitpid(-1, &st, WNOHANG)) > 0) {
        if (r == pid) {
          main_done = 1;
          status = st;
          /* Nothing of this stage may outlive it: kill every other process in the namespace. */
          kill(-1, SIGKILL);
          if (in_fd >= 0) { close(in_fd); in_fd = -1; }
        }
      }
    }
  }
  kill(-1, SIGKILL);
  while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {}

  char msg[64];
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  int sig = WIFSIGNALED(status) ? WTERMSIG(status) : -1;
  int len = snprintf(msg, sizeof msg, "%d%c%d%c", code, '\0', sig, '\0');
  send_frame('X', msg, (uint32_t)len);
  free(s->argv);
  free(s->envp);
}

int main(void) {
  /* Keep /proc/1/mem and /proc/1/fd out of reach of the program, which runs under the same uid. */
  prctl(PR_SET_DUMPABLE, 0);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sigfd < 0) die("signalfd");
  fcntl(0, F_SETFD, FD_CLOEXEC);
  fcntl(1, F_SETFD, FD_CLOEXEC);
  int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (devnull >= 0) dup2(devnull, 2); /* init's own stderr is not the program's */

  unsigned char *stdin_buf = NULL;
  size_t stdin_len = 0;
  send_frame('H', NULL, 0);
  for (;;) {
    unsigned char hdr[5];
    int r = read_full(0, hdr, 5);
    if (r == 0) _exit(0);
    if (r < 0) _exit(122);
    uint32_t len = be32(hdr + 1);
    if (len > MAX_FRAME) _exit(123);
    unsigned char *payload = malloc(len + 1);
    if (!payload) die("malloc");
    if (len && read_full(0, payload, len) != 1) _exit(122);
    payload[len] = '\0';
    switch (hdr[0]) {
      case 'F': put_file(payload, len); break;
      case 'G': get_file(payload, len, MAX_FRAME - 4); break;
      case 'L': list_files(); break;
      case 'I':
        stdin_buf = realloc(stdin_buf, stdin_len + len);
        if (!stdin_buf && len) die("realloc");
        memcpy(stdin_buf + stdin_len, payload, len);
        stdin_len += len;
        break;
      case 'R': {
        struct stage s;
        if (parse_stage((char *)payload, len, &s) < 0) { send_text('N', "bad run frame"); break; }
        run_stage(&s, stdin_buf, stdin_len, sigfd);
        free(stdin_buf);
        stdin_buf = NULL;
        stdin_len = 0;
        break;
      }
      default: _exit(124);
    }
    free(payload);
  }
}
