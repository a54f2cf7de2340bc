// An SD card that takes its time, for the tests: preloaded into the agent (LD_PRELOAD), it
// makes every fsync of a file or folder whose path contains SLOW_FSYNC_MATCH take
// SLOW_FSYNC_MS milliseconds longer. Cards stall for that long under write load.
//   gcc -shared -fPIC -O2 slow-fsync.c -o slow-fsync.so -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int slowed(int fd) {
  const char *match = getenv("SLOW_FSYNC_MATCH");
  if (!match || !*match) return 0;
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n < 0) return 0;
  path[n] = 0;
  return strstr(path, match) != NULL;
}

static void stall(void) {
  const char *ms = getenv("SLOW_FSYNC_MS");
  long v = ms ? strtol(ms, NULL, 10) : 0;
  if (v <= 0) return;
  struct timespec t = {v / 1000, (v % 1000) * 1000000L};
  while (nanosleep(&t, &t) != 0) {}
}

int fsync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  if (slowed(fd)) stall();
  return real(fd);
}

int fdatasync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  if (slowed(fd)) stall();
  return real(fd);
}
