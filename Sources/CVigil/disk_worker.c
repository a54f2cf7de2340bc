// The spool's disk work on a thread of its own: durable writes (temporary name, fsync, rename,
// one fsync of the folder for every batch) and removals. On an SD card, or an ext4 mounted with
// `discard`, one fsync takes milliseconds and one unlink can too (measured here: 8 ms for a
// write with its two fsyncs, 2.9 ms median per unlink in a folder of 3,000): done on the loop,
// a burst of them delays a GPIO event by tens of milliseconds. The loop hands jobs over and
// learns of their end through an eventfd; the thread never calls back into Swift and never
// calls malloc or free (the loop allocates each write's copy and frees it with the result).
#include "CVigil.h"
#include <pthread.h>
#include <sys/eventfd.h>

// 32: a spool name is 18 bytes and its ".tmp" 4 more; a job is 64 bytes, so the ring of 256 the
// spool uses is 16 KiB (each slot is touched in turn as the ring goes round: it is all dirty).
enum { BATCH = 64, NAME_MAX_BYTES = 32 };

struct job {
  int op;
  uint64_t tag;
  char name[NAME_MAX_BYTES];
  uint8_t *data;
  size_t len;
};

// A finished job and the copy it wrote: freed on the loop's thread when the result is read, so
// that this thread never calls into malloc (glibc would give it an arena and a tcache of its
// own, and small blocks freed here would stay there).
struct done {
  vigil_disk_result r;
  uint8_t *data;
  size_t len;
};

struct vigil_disk {
  pthread_mutex_t lock;
  pthread_cond_t wake;
  pthread_t thread;
  int dirfd, efd, stopping, started;
  unsigned mode;
  unsigned cap;
  size_t max_bytes;               // copies of writes held at most (one always goes)
  size_t held_bytes;              // copies held now: pending, being written, or unread
  struct job *jobs;               // pending, a ring
  unsigned head, count;
  unsigned busy;                  // taken by the thread, not reported yet
  struct done *done;              // finished, a ring
  unsigned dhead, dcount;
  uint64_t batches;               // batches written, for the tests and the `spool` command
};

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void tmp_name(char *out, size_t size, const char *name) {
  snprintf(out, size, "%s.tmp", name);
}

// One batch, in three steps so that its writes share one folder fsync: every write's
// temporary file written and fsynced (on ext4 the first fsync commits the journal for all of
// them, so the others cost little), renamed; the folder fsynced; then the removals (a removal
// of a file written in the same batch comes after its write, as submitted).
static void run_batch(struct vigil_disk *d, struct job *b, int n, vigil_disk_result *r) {
  int fds[BATCH];
  int wrote = 0;
  for (int i = 0; i < n; i++) {
    fds[i] = -1;
    r[i].tag = b[i].tag;
    r[i].op = b[i].op;
    r[i].error = 0;
    if (b[i].op != VIGIL_DISK_WRITE) continue;
    char tmp[NAME_MAX_BYTES + 8];
    tmp_name(tmp, sizeof tmp, b[i].name);
    int fd = openat(d->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, d->mode);
    if (fd < 0) { r[i].error = errno; continue; }
    int e = write_all(fd, b[i].data, b[i].len);
    if (e) { r[i].error = e; close(fd); unlinkat(d->dirfd, tmp, 0); continue; }
    fds[i] = fd;
  }
  for (int i = 0; i < n; i++) {
    if (fds[i] < 0) continue;
    char tmp[NAME_MAX_BYTES + 8];
    tmp_name(tmp, sizeof tmp, b[i].name);
    if (fsync(fds[i]) < 0) r[i].error = errno;
    close(fds[i]);
    if (r[i].error == 0 && renameat(d->dirfd, tmp, d->dirfd, b[i].name) < 0) r[i].error = errno;
    if (r[i].error) unlinkat(d->dirfd, tmp, 0);
    else wrote++;
  }
  if (wrote > 0 && fsync(d->dirfd) < 0) {
    int e = errno;
    for (int i = 0; i < n; i++)
      if (b[i].op == VIGIL_DISK_WRITE && r[i].error == 0) r[i].error = e;
  }
  for (int i = 0; i < n; i++) {
    if (b[i].op == VIGIL_DISK_UNLINK && unlinkat(d->dirfd, b[i].name, 0) < 0 && errno != ENOENT)
      r[i].error = errno;
  }
}

static void *worker(void *arg) {
  struct vigil_disk *d = arg;
  struct job batch[BATCH];
  vigil_disk_result results[BATCH];
  pthread_mutex_lock(&d->lock);
  for (;;) {
    while (d->count == 0 && !d->stopping) pthread_cond_wait(&d->wake, &d->lock);
    if (d->count == 0) break;  // stopping, and everything submitted is done
    int n = d->count < BATCH ? (int)d->count : BATCH;
    for (int i = 0; i < n; i++) {
      batch[i] = d->jobs[d->head];
      d->head = (d->head + 1) % d->cap;
    }
    d->count -= (unsigned)n;
    d->busy += (unsigned)n;
    pthread_mutex_unlock(&d->lock);
    run_batch(d, batch, n, results);
    pthread_mutex_lock(&d->lock);
    for (int i = 0; i < n; i++) {
      struct done *slot = &d->done[(d->dhead + d->dcount++) % d->cap];
      slot->r = results[i];
      slot->data = batch[i].data;
      slot->len = batch[i].len;
    }
    d->busy -= (unsigned)n;
    d->batches++;
    uint64_t one = 1;
    (void)!write(d->efd, &one, sizeof one);
  }
  pthread_mutex_unlock(&d->lock);
  return NULL;
}

