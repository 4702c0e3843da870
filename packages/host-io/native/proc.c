// Process and descriptor calls Node.js lacks, for user-mode emulation of a
// guest that forks: pipe2, lseek, fcntl, posix_spawn with placed descriptors,
// waitpid, memfd, and a SIGCHLD counter with a self-pipe to sleep on.
// Plain Node-API (C), no dependencies. Every call returns a result >= 0 or
// -errno (the Linux numbers, which the guest uses too), never throws for an
// errno, so an emulator can hand results straight back to its guest.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <node_api.h>

static napi_value num(napi_env env, double v) {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
}

static double arg_num(napi_env env, napi_value v) {
  double d = 0;
  napi_get_value_double(env, v, &d);
  return d;
}

#define ARGS(n)                                   \
  size_t argc = n;                                \
  napi_value argv[n];                             \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL); \
  if (argc < n) { napi_throw_type_error(env, NULL, "missing arguments"); return NULL; }

// pipe2(flags) -> [readFd, writeFd] or -errno. Host ends are always close-on-exec:
// a child only gets the descriptors spawn() places for it.
static napi_value p_pipe2(napi_env env, napi_callback_info info) {
  ARGS(1);
  int fds[2];
  if (pipe2(fds, ((int)arg_num(env, argv[0]) & O_NONBLOCK) | O_CLOEXEC) < 0) return num(env, -errno);
  napi_value arr;
  napi_create_array_with_length(env, 2, &arr);
  napi_set_element(env, arr, 0, num(env, fds[0]));
  napi_set_element(env, arr, 1, num(env, fds[1]));
  return arr;
}

// lseek(fd, offset, whence) -> new offset or -errno (the kernel's offset, shared across processes).
static napi_value p_lseek(napi_env env, napi_callback_info info) {
  ARGS(3);
  off_t r = lseek((int)arg_num(env, argv[0]), (off_t)arg_num(env, argv[1]), (int)arg_num(env, argv[2]));
  return num(env, r < 0 ? -errno : (double)r);
}

// fcntl(fd, cmd, arg) for the integer commands (F_GETFL, F_SETFL, F_GETFD, F_SETFD).
static napi_value p_fcntl(napi_env env, napi_callback_info info) {
  ARGS(3);
  int r = fcntl((int)arg_num(env, argv[0]), (int)arg_num(env, argv[1]), (int)arg_num(env, argv[2]));
  return num(env, r < 0 ? -errno : r);
}

// memfd() -> a close-on-exec anonymous file (fork state hand-over) or -errno.
static napi_value p_memfd(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = memfd_create("tsemu-fork", MFD_CLOEXEC);
  return num(env, fd < 0 ? -errno : fd);
}

static char **string_array(napi_env env, napi_value arr) {
  uint32_t n = 0;
  napi_get_array_length(env, arr, &n);
  char **out = calloc(n + 1, sizeof *out);
  for (uint32_t i = 0; out && i < n; i++) {
    napi_value v;
    size_t len = 0;
    napi_get_element(env, arr, i, &v);
    napi_get_value_string_utf8(env, v, NULL, 0, &len);
    out[i] = malloc(len + 1);
    if (out[i]) napi_get_value_string_utf8(env, v, out[i], len + 1, &len);
  }
  return out;
}

static void free_strings(char **a) {
  for (char **p = a; p && *p; p++) free(*p);
  free(a);
}

