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
 * host -> init, between stages:
 *   'F' file:   u32 mode, path, NUL, content       (created under the cwd, O_EXCL|O_NOFOLLOW); the mode's
 *               bit 31 (FILE_OVERWRITE) first unlinks an existing non-directory of that name
 *   'U' unlink: path; removes that file (or empty directory); answered with 'D' (empty) or 'N'
 *   'R' run:    NUL-terminated fields: cpu_seconds, nofile, fsize, stack, nproc, argc, argv..., envc, env..., cwd
 *               (a limit of 0 is left as it is; nproc is RLIMIT_NPROC, set where the host's pids controller does
 *               not see the program's processes: gVisor);
 *               starts a stage (answered with 'N' if the fields do not parse)
 *   'G' get:    path; answered with 'D' (u32 mode, content) or 'N' (error text)
 *   Paths of 'F', 'G' and 'U' are walked one component at a time (openat O_NOFOLLOW|O_DIRECTORY): a
 *   symlink is never followed, neither as the last component nor as a directory on the way.
 *   'L' list:   answered with 'D': relative paths of the regular files under the cwd, each NUL-terminated
 *   'I' / 'C' / 'S' between stages are stale (their stage ended while the host was sending) and discarded.
 * host -> init, while a stage runs ('F', 'G', 'L' and 'U' are answered then too; any other frame type is a
 * protocol error: exit 124):
 *   'I' stdin:  bytes for the program's stdin, written in order
 *   'C' close:  end of stdin; the program's stdin is closed once everything received has been written
 *               (without 'C' it stays open until the program exits)
 *   'S' signal: the decimal signal number as ASCII, sent to the stage's process group (the program calls
 *               setpgid(0, 0) before exec); only SIGINT, SIGTERM, SIGKILL, SIGQUIT, SIGUSR1 and SIGUSR2
 *               are honoured, any other number is ignored
 *   While more than STDIN_PENDING_MAX bytes of stdin wait to be written (the program is not reading), fd 0
 *   is not read (backpressure), so frames behind them, a signal included, wait too.
 * EOF on fd 0 between frames, in or out of a stage: exit 0.
 * init -> host:
 *   'H' hello (ready), 'O' stdout bytes, 'E' stderr bytes (each sent as soon as it is read),
 *   'X' stage exit: "code\0signal\0" (-1 when n/a), 'D' / 'N' answers.
 *
 * After the stage's main process exits, stdin still pending is discarded and the program's stdin closed,
 * every other process in the namespace is killed (daemons do not outlive their stage) and the output pipes
 * are drained before 'X' is sent, so all output of a stage precedes its exit frame.
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
#define STDIN_PENDING_MAX (1024u * 1024u)

