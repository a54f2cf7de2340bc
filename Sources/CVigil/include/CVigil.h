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
#include <getopt.h>

/// errno is a macro over a thread-local; Swift sees it through these.
int vigil_errno(void);
void vigil_set_errno(int value);

/// open(2) is variadic.
int vigil_open(const char *path, int flags, unsigned int mode);
/// fcntl(2) is variadic: the two uses Vigil has.
int vigil_set_nonblock_cloexec(int fd);
/// ioctl(2) is variadic: bytes waiting in a tty's output queue (TIOCOUTQ).
int vigil_tty_outq(int fd);

/// Socket type flags are enum-and-macro pairs in glibc that import inconsistently.
int vigil_sock_stream_nonblock(void);
int vigil_sock_dgram_cloexec(void);
/// Whether the kernel says the clock is synchronised (adjtimex STA_UNSYNC clear).
int vigil_clock_synced(void);

/// Termios: raw 8N1 at a baud rate given as a number; -1 and errno on failure.
int vigil_tty_raw(int fd, unsigned int baud);

#endif
