// bargehelper: barged's hands for the few host operations Node.js cannot do itself (mount, umount,
// network namespaces) and for running programs, without barged forking.
//
// Why: every child_process.spawn forks the whole Node.js process and waits until the child has
// exec'd, blocking barged's event loop for 2-3 ms each time, and mount(8)/umount(8)/unshare(1)
// cost as much again to start. A container's start and removal needed five of them. This helper
// is a small, single-threaded process barged starts once; a request costs a pipe round trip
// (mount, umount, a new netns) or a fork of this small process (running ip, bargemon).
//
// Protocol, on stdin/stdout (both pipes to barged), one request at a time, answered in order:
//   request:  u32 length (little-endian), then NUL-terminated fields: id, op, args...
//   response: u32 length, then NUL-terminated fields: id, status, out, err
// status is 0 for success, else an errno (mount/umount/netns) or the exit status of the program
// (run: 128+signal when killed). Ops:
//   mount  <cwd> <source> <target> <fstype> <flags> <data>  mount(2) run from cwd (overlay's
//                                                            relative lowerdirs resolve against it)
//   umount <target> <flags>                                  umount2(2) (flags: 2 = MNT_DETACH)
//   netns  <file>                                            a new network namespace, lo up,
//                                                            bind-mounted on the existing <file>
//   run    <netns file|""> <setsid 0|1> <stdin> <argv...>    fork, enter the netns, exec argv
//                                                            (PATH lookup), feed stdin, collect
//                                                            stdout/stderr (up to 64 MiB each), wait
// The helper exits when stdin closes (barged is gone) and with barged (PDEATHSIG). Children get
// default signal dispositions, no fds but their three pipes, and are killed after 120 s.
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQUEST (4 << 20)
#define MAX_FIELDS 512
#define MAX_OUTPUT (64 << 20)   /* iptables-save of a big host is megabytes: never truncated, refused past this */
#define RUN_TIMEOUT_MS 120000

struct buf { char *p; size_t n, cap; };

static void buf_add(struct buf *b, const void *d, size_t n) {
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) { perror("bargehelper: realloc"); exit(1); }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, d, n);
  b->n += n;
}

static int read_full(int fd, void *p, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)p + got, n - got);
    if (r == 0) return 0;
    if (r < 0) { if (errno == EINTR) continue; return -1; }
    got += (size_t)r;
  }
  return 1;
}

static void write_full(int fd, const void *p, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(fd, (const char *)p + done, n - done);
    if (w < 0) { if (errno == EINTR) continue; exit(1); }
    done += (size_t)w;
  }
}

static void reply(const char *id, int status, const char *out, size_t out_n, const char *err) {
  char st[16];
  snprintf(st, sizeof st, "%d", status);
  struct buf b = {0};
  uint32_t len = 0;
  buf_add(&b, &len, 4);
  buf_add(&b, id, strlen(id) + 1);
  buf_add(&b, st, strlen(st) + 1);
  buf_add(&b, out ? out : "", out ? out_n : 0);
  buf_add(&b, "", 1);
  buf_add(&b, err ? err : "", err ? strlen(err) : 0);
  buf_add(&b, "", 1);
  len = (uint32_t)(b.n - 4);
  memcpy(b.p, &len, 4);
  write_full(1, b.p, b.n);
  free(b.p);
}

static void reply_errno(const char *id, int e, const char *what) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(e));
  reply(id, e, NULL, 0, msg);
}

static void op_mount(const char *id, char **a, int n) {
  if (n != 6) { reply(id, EINVAL, NULL, 0, "mount: want cwd source target fstype flags data"); return; }
  if (a[0][0] && chdir(a[0]) < 0) { reply_errno(id, errno, "chdir"); return; }
  int r = mount(a[1], a[2], a[3], strtoul(a[4], NULL, 10), a[5]);
  int e = errno;
  if (chdir("/") < 0) { /* "/" is always there */ }
  if (r < 0) reply_errno(id, e, "mount"); else reply(id, 0, NULL, 0, NULL);
}