// spawn(path, argv[], envp[], fds: Int32Array of [childFd, parentFd] pairs[, signals]) -> pid or -errno.
// Exactly the listed descriptors are open in the child (everything else of ours is
// close-on-exec or closed here); signal dispositions and mask start at their defaults
// unless `signals` says otherwise (below).
static napi_value p_spawn(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) { napi_throw_type_error(env, NULL, "missing arguments"); return NULL; }
  size_t plen = 0;
  napi_get_value_string_utf8(env, argv[0], NULL, 0, &plen);
  char *path = malloc(plen + 1);
  napi_get_value_string_utf8(env, argv[0], path, plen + 1, &plen);
  char **av = string_array(env, argv[1]), **ev = string_array(env, argv[2]);
  napi_typedarray_type type;
  size_t n = 0;
  void *data = NULL;
  napi_get_typedarray_info(env, argv[3], &type, &n, &data, NULL, NULL);
  const int32_t *pairs = data;
  size_t count = type == napi_int32_array ? n / 2 : 0;

  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  // Move every source above all numbers in play first, so placing one never clobbers another.
  int base = 3, top = -1;
  for (size_t i = 0; i < count * 2; i++) if (pairs[i] >= base) base = pairs[i] + 1;
  for (size_t i = 0; i < count; i++) {
    posix_spawn_file_actions_adddup2(&fa, pairs[2 * i + 1], base + (int)i);
    if (pairs[2 * i] > top) top = pairs[2 * i];
  }
  for (size_t i = 0; i < count; i++) {
    posix_spawn_file_actions_adddup2(&fa, base + (int)i, pairs[2 * i]);
    posix_spawn_file_actions_addclose(&fa, base + (int)i);
  }
  // Our own stdio and any other low descriptor the child should not see.
  for (int fd = 0; fd <= top || fd <= 2; fd++) {
    int wanted = 0;
    for (size_t i = 0; i < count; i++) if (pairs[2 * i] == fd) wanted = 1;
    if (!wanted) posix_spawn_file_actions_addclose(&fa, fd);
  }
  // Optional 5th argument, Int32Array [defaultLo, defaultHi, maskLo, maskHi] (bit sig-1):
  // only those signals go back to SIG_DFL (the others keep what we have, so an ignored
  // one stays ignored across the exec, as execve does) and the mask is set to it.
  sigset_t dfl, mask;
  sigfillset(&dfl);
  sigemptyset(&mask);
  if (argc > 4) {
    napi_typedarray_type st;
    size_t sn = 0;
    void *sd = NULL;
    napi_valuetype vt;
    napi_typeof(env, argv[4], &vt);
    if (vt == napi_object) napi_get_typedarray_info(env, argv[4], &st, &sn, &sd, NULL, NULL);
    if (sd && st == napi_int32_array && sn >= 4) {
      const uint32_t *w = sd;
      sigemptyset(&dfl);
      for (int sig = 1; sig <= 64; sig++) {
        uint32_t b = 1u << ((sig - 1) & 31);
        if (w[(sig - 1) >> 5] & b) sigaddset(&dfl, sig); // glibc refuses its own 32/33: they stay as they are
        if (w[2 + ((sig - 1) >> 5)] & b && sig != SIGKILL && sig != SIGSTOP) sigaddset(&mask, sig);
      }
    }
  }
  posix_spawnattr_setsigdefault(&at, &dfl);
  posix_spawnattr_setsigmask(&at, &mask);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  int err = posix_spawn(&pid, path, &fa, &at, av, ev);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  free(path);
  free_strings(av);
  free_strings(ev);
  return num(env, err ? -err : pid);
}

// waitpid(pid, options, status: Int32Array) -> pid (status[0] = wait status), 0 (WNOHANG), or -errno.
static napi_value p_waitpid(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t *out = NULL;
  size_t n = 0;
  napi_get_typedarray_info(env, argv[2], NULL, &n, (void **)&out, NULL, NULL);
  int status = 0;
  pid_t r;
  do r = waitpid((pid_t)arg_num(env, argv[0]), &status, (int)arg_num(env, argv[1]));
  while (r < 0 && errno == EINTR);
  if (r < 0) return num(env, -errno);
  if (out && n > 0) out[0] = status;
  return num(env, r);
}

