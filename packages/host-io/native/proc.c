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

// spawn(path, argv[], envp[], fds: Int32Array of [childFd, parentFd] pairs) -> pid or -errno.
// Exactly the listed descriptors are open in the child (everything else of ours is
// close-on-exec or closed here); signal dispositions and mask start at their defaults.
static napi_value p_spawn(napi_env env, napi_callback_info info) {
  ARGS(4);
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
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&at, &all);
  posix_spawnattr_setsigmask(&at, &none);
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
static volatile int32_t *chld_counter;
static int chld_pipe[2] = { -1, -1 };

static void on_sigchld(int sig) {
  (void)sig;
  int saved = errno;
  if (chld_counter) __atomic_fetch_add(chld_counter, 1, __ATOMIC_SEQ_CST);
  if (chld_pipe[1] >= 0) { ssize_t w = write(chld_pipe[1], "", 1); (void)w; }
  errno = saved;
}

// watchChildren(counter: Int32Array) -> 0 or -errno. The array must stay referenced.
static napi_value p_watch_children(napi_env env, napi_callback_info info) {
  ARGS(1);
  void *data = NULL;
  napi_get_typedarray_info(env, argv[0], NULL, NULL, &data, NULL, NULL);
  chld_counter = data;
  if (chld_pipe[0] < 0 && pipe2(chld_pipe, O_CLOEXEC | O_NONBLOCK) < 0) return num(env, -errno);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigchld;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGCHLD, &sa, NULL) < 0) return num(env, -errno);
  return num(env, 0);
}

// waitChildEvent(timeoutMs): sleep until a SIGCHLD arrived since the last call (or the timeout).
static napi_value p_wait_child_event(napi_env env, napi_callback_info info) {
  ARGS(1);
  if (chld_pipe[0] < 0) return num(env, -EINVAL);
  struct pollfd p = { .fd = chld_pipe[0], .events = POLLIN };
  int r;
  do r = poll(&p, 1, (int)arg_num(env, argv[0])); // the SIGCHLD itself may interrupt it: look again
  while (r < 0 && errno == EINTR);
  int err = errno;
  char buf[64];
  while (read(chld_pipe[0], buf, sizeof buf) > 0) {}
  return num(env, r < 0 ? -err : r);
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
  while (r < 0 && errno == EINTR);
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
    { "poll", NULL, p_poll, NULL, NULL, NULL, napi_enumerable, NULL },
    { "defaultSignal", NULL, p_default_signal, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