static void op_umount(const char *id, char **a, int n) {
  if (n != 2) { reply(id, EINVAL, NULL, 0, "umount: want target flags"); return; }
  if (umount2(a[0], (int)strtol(a[1], NULL, 10) | UMOUNT_NOFOLLOW) < 0) reply_errno(id, errno, "umount");
  else reply(id, 0, NULL, 0, NULL);
}

// A new network namespace with lo up, kept alive by a bind mount on `file`. The helper enters it
// to set it up and goes back to its own namespace (it is single-threaded).
static void op_netns(const char *id, char **a, int n) {
  if (n != 1) { reply(id, EINVAL, NULL, 0, "netns: want file"); return; }
  int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) { reply_errno(id, errno, "open own netns"); return; }
  const char *what = NULL;
  int e = 0;
  if (unshare(CLONE_NEWNET) < 0) { what = "unshare"; e = errno; close(home); reply_errno(id, e, what); return; }
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  if (s < 0) { what = "socket"; e = errno; }
  else if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) { what = "get lo flags"; e = errno; }
  else {
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) { what = "set lo up"; e = errno; }
    else if (mount("/proc/self/ns/net", a[0], "none", MS_BIND, NULL) < 0) { what = "bind-mount the namespace"; e = errno; }
  }
  if (s >= 0) close(s);
  if (setns(home, CLONE_NEWNET) < 0) { perror("bargehelper: cannot return to its own network namespace"); exit(1); }
  close(home);
  if (what) reply_errno(id, e, what); else reply(id, 0, NULL, 0, NULL);
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void op_run(const char *id, char **a, int n) {
  if (n < 4) { reply(id, EINVAL, NULL, 0, "run: want netns setsid stdin argv..."); return; }
  const char *netns = a[0], *input = a[2];
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) < 0) { reply_errno(id, errno, "pipe"); return; }
  if (pipe2(out, O_CLOEXEC) < 0) { int e = errno; close(in[0]); close(in[1]); reply_errno(id, e, "pipe"); return; }
  if (pipe2(err, O_CLOEXEC) < 0) { int e = errno; close(in[0]); close(in[1]); close(out[0]); close(out[1]); reply_errno(id, e, "pipe"); return; }
  int nsfd = -1;
  if (netns[0] && (nsfd = open(netns, O_RDONLY | O_CLOEXEC)) < 0) {
    int e = errno;
    close(in[0]); close(in[1]); close(out[0]); close(out[1]); close(err[0]); close(err[1]);
    reply_errno(id, e, netns);
    return;
  }
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(in[0]); close(in[1]); close(out[0]); close(out[1]); close(err[0]); close(err[1]);
    if (nsfd >= 0) close(nsfd);
    reply_errno(id, e, "fork");
    return;
  }
  if (pid == 0) {
    for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    prctl(PR_SET_PDEATHSIG, 0);
    if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET) < 0) { dprintf(err[1], "cannot enter %s: %s\n", netns, strerror(errno)); _exit(127); }
    if (a[1][0] == '1') setsid();
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    execvp(a[3], &a[3]);
    dprintf(2, "cannot run %s: %s\n", a[3], strerror(errno));
    _exit(127);
  }
  if (nsfd >= 0) close(nsfd);
  close(in[0]); close(out[1]); close(err[1]);
  size_t in_len = strlen(input), in_off = 0;
  if (in_len == 0) { close(in[1]); in[1] = -1; }
  else fcntl(in[1], F_SETFL, O_NONBLOCK);
  struct buf o = {0}, e = {0};
  int fo = out[0], fe = err[0];
  long long deadline = now_ms() + RUN_TIMEOUT_MS;
  int killed = 0, toolong = 0;
  while (fo >= 0 || fe >= 0 || in[1] >= 0) {
    struct pollfd p[3];
    int np = 0, io = -1, ie = -1, ii = -1;
    if (fo >= 0) { io = np; p[np++] = (struct pollfd){ .fd = fo, .events = POLLIN }; }
    if (fe >= 0) { ie = np; p[np++] = (struct pollfd){ .fd = fe, .events = POLLIN }; }
    if (in[1] >= 0) { ii = np; p[np++] = (struct pollfd){ .fd = in[1], .events = POLLOUT }; }
    long long left = deadline - now_ms();
    if (left <= 0) {
      if (killed) break;   // a grandchild still holds the pipes: stop reading them
      kill(pid, SIGKILL);
      killed = 1;
      deadline = now_ms() + 5000;
      continue;
    }
    int r = poll(p, np, (int)left);
    if (r < 0) { if (errno == EINTR) continue; break; }
    char chunk[65536];
    if (io >= 0 && p[io].revents) {
      ssize_t k = read(fo, chunk, sizeof chunk);
      if (k > 0) { if (o.n < MAX_OUTPUT) buf_add(&o, chunk, (size_t)k); else toolong = 1; }
      else if (k == 0 || errno != EINTR) { close(fo); fo = -1; }
    }
    if (ie >= 0 && p[ie].revents) {
      ssize_t k = read(fe, chunk, sizeof chunk);
      if (k > 0) { if (e.n < MAX_OUTPUT) buf_add(&e, chunk, (size_t)k); else toolong = 1; }
      else if (k == 0 || errno != EINTR) { close(fe); fe = -1; }
    }
    if (toolong && !killed) { kill(pid, SIGKILL); killed = 1; deadline = now_ms() + 5000; }
    if (ii >= 0 && p[ii].revents) {
      ssize_t w = (p[ii].revents & POLLOUT) ? write(in[1], input + in_off, in_len - in_off) : -1;
      if (w > 0) in_off += (size_t)w;
      if ((w < 0 && errno != EINTR && errno != EAGAIN) || in_off == in_len) { close(in[1]); in[1] = -1; }
    }
  }
  if (fo >= 0) close(fo);
  if (fe >= 0) close(fe);
  if (in[1] >= 0) close(in[1]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  if (toolong) {
    free(o.p);
    free(e.p);
    reply(id, 125, NULL, 0, "bargehelper: the program's output passed 64 MiB: it was stopped");
    return;
  }
  buf_add(&e, "", 1);
  // Outputs are fields: a NUL inside them would cut them short (tools print text).
  for (size_t i = 0; i < o.n; i++) if (!o.p[i]) o.p[i] = ' ';
  reply(id, code, o.p, o.n, e.p);
  free(o.p);
  free(e.p);
}