// SIGCHLD: the handler counts into a JS-owned Int32Array and wakes a self-pipe,
// so the emulator can poll cheaply (one typed-array read) and sleep in poll().
// Signals the guest catches: the handler ORs the signal's bit into word 0 of a
// second JS-owned Int32Array (sender pid / uid in words 1 + sig and 33 + sig)
// and wakes the same pipe. Blocking calls here go on after EINTR only while
// that word is 0, so a caught signal interrupts them.
static volatile int32_t *chld_counter;
static volatile int32_t *sig_pending;
static int chld_pipe[2] = { -1, -1 };

static void wake(void) {
  if (chld_pipe[1] >= 0) { ssize_t w = write(chld_pipe[1], "", 1); (void)w; }
}

static void on_sigchld(int sig) {
  (void)sig;
  int saved = errno;
  if (chld_counter) __atomic_fetch_add(chld_counter, 1, __ATOMIC_SEQ_CST);
  wake();
  errno = saved;
}

// Real-time signals (SIGRTMIN..SIGRTMAX) when the array is long enough (RT_WORDS): word 65
// has bit sig-33, words 66/98/130/162 + sig-33 the sender's pid, uid, si_code and
// si_value (sigqueue), and bit 31 of word 0 (signal 32, glibc's own, never caught here)
// says "look at word 65", so one load of word 0 still tells whether anything came in.
#define RT_BITS 65
#define RT_WORDS 194
static int sig_rt;

static void on_guest_signal(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  int saved = errno;
  if (sig_pending && sig > 0 && sig < 32) {
    sig_pending[1 + sig] = si ? si->si_pid : 0;
    sig_pending[33 + sig] = si ? (int32_t)si->si_uid : 0;
    __atomic_fetch_or(sig_pending, (int32_t)(1u << (sig - 1)), __ATOMIC_SEQ_CST);
  } else if (sig_pending && sig_rt && sig > 32 && sig <= 64) {
    int i = sig - 33;
    sig_pending[RT_BITS + 1 + i] = si ? si->si_pid : 0;
    sig_pending[RT_BITS + 33 + i] = si ? (int32_t)si->si_uid : 0;
    sig_pending[RT_BITS + 65 + i] = si ? si->si_code : 0;
    sig_pending[RT_BITS + 97 + i] = si ? si->si_value.sival_int : 0;
    __atomic_fetch_or(sig_pending + RT_BITS, (int32_t)(1u << i), __ATOMIC_SEQ_CST);
    __atomic_fetch_or(sig_pending, (int32_t)(1u << 31), __ATOMIC_SEQ_CST);
  }
  wake();
  errno = saved;
}

static int interrupted(void) {
  return sig_pending && __atomic_load_n(sig_pending, __ATOMIC_SEQ_CST) != 0;
}

static int ensure_pipe(void) {
  return chld_pipe[0] >= 0 || pipe2(chld_pipe, O_CLOEXEC | O_NONBLOCK) == 0 ? 0 : -errno;
}

// watchChildren(counter: Int32Array) -> 0 or -errno. The array must stay referenced.
static napi_value p_watch_children(napi_env env, napi_callback_info info) {
  ARGS(1);
  void *data = NULL;
  napi_get_typedarray_info(env, argv[0], NULL, NULL, &data, NULL, NULL);
  chld_counter = data;
  int e = ensure_pipe();
  if (e < 0) return num(env, e);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigchld;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGCHLD, &sa, NULL) < 0) return num(env, -errno);
  return num(env, 0);
}

// watchSignals(pending: Int32Array(65), or RT_WORDS for real-time signals too) -> 0 or -errno.
// The array must stay referenced.
static napi_value p_watch_signals(napi_env env, napi_callback_info info) {
  ARGS(1);
  void *data = NULL;
  size_t n = 0;
  napi_get_typedarray_info(env, argv[0], NULL, &n, &data, NULL, NULL);
  if (n < 65) return num(env, -EINVAL);
  sig_rt = n >= RT_WORDS;
  sig_pending = data;
  return num(env, ensure_pipe());
}