vigil_disk *vigil_disk_start(int dirfd, unsigned capacity, size_t max_bytes, unsigned mode) {
  if (capacity < 1) capacity = 1;
  struct vigil_disk *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->dirfd = dirfd;
  d->cap = capacity;
  d->max_bytes = max_bytes;
  d->mode = mode;
  d->jobs = calloc(capacity, sizeof *d->jobs);
  d->done = calloc(capacity, sizeof *d->done);
  d->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (!d->jobs || !d->done || d->efd < 0) goto fail;
  pthread_mutex_init(&d->lock, NULL);
  pthread_cond_init(&d->wake, NULL);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  // It calls only open, write, fsync, rename and unlink: a small stack, not glibc's 8 MiB.
  pthread_attr_setstacksize(&attr, 64 * 1024);
  // Every signal blocked: the loop takes them through its signalfd.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&d->thread, &attr, worker, d);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  if (rc != 0) { errno = rc; goto fail; }
  d->started = 1;
  return d;
fail:
  {
    int e = errno;
    if (d->efd >= 0) close(d->efd);
    free(d->jobs);
    free(d->done);
    free(d);
    errno = e;
    return NULL;
  }
}

int vigil_disk_fd(const vigil_disk *d) { return d->efd; }

static int submit(vigil_disk *d, int op, const char *name, const uint8_t *data, size_t len,
                  uint64_t tag) {
  size_t nl = strlen(name);
  if (nl == 0 || nl >= NAME_MAX_BYTES - 5 || strchr(name, '/')) { errno = EINVAL; return -1; }
  uint8_t *copy = NULL;
  if (op == VIGIL_DISK_WRITE) {
    copy = malloc(len ? len : 1);
    if (!copy) { errno = ENOMEM; return -1; }
    if (len) memcpy(copy, data, len);
  }
  pthread_mutex_lock(&d->lock);
  // Room for its result too: the finished ring never overflows.
  // And within `max_bytes` of copies, so that a card that stalls cannot fill the memory with
  // snapshots waiting to be written (one write always goes, however large).
  if (d->stopping || d->count + d->busy + d->dcount >= d->cap
      || (op == VIGIL_DISK_WRITE && d->held_bytes > 0 && d->held_bytes + len > d->max_bytes)) {
    pthread_mutex_unlock(&d->lock);
    free(copy);
    errno = EAGAIN;
    return -1;
  }
  struct job *j = &d->jobs[(d->head + d->count) % d->cap];
  j->op = op;
  j->tag = tag;
  memcpy(j->name, name, nl + 1);
  j->data = copy;
  j->len = len;
  d->held_bytes += copy ? len : 0;
  d->count++;
  pthread_cond_signal(&d->wake);
  pthread_mutex_unlock(&d->lock);
  return 0;
}

int vigil_disk_write(vigil_disk *d, const char *name, const uint8_t *data, size_t len,
                     uint64_t tag) {
  return submit(d, VIGIL_DISK_WRITE, name, data, len, tag);
}

int vigil_disk_unlink(vigil_disk *d, const char *name, uint64_t tag) {
  return submit(d, VIGIL_DISK_UNLINK, name, NULL, 0, tag);
}

int vigil_disk_results(vigil_disk *d, vigil_disk_result *out, int max) {
  uint64_t ignored;
  (void)!read(d->efd, &ignored, sizeof ignored);
  pthread_mutex_lock(&d->lock);
  int n = 0;
  while (n < max && d->dcount > 0) {
    struct done *slot = &d->done[d->dhead];
    out[n++] = slot->r;
    if (slot->data) d->held_bytes -= slot->len;
    free(slot->data);
    slot->data = NULL;
    d->dhead = (d->dhead + 1) % d->cap;
    d->dcount--;
  }
  // More than `max` finished: keep the eventfd readable so the loop comes back for the rest.
  if (d->dcount > 0) {
    uint64_t one = 1;
    (void)!write(d->efd, &one, sizeof one);
  }
  pthread_mutex_unlock(&d->lock);
  return n;
}

unsigned vigil_disk_pending(vigil_disk *d) {
  pthread_mutex_lock(&d->lock);
  unsigned n = d->count + d->busy;
  pthread_mutex_unlock(&d->lock);
  return n;
}

uint64_t vigil_disk_batches(vigil_disk *d) {
  pthread_mutex_lock(&d->lock);
  uint64_t n = d->batches;
  pthread_mutex_unlock(&d->lock);
  return n;
}

void vigil_disk_stop(vigil_disk *d) {
  if (!d) return;
  pthread_mutex_lock(&d->lock);
  d->stopping = 1;
  pthread_cond_signal(&d->wake);
  pthread_mutex_unlock(&d->lock);
  if (d->started) pthread_join(d->thread, NULL);
  // Anything left was finished by the thread before it ended; results no one will read.
  close(d->efd);
  for (unsigned i = 0; i < d->dcount; i++) free(d->done[(d->dhead + i) % d->cap].data);
  pthread_mutex_destroy(&d->lock);
  pthread_cond_destroy(&d->wake);
  free(d->jobs);
  free(d->done);
  free(d);
}
