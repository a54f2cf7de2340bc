#define _GNU_SOURCE  // strptime, timegm
#include "CVigil.h"
#include <spawn.h>

int vigil_errno(void) { return errno; }
void vigil_set_errno(int value) { errno = value; }

int vigil_open(const char *path, int flags, unsigned int mode) {
  return open(path, flags | O_CLOEXEC, (mode_t)mode);
}

int vigil_set_nonblock_cloexec(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -1;
  int fdfl = fcntl(fd, F_GETFD);
  if (fdfl < 0 || fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0) return -1;
  return 0;
}

int vigil_tty_outq(int fd) {
  int n = 0;
  if (ioctl(fd, TIOCOUTQ, &n) < 0) return -1;
  return n;
}

int vigil_tcp_quickack(int fd) {
  int one = 1;
  return setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
}

int vigil_fd_is_socket(int fd) {
  struct stat st;
  if (fstat(fd, &st) < 0) return -1;
  return S_ISSOCK(st.st_mode) ? 1 : 0;
}

long vigil_write_now(int fd, const void *buf, size_t n, int is_socket) {
  if (is_socket) return (long)send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
  // A pipe that polls writable has a free page slot, and a write of at most PIPE_BUF bytes
  // takes one (pipe_write in fs/pipe.c): it does not wait, unless another process fills the
  // pipe between the two calls. A file or /dev/null always polls writable.
  struct pollfd p = {.fd = fd, .events = POLLOUT, .revents = 0};
  int r = poll(&p, 1, 0);
  if (r < 0) return -1;
  if (r == 0 || !(p.revents & POLLOUT)) {
    errno = (p.revents & (POLLERR | POLLHUP)) ? EPIPE : EAGAIN;
    return -1;
  }
  return (long)write(fd, buf, n);
}

int vigil_sock_stream_nonblock(void) { return SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC; }
int vigil_sock_dgram_cloexec(void) { return SOCK_DGRAM | SOCK_CLOEXEC; }

int vigil_clock_synced(void) {
  struct timex tx;
  memset(&tx, 0, sizeof tx);
  int state = adjtimex(&tx);
  if (state < 0) return 0;
  return (state != TIME_ERROR && !(tx.status & STA_UNSYNC)) ? 1 : 0;
}

long long vigil_http_date(const char *value) {
  // The forms in the order RFC 9110 ranks them; %a and %b are English in the C locale, which
  // the agent never leaves. The zone must be GMT (or left out, as asctime does).
  static const char *const forms[] = {"%a, %d %b %Y %H:%M:%S", "%A, %d-%b-%y %H:%M:%S",
                                      "%a %b %e %H:%M:%S %Y"};
  for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(value, forms[i], &tm);
    if (!end) continue;
    while (*end == ' ') end++;
    if (*end && strcmp(end, "GMT") != 0 && strcmp(end, "UTC") != 0) continue;
    time_t t = timegm(&tm);
    if (t == (time_t)-1) continue;
    return (long long)t;
  }
  return -1;
}

static speed_t speed_of(unsigned int baud) {
  switch (baud) {
  case 9600: return B9600;
  case 19200: return B19200;
  case 38400: return B38400;
  case 57600: return B57600;
  case 115200: return B115200;
  case 230400: return B230400;
  case 460800: return B460800;
  case 921600: return B921600;
  default: return 0;
  }
}

int vigil_tty_raw(int fd, unsigned int baud) {
  speed_t speed = speed_of(baud);
  if (speed == 0) { errno = EINVAL; return -1; }
  struct termios t;
  if (tcgetattr(fd, &t) < 0) return -1;
  cfmakeraw(&t);
  t.c_cflag &= ~(CSTOPB | PARENB | CRTSCTS);
  t.c_cflag |= CS8 | CLOCAL | CREAD;
  t.c_cc[VMIN] = 1;
  t.c_cc[VTIME] = 0;
  if (cfsetispeed(&t, speed) < 0 || cfsetospeed(&t, speed) < 0) return -1;
  return tcsetattr(fd, TCSANOW, &t);
}

CURLcode vigil_curl_global_init(void) { return curl_global_init(CURL_GLOBAL_DEFAULT); }
CURLcode vigil_curl_easy_setopt_long(CURL *h, CURLoption opt, long value) {
  return curl_easy_setopt(h, opt, value);
}
CURLcode vigil_curl_easy_setopt_str(CURL *h, CURLoption opt, const char *value) {
  return curl_easy_setopt(h, opt, value);
}
CURLcode vigil_curl_easy_setopt_ptr(CURL *h, CURLoption opt, void *value) {
  return curl_easy_setopt(h, opt, value);
}
CURLcode vigil_curl_easy_setopt_datafn(CURL *h, CURLoption opt, vigil_curl_data_fn fn) {
  return curl_easy_setopt(h, opt, fn);
}
long vigil_curlauth_basic_digest(void) { return (long)(CURLAUTH_BASIC | CURLAUTH_DIGEST); }
long vigil_curlauth_digest(void) { return (long)CURLAUTH_DIGEST; }
CURLcode vigil_curl_easy_getinfo_long(CURL *h, CURLINFO info, long *out) {
  return curl_easy_getinfo(h, info, out);
}
long long vigil_curl_content_length(CURL *h) {
  curl_off_t length = -1;
  if (curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) != CURLE_OK) return -1;
  return length;
}
CURLMcode vigil_curl_multi_setopt_socketfn(CURLM *m, vigil_curl_socket_fn fn, void *user) {
  CURLMcode rc = curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, fn);
  return rc != CURLM_OK ? rc : curl_multi_setopt(m, CURLMOPT_SOCKETDATA, user);
}
CURLMcode vigil_curl_multi_setopt_timerfn(CURLM *m, vigil_curl_timer_fn fn, void *user) {
  CURLMcode rc = curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, fn);
  return rc != CURLM_OK ? rc : curl_multi_setopt(m, CURLMOPT_TIMERDATA, user);
}
CURLcode vigil_curl_msg_result(const CURLMsg *msg) { return msg->data.result; }

#ifdef VIGIL_EMBEDDED_MAIN
/// The Embedded build has no CommandLine: the C entry point hands argv to Swift.
int vigil_entry(int argc, char **argv);
int main(int argc, char **argv) { return vigil_entry(argc, argv); }
#endif

int vigil_spawn(const char *path, const char *a1, const char *a2, int out_fd) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  sigset_t none;
  pid_t pid;
  char *argv[] = {(char *)path, (char *)a1, (char *)a2, NULL};
  sigemptyset(&none);
  if (posix_spawn_file_actions_init(&fa) != 0) return -1;
  if (posix_spawnattr_init(&at) != 0) {
    posix_spawn_file_actions_destroy(&fa);
    return -1;
  }
  posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
  int rc = posix_spawn(&pid, path, &fa, &at, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  if (rc != 0) {
    errno = rc;
    return -1;
  }
  return pid;
}

int vigil_exec_self_args(const char *path, char *const argv[]) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execv(path, argv);
  return -1;
}