int main(void) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) return 0;   // barged died before the line above
  // Ctrl-C on barged's terminal reaches its whole process group: barged decides what happens.
  signal(SIGINT, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  if (chdir("/") < 0) return 1;
  for (;;) {
    uint32_t len;
    int r = read_full(0, &len, 4);
    if (r <= 0) return r < 0;
    if (len == 0 || len > MAX_REQUEST) { fprintf(stderr, "bargehelper: bad request length %u\n", len); return 1; }
    char *req = malloc(len + 1);
    if (!req) return 1;
    if (read_full(0, req, len) <= 0) return 1;
    req[len] = 0;   // the last field is terminated even if the request is not
    char *f[MAX_FIELDS + 1];
    int nf = 0;
    for (char *p = req; p < req + len && nf < MAX_FIELDS; p += strlen(p) + 1) f[nf++] = p;
    f[nf] = NULL;
    if (nf < 2) { reply(nf ? f[0] : "", EINVAL, NULL, 0, "bad request"); free(req); continue; }
    const char *id = f[0], *op = f[1];
    char **a = &f[2];
    int na = nf - 2;
    if (!strcmp(op, "mount")) op_mount(id, a, na);
    else if (!strcmp(op, "umount")) op_umount(id, a, na);
    else if (!strcmp(op, "netns")) op_netns(id, a, na);
    else if (!strcmp(op, "run")) op_run(id, a, na);
    else reply(id, EINVAL, NULL, 0, "unknown op");
    free(req);
  }
}
