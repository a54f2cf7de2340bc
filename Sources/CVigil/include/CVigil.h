// CVigil: the POSIX headers Vigil uses, as one C module that serves both the host build and the
// Embedded build (which has no Glibc module), plus shims for C APIs Swift cannot call directly:
// variadic functions (fcntl, open, ioctl, curl_easy_setopt) and macros (errno, signal sets).
#ifndef CVIGIL_H
#define CVIGIL_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <termios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/timex.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <getopt.h>
#include <malloc.h>
#include <curl/curl.h>

/// errno is a macro over a thread-local; Swift sees it through these.
int vigil_errno(void);
void vigil_set_errno(int value);

/// open(2) is variadic.
int vigil_open(const char *path, int flags, unsigned int mode);
/// fcntl(2) is variadic: the two uses Vigil has.
int vigil_set_nonblock_cloexec(int fd);
/// ioctl(2) is variadic: bytes waiting in a tty's output queue (TIOCOUTQ).
int vigil_tty_outq(int fd);
/// TCP_QUICKACK on: the next ACKs go at once rather than delayed (the kernel clears it again
/// after a while, so it is set after every read).
int vigil_tcp_quickack(int fd);

/// Whether fd is a socket (S_ISSOCK is a macro): 1 yes, 0 no, -1 and errno if fstat fails.
int vigil_fd_is_socket(int fd);
/// One write that never waits, to a descriptor whose open file description may be shared (so
/// O_NONBLOCK is not set on it): a socket through send(MSG_DONTWAIT | MSG_NOSIGNAL); anything
/// else only if poll(2) says it takes data now, then one write(2). The bytes written, or -1
/// with errno (EAGAIN: no room). MSG_* are enum-and-macro pairs that import inconsistently.
long vigil_write_now(int fd, const void *buf, size_t n, int is_socket);

/// Socket type flags are enum-and-macro pairs in glibc that import inconsistently.
int vigil_sock_stream_nonblock(void);
int vigil_sock_dgram_cloexec(void);
/// Whether the kernel says the clock is synchronised (adjtimex STA_UNSYNC clear).
int vigil_clock_synced(void);
/// The Unix seconds of an HTTP or RTSP `Date:` value in any of RFC 9110's three forms
/// (IMF-fixdate, RFC 850, asctime), read by glibc's strptime and timegm; -1 when it is none.
/// In C: the Swift parser of the same rules (`HTTPDate`) costs the board's binary 3 KB.
long long vigil_http_date(const char *value);

/// Termios: raw 8N1 at a baud rate given as a number; -1 and errno on failure.
int vigil_tty_raw(int fd, unsigned int baud);

/// libcurl (snapshots). `curl_easy_setopt`, `curl_multi_setopt` and `curl_easy_getinfo` are
/// variadic, and on Debian also macros (typecheck-gcc.h): Swift can call neither, so each use
/// gets a typed wrapper here. CURLAUTH_* and CURLMsg's result union do not import either.
/// curl_global_init(CURL_GLOBAL_DEFAULT): the flags are a compound macro.
/// Starts `path a1 a2` (a2 may be NULL) with its standard output and error on `out_fd` and
/// an empty signal mask (the loop blocks its signals for its signalfd); returns the child's
/// pid, or -1 with errno set. For the self-update's check of a new binary.
int vigil_spawn(const char *path, const char *a1, const char *a2, int out_fd);
/// Replaces the process with `path`, keeping its arguments and environment, with an empty
/// signal mask; returns only on failure (-1, errno set).
int vigil_exec_self_args(const char *path, char *const argv[]);

CURLcode vigil_curl_global_init(void);
CURLcode vigil_curl_easy_setopt_long(CURL *h, CURLoption opt, long value);
CURLcode vigil_curl_easy_setopt_str(CURL *h, CURLoption opt, const char *value);
CURLcode vigil_curl_easy_setopt_ptr(CURL *h, CURLoption opt, void *value);
typedef size_t (*vigil_curl_data_fn)(char *data, size_t size, size_t n, void *user);
/// CURLOPT_WRITEFUNCTION or CURLOPT_HEADERFUNCTION.
CURLcode vigil_curl_easy_setopt_datafn(CURL *h, CURLoption opt, vigil_curl_data_fn fn);
/// Basic or digest, whichever the server asks for (never sent in clear before it asks).
long vigil_curlauth_basic_digest(void);
long vigil_curlauth_digest(void);
CURLcode vigil_curl_easy_getinfo_long(CURL *h, CURLINFO info, long *out);
/// The response's Content-Length, or -1 when it has none (chunked) or it is not known yet.
long long vigil_curl_content_length(CURL *h);

typedef int (*vigil_curl_socket_fn)(CURL *h, curl_socket_t s, int what, void *user, void *sockp);
typedef int (*vigil_curl_timer_fn)(CURLM *m, long timeout_ms, void *user);
CURLMcode vigil_curl_multi_setopt_socketfn(CURLM *m, vigil_curl_socket_fn fn, void *user);
CURLMcode vigil_curl_multi_setopt_timerfn(CURLM *m, vigil_curl_timer_fn fn, void *user);
/// The result of a finished transfer (CURLMsg.data is a union).
CURLcode vigil_curl_msg_result(const CURLMsg *msg);

/// The spool's disk work on a thread of its own (disk_worker.c): durable writes, batched so that
/// a batch shares one folder fsync, and removals. Jobs run in the order submitted; the loop
/// polls `vigil_disk_fd` and reads what finished with `vigil_disk_results`.
typedef struct vigil_disk vigil_disk;
enum { VIGIL_DISK_WRITE = 1, VIGIL_DISK_UNLINK = 2 };
typedef struct {
  uint64_t tag;
  int op;
  /// 0, or the errno of the step that failed.
  int error;
} vigil_disk_result;
/// Starts the thread for files in the open folder `dirfd`; at most `capacity` jobs pending or
/// finished and unread, and at most `max_bytes` of copies of writes held (one always goes).
/// NULL and errno on failure.
vigil_disk *vigil_disk_start(int dirfd, unsigned capacity, size_t max_bytes, unsigned mode);
/// An eventfd, readable when jobs have finished.
int vigil_disk_fd(const vigil_disk *d);
/// Queues a durable write of a copy of `data` to `name` in the folder; -1 and EAGAIN when
/// `capacity` jobs or `max_bytes` of copies wait, EINVAL for a name with a slash or too long.
int vigil_disk_write(vigil_disk *d, const char *name, const uint8_t *data, size_t len, uint64_t tag);
/// Queues the removal of `name` (a missing file is no error).
int vigil_disk_unlink(vigil_disk *d, const char *name, uint64_t tag);
/// Up to `max` finished jobs, oldest first.
int vigil_disk_results(vigil_disk *d, vigil_disk_result *out, int max);
/// Jobs submitted and not finished yet.
unsigned vigil_disk_pending(vigil_disk *d);
/// Batches the thread has run.
uint64_t vigil_disk_batches(vigil_disk *d);
/// Finishes every job submitted, ends the thread and frees `d` (the folder stays open).
void vigil_disk_stop(vigil_disk *d);

#endif