// setSignal(sig, mode): 0 default, 1 ignore, 2 catch into the pending word (no SA_RESTART,
// so blocking calls see EINTR); sig 1-31 or SIGRTMIN..SIGRTMAX. Hardware-fault signals, SIGKILL/SIGSTOP and SIGCHLD
// (watchChildren's) are refused: guest faults are synthesised, and V8 may need them.
static napi_value p_set_signal(napi_env env, napi_callback_info info) {
  ARGS(2);
  int sig = (int)arg_num(env, argv[0]), mode = (int)arg_num(env, argv[1]);
  int rt = sig >= SIGRTMIN && sig <= SIGRTMAX; // glibc keeps 32 and 33 for itself
  if ((sig < 1 || sig > 31) && !rt) return num(env, -EINVAL);
  if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP ||
      sig == SIGKILL || sig == SIGSTOP || sig == SIGCHLD) return num(env, -EINVAL);
  if (mode == 2 && (!sig_pending || (rt && !sig_rt))) return num(env, -EINVAL);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  if (mode == 2) { sa.sa_sigaction = on_guest_signal; sa.sa_flags = SA_SIGINFO; }
  else sa.sa_handler = mode == 1 ? SIG_IGN : SIG_DFL;
  if (sigaction(sig, &sa, NULL) < 0) return num(env, -errno);
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, sig);
  sigprocmask(SIG_UNBLOCK, &s, NULL);
  return num(env, 0);
}

// waitChildEvent(timeoutMs): sleep until a SIGCHLD or caught signal arrived since the last call
// (or the timeout). 1 woken, 0 timed out, -EINTR a caught signal interrupted the poll itself.
static napi_value p_wait_child_event(napi_env env, napi_callback_info info) {
  ARGS(1);
  if (chld_pipe[0] < 0) return num(env, -EINVAL);
  struct pollfd p = { .fd = chld_pipe[0], .events = POLLIN };
  int r;
  do r = poll(&p, 1, (int)arg_num(env, argv[0])); // a SIGCHLD may interrupt it: look again
  while (r < 0 && errno == EINTR && !interrupted());
  int err = errno;
  char buf[64];
  while (read(chld_pipe[0], buf, sizeof buf) > 0) {}
  return num(env, r < 0 ? -err : r);
}

// itimer(which, next: Int32Array(4) | null, old: Int32Array(4)) -> 0 or -errno: setitimer(2) when
// `next` is given, else getitimer(2). Layout: interval sec, usec, value sec, usec. A guest's
// ITIMER_REAL is the host's: its SIGALRM then reaches the guest's handler like any other signal.
static napi_value p_itimer(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t *nv = NULL, *ov = NULL;
  size_t nn = 0, on = 0;
  napi_valuetype t;
  napi_typeof(env, argv[1], &t);
  if (t == napi_object) napi_get_typedarray_info(env, argv[1], NULL, &nn, (void **)&nv, NULL, NULL);
  napi_get_typedarray_info(env, argv[2], NULL, &on, (void **)&ov, NULL, NULL);
  if ((nv && nn < 4) || !ov || on < 4) return num(env, -EINVAL);
  struct itimerval o, n;
  int r;
  if (nv) {
    n.it_interval.tv_sec = nv[0]; n.it_interval.tv_usec = nv[1];
    n.it_value.tv_sec = nv[2]; n.it_value.tv_usec = nv[3];
    r = setitimer((int)arg_num(env, argv[0]), &n, &o);
  } else r = getitimer((int)arg_num(env, argv[0]), &o);
  if (r < 0) return num(env, -errno);
  ov[0] = (int32_t)o.it_interval.tv_sec; ov[1] = (int32_t)o.it_interval.tv_usec;
  ov[2] = (int32_t)o.it_value.tv_sec; ov[3] = (int32_t)o.it_value.tv_usec;
  return num(env, 0);
}