static void die(const char *what) {
  dprintf(2, "polyrun-init: %s: %s\n", what, strerror(errno));
  _exit(120);
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

/* Frames from the host on fd 0, read incrementally: one read() per call, so a stage's poll loop never blocks
 * on a frame that is still arriving. A frame partly read when a stage ends is finished after it. */
struct frame {
  char type;
  unsigned char *payload; /* len + 1 bytes, NUL-terminated; the receiver frees it */
  uint32_t len;
};

static struct {
  unsigned char hdr[5];
  size_t hdr_got;
  unsigned char *payload;
  size_t got;
} in0;

/* Returns 1 and fills *fr when a frame is whole, 0 when more bytes are needed. EOF between frames: exit 0
 * (the host closed the channel); EOF inside a frame or a read error: exit 122; oversized frame: exit 123. */
static int read_frame_step(struct frame *fr) {
  uint32_t len = in0.hdr_got == 5 ? be32(in0.hdr + 1) : 0;
  ssize_t r = in0.hdr_got < 5 ? read(0, in0.hdr + in0.hdr_got, 5 - in0.hdr_got)
                              : read(0, in0.payload + in0.got, len - in0.got);
  if (r == 0) _exit(in0.hdr_got == 0 ? 0 : 122);
  if (r < 0) {
    if (errno == EINTR || errno == EAGAIN) return 0;
    _exit(122);
  }
  if (in0.hdr_got < 5) {
    in0.hdr_got += (size_t)r;
    if (in0.hdr_got < 5) return 0;
    len = be32(in0.hdr + 1);
    if (len > MAX_FRAME) _exit(123);
    in0.payload = malloc((size_t)len + 1);
    if (!in0.payload) die("malloc");
    in0.got = 0;
  } else {
    in0.got += (size_t)r;
  }
  if (in0.got < len) return 0;
  in0.payload[len] = '\0';
  fr->type = (char)in0.hdr[0];
  fr->payload = in0.payload;
  fr->len = len;
  in0.payload = NULL;
  in0.hdr_got = 0;
  return 1;
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

#define FILE_OVERWRITE 0x80000000u

/* Opens the directory that holds `path`'s last component, walking from the cwd one component at a time
 * with O_NOFOLLOW|O_DIRECTORY (a symlink anywhere on the way fails with ELOOP/ENOTDIR), creating missing
 * directories when `create`. Returns the directory fd (or -1, errno set) and points *leaf into `path`. */
static int open_parent(char *path, int create, const char **leaf) {
  int dir = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return -1;
  char *p = path;
  for (char *slash; (slash = strchr(p, '/')) != NULL; p = slash + 1) {
    *slash = '\0';
    if (create && mkdirat(dir, p, 0755) < 0 && errno != EEXIST) { *slash = '/'; close(dir); return -1; }
    int next = openat(dir, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    *slash = '/';
    close(dir);
    if (next < 0) return -1;
    dir = next;
  }
  *leaf = p;
  return dir;
}

static void send_errno(const char *what, const char *name) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s %s: %s", what, name, strerror(errno));
  send_text('N', msg);
}

static void put_file(unsigned char *payload, uint32_t len) {
  if (len < 5) { send_text('N', "bad file frame"); return; }
  uint32_t flags = be32(payload);
  mode_t mode = flags & 0777;
  char *name = (char *)payload + 4;
  size_t name_len = strnlen(name, len - 4);
  if (name_len == len - 4 || !path_is_safe(name)) { send_text('N', "unsafe file name"); return; }
  const unsigned char *content = payload + 4 + name_len + 1;
  size_t content_len = len - 4 - name_len - 1;
  const char *leaf;
  int dir = open_parent(name, 1, &leaf);
  if (dir < 0) { send_errno("open", name); return; }
  /* Overwrite replaces the name (never writes through it): unlink, then create exclusively. */
  if ((flags & FILE_OVERWRITE) && unlinkat(dir, leaf, 0) < 0 && errno != ENOENT) {
    send_errno("replace", name);
    close(dir);
    return;
  }
  int fd = openat(dir, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  close(dir);
  if (fd < 0) { send_errno("create", name); return; }
  size_t done = 0;
  while (done < content_len) {
    ssize_t w = write(fd, content + done, content_len - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      send_errno("write", name);
      close(fd);
      return;
    }
    done += (size_t)w;
  }
  close(fd);
  send_frame('D', NULL, 0);
}

/* A path payload as a NUL-terminated copy (the payload buffer always has a NUL after `len` bytes). */
static char *path_of(unsigned char *payload, uint32_t len) { return strndup((char *)payload, len); }

static void unlink_file(unsigned char *payload, uint32_t len) {
  char *name = path_of(payload, len);
  if (!name) die("strndup");
  const char *leaf;
  int dir = path_is_safe(name) ? open_parent(name, 0, &leaf) : -2;
  if (dir == -2) { free(name); send_text('N', "unsafe file name"); return; }
  if (dir < 0) { send_errno("remove", name); free(name); return; }
  int r = unlinkat(dir, leaf, 0);
  if (r < 0 && errno == EISDIR) r = unlinkat(dir, leaf, AT_REMOVEDIR);
  if (r < 0) send_errno("remove", name);
  else send_frame('D', NULL, 0);
  close(dir);
  free(name);
}

static void get_file(unsigned char *payload, uint32_t len, uint32_t max_bytes) {
  char *name = path_of(payload, len);
  if (!name) die("strndup");
  if (!path_is_safe(name)) { free(name); send_text('N', "unsafe file name"); return; }
  const char *leaf;
  int dir = open_parent(name, 0, &leaf);
  int fd = dir < 0 ? -1 : openat(dir, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (dir >= 0) close(dir);
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
  unsigned long long cpu_seconds, nofile, fsize, stack, nproc;
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
  if (n < 8) return -1;
  size_t i = 0;
  s->cpu_seconds = strtoull(fields[i++], NULL, 10);
  s->nofile = strtoull(fields[i++], NULL, 10);
  s->fsize = strtoull(fields[i++], NULL, 10);
  s->stack = strtoull(fields[i++], NULL, 10);
  s->nproc = strtoull(fields[i++], NULL, 10);
  size_t argc = strtoull(fields[i++], NULL, 10);
  if (argc == 0 || i + argc >= n) return -1;
  s->argv = calloc(argc + 1, sizeof(char *));
  if (!s->argv) die("calloc");
  for (size_t a = 0; a < argc; a++) s->argv[a] = fields[i++];
  size_t envc = strtoull(fields[i++], NULL, 10);
  if (i + envc >= n) return -1;
  s->envp = calloc(envc + 1, sizeof(char *));
  if (!s->envp) die("calloc");
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
  signal(SIGPIPE, SIG_DFL); /* init ignores it; the program gets the default */
  /* Its own process group: a signal from the host ('S') reaches the program and its children, not init. */
  setpgid(0, 0);
  if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) _exit(126);
  /* The program, not init, should be the one the kernel picks on a memory overrun. */
  int oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (oom >= 0) { (void)!write(oom, "1000", 4); close(oom); }
  set_limit(RLIMIT_CORE, 0);
  if (s->cpu_seconds) set_limit(RLIMIT_CPU, s->cpu_seconds);
  if (s->nofile) set_limit(RLIMIT_NOFILE, s->nofile);
  if (s->fsize) set_limit(RLIMIT_FSIZE, s->fsize);
  if (s->stack) set_limit(RLIMIT_STACK, s->stack);
  if (s->nproc) set_limit(RLIMIT_NPROC, s->nproc);
  if (chdir(s->cwd) < 0) {
    dprintf(2, "polyrun-init: chdir %s: %s\n", s->cwd, strerror(errno));
    _exit(126);
  }
  execve(s->argv[0], s->argv, s->envp);
  dprintf(2, "polyrun-init: exec %s: %s\n", s->argv[0], strerror(errno));
  _exit(127);
}

static int set_nonblock(int fd) { return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

/* The program's stdin while its stage runs: bytes received from the host, not yet written, are
 * buf[off, len). The pipe is non-blocking. */
struct stdin_pipe {
  int fd; /* -1 once closed */
  unsigned char *buf;
  size_t off, len;
  int end; /* 'C' received: close once nothing is pending */
};

static size_t stdin_pending(const struct stdin_pipe *in) { return in->len - in->off; }

static void stdin_close(struct stdin_pipe *in) {
  if (in->fd >= 0) close(in->fd);
  in->fd = -1;
  free(in->buf);
  in->buf = NULL;
  in->off = in->len = 0;
}

static void stdin_append(struct stdin_pipe *in, const unsigned char *data, size_t n) {
  if (in->fd < 0 || in->end || n == 0) return; /* the program's stdin is closed or ending: discard */
  size_t pending = stdin_pending(in);
  if (in->off > 0) memmove(in->buf, in->buf + in->off, pending);
  in->buf = realloc(in->buf, pending + n);
  if (!in->buf) die("realloc");
  memcpy(in->buf + pending, data, n);
  in->off = 0;
  in->len = pending + n;
}

/* One write of what is pending. A program that stopped reading (EPIPE) has its stdin closed and the
 * rest discarded; after 'C', the pipe is closed once everything is written. */
static void stdin_flush(struct stdin_pipe *in) {
  if (in->fd < 0) return;
  if (stdin_pending(in) > 0) {
    ssize_t w = write(in->fd, in->buf + in->off, stdin_pending(in));
    if (w > 0) in->off += (size_t)w;
    else if (w < 0 && errno != EAGAIN && errno != EINTR) { stdin_close(in); return; }
  }
  if (in->end && stdin_pending(in) == 0) stdin_close(in);
}

static void signal_stage(pid_t pgid, const struct frame *fr) {
  char *end;
  long sig = strtol((const char *)fr->payload, &end, 10);
  if (fr->len == 0 || end != (const char *)fr->payload + fr->len) return;
  if (sig == SIGINT || sig == SIGTERM || sig == SIGKILL || sig == SIGQUIT || sig == SIGUSR1 || sig == SIGUSR2)
    kill(-pgid, (int)sig);
}

/* A frame that arrived while a stage runs: 'I', 'C' and 'S' belong to the stage; file frames are answered
 * as between stages (a session's files stay reachable while a long stage, such as a kernel, runs). */
static void stage_frame(const struct frame *fr, struct stdin_pipe *in, pid_t pgid) {
  switch (fr->type) {
    case 'I': stdin_append(in, fr->payload, fr->len); break;
    case 'C': in->end = 1; stdin_flush(in); break;
    case 'S': signal_stage(pgid, fr); break;
    case 'F': put_file(fr->payload, fr->len); break;
    case 'G': get_file(fr->payload, fr->len, MAX_FRAME - 4); break;
    case 'L': list_files(); break;
    case 'U': unlink_file(fr->payload, fr->len); break;
    default: _exit(124);
  }
}

/* Relays one read of a program's output pipe as a frame; closes the pipe at EOF or on an error. */
static void relay(int *fd, char type) {
  static unsigned char buf[65536];
  ssize_t r = read(*fd, buf, sizeof buf);
  if (r > 0) send_frame(type, buf, (uint32_t)r);
  else if (r == 0 || (errno != EAGAIN && errno != EINTR)) { close(*fd); *fd = -1; }
}

/* Reaps every exited child; returns 1, with its status, when `main_pid` is among them. */
static int reap(int sigfd, pid_t main_pid, int *status) {
  struct signalfd_siginfo info;
  while (read(sigfd, &info, sizeof info) > 0) {}
  int st, found = 0;
  pid_t r;
  while ((r = waitpid(-1, &st, WNOHANG)) > 0) {
    if (r == main_pid) { found = 1; *status = st; }
  }
  return found;
}

static void run_stage(struct stage *s, int sigfd) {
  int in_p[2], out_p[2], err_p[2];
  if (pipe2(in_p, O_CLOEXEC) < 0 || pipe2(out_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0) die("pipe");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) child_exec(s, in_p[0], out_p[1], err_p[1]);
  setpgid(pid, pid); /* the child does it too: whichever runs first, the group exists before any 'S' */
  close(in_p[0]); close(out_p[1]); close(err_p[1]);
  set_nonblock(in_p[1]); set_nonblock(out_p[0]); set_nonblock(err_p[0]);

  struct stdin_pipe in = {in_p[1], NULL, 0, 0, 0};
  int out_fd = out_p[0], err_fd = err_p[0];
  int main_done = 0, status = 0;

  while (!main_done || out_fd >= 0 || err_fd >= 0) {
    struct pollfd fds[5];
    int n = 0, i_out = -1, i_err = -1, i_in = -1, i_host = -1, i_sig;
    if (out_fd >= 0) { i_out = n; fds[n].fd = out_fd; fds[n++].events = POLLIN; }
    if (err_fd >= 0) { i_err = n; fds[n].fd = err_fd; fds[n++].events = POLLIN; }
    if (in.fd >= 0 && stdin_pending(&in) > 0) { i_in = n; fds[n].fd = in.fd; fds[n++].events = POLLOUT; }
    /* Frames from the host, unless too much stdin waits for the program (backpressure). */
    if (!main_done && stdin_pending(&in) <= STDIN_PENDING_MAX) { i_host = n; fds[n].fd = 0; fds[n++].events = POLLIN; }
    i_sig = n; fds[n].fd = sigfd; fds[n++].events = POLLIN;
    if (poll(fds, (nfds_t)n, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (i_out >= 0 && fds[i_out].revents) relay(&out_fd, 'O');
    if (i_err >= 0 && fds[i_err].revents) relay(&err_fd, 'E');
    if (i_in >= 0 && fds[i_in].revents) stdin_flush(&in);
    if (i_host >= 0 && fds[i_host].revents) {
      struct frame fr;
      if (read_frame_step(&fr)) {
        stage_frame(&fr, &in, pid);
        free(fr.payload);
      }
    }
    /* Always reap (a pending SIGCHLD keeps poll from sleeping); once the main process is gone, only reap. */
    if (fds[i_sig].revents && reap(sigfd, main_done ? -1 : pid, &status)) {
      main_done = 1;
      /* Nothing of this stage may outlive it: kill every other process in the namespace. */
      kill(-1, SIGKILL);
      stdin_close(&in);
    }
  }
  kill(-1, SIGKILL);
  while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {}

  char msg[64];
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  int sig = WIFSIGNALED(status) ? WTERMSIG(status) : -1;
  int len = snprintf(msg, sizeof msg, "%d%c%d%c", code, '\0', sig, '\0');
  send_frame('X', msg, (uint32_t)len);
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
  signal(SIGPIPE, SIG_IGN); /* a pipe whose reader is gone is an EPIPE for init, not its end */
  fcntl(0, F_SETFD, FD_CLOEXEC);
  fcntl(1, F_SETFD, FD_CLOEXEC);
  int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (devnull >= 0) dup2(devnull, 2); /* init's own stderr is not the program's */

  send_frame('H', NULL, 0);
  for (;;) {
    struct frame fr;
    while (!read_frame_step(&fr)) {}
    switch (fr.type) {
      case 'F': put_file(fr.payload, fr.len); break;
      case 'G': get_file(fr.payload, fr.len, MAX_FRAME - 4); break;
      case 'L': list_files(); break;
      case 'U': unlink_file(fr.payload, fr.len); break;
      case 'R': {
        struct stage s = {0};
        if (parse_stage((char *)fr.payload, fr.len, &s) < 0) send_text('N', "bad run frame");
        else run_stage(&s, sigfd);
        free(s.argv);
        free(s.envp);
        break;
      }
      case 'I': case 'C': case 'S': break; /* stale: the stage they were sent for has ended */
      default: _exit(124);
    }
    free(fr.payload);
  }
}