// read(fd, buf: Uint8Array, offset, length) -> bytes or -errno; -EINTR when a caught signal arrived.
static napi_value p_read(napi_env env, napi_callback_info info) {
  ARGS(4);
  uint8_t *b = NULL;
  size_t n = 0;
  napi_get_typedarray_info(env, argv[1], NULL, &n, (void **)&b, NULL, NULL);
  size_t off = (size_t)arg_num(env, argv[2]), len = (size_t)arg_num(env, argv[3]);
  if (!b || off > n) return num(env, -EFAULT);
  if (len > n - off) len = n - off;
  ssize_t r;
  do r = read((int)arg_num(env, argv[0]), b + off, len);
  while (r < 0 && errno == EINTR && !interrupted());
  return num(env, r < 0 ? -errno : (double)r);
}

// poll(fds: Int32Array of [fd, events, revents] triples, timeoutMs) -> ready count or -errno; fills revents.
static napi_value p_poll(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t *t = NULL;
  size_t n = 0;
  napi_get_typedarray_info(env, argv[0], NULL, &n, (void **)&t, NULL, NULL);
  n /= 3;
  struct pollfd stack[16], *p = n <= 16 ? stack : calloc(n, sizeof *p);
  if (!p) return num(env, -ENOMEM);
  for (size_t i = 0; i < n; i++) { p[i].fd = t[3 * i]; p[i].events = (short)t[3 * i + 1]; p[i].revents = 0; }
  int r;
  do r = poll(p, n, (int)arg_num(env, argv[1]));
  while (r < 0 && errno == EINTR && !interrupted());
  int err = errno;
  for (size_t i = 0; i < n; i++) t[3 * i + 2] = (uint16_t)p[i].revents;
  if (p != stack) free(p);
  return num(env, r < 0 ? -err : r);
}

// defaultSignal(sig): back to SIG_DFL (Node ignores SIGPIPE; a guest dying of it must really die).
static napi_value p_default_signal(napi_env env, napi_callback_info info) {
  ARGS(1);
  int sig = (int)arg_num(env, argv[0]);
  signal(sig, SIG_DFL);
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, sig);
  sigprocmask(SIG_UNBLOCK, &s, NULL);
  return num(env, 0);
}

// isatty(fd) -> 1 for a terminal, else 0 (linux-user's TCGETS: node:tty would load node:net at start-up).
static napi_value p_isatty(napi_env env, napi_callback_info info) {
  ARGS(1);
  return num(env, isatty((int)arg_num(env, argv[0])) ? 1 : 0);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "pipe2", NULL, p_pipe2, NULL, NULL, NULL, napi_enumerable, NULL },
    { "lseek", NULL, p_lseek, NULL, NULL, NULL, napi_enumerable, NULL },
    { "fcntl", NULL, p_fcntl, NULL, NULL, NULL, napi_enumerable, NULL },
    { "memfd", NULL, p_memfd, NULL, NULL, NULL, napi_enumerable, NULL },
    { "spawn", NULL, p_spawn, NULL, NULL, NULL, napi_enumerable, NULL },
    { "waitpid", NULL, p_waitpid, NULL, NULL, NULL, napi_enumerable, NULL },
    { "watchChildren", NULL, p_watch_children, NULL, NULL, NULL, napi_enumerable, NULL },
    { "waitChildEvent", NULL, p_wait_child_event, NULL, NULL, NULL, napi_enumerable, NULL },
    { "watchSignals", NULL, p_watch_signals, NULL, NULL, NULL, napi_enumerable, NULL },
    { "setSignal", NULL, p_set_signal, NULL, NULL, NULL, napi_enumerable, NULL },
    { "itimer", NULL, p_itimer, NULL, NULL, NULL, napi_enumerable, NULL },
    { "read", NULL, p_read, NULL, NULL, NULL, napi_enumerable, NULL },
    { "poll", NULL, p_poll, NULL, NULL, NULL, napi_enumerable, NULL },
    { "defaultSignal", NULL, p_default_signal, NULL, NULL, NULL, napi_enumerable, NULL },
    { "isatty", NULL, p_isatty, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
