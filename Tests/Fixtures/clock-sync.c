// Marks the kernel's clock synchronised the way systemd-timesyncd does, for a test of what
// Vigil does only while the gateway's clock is synced; and puts the previous state back.
//   gcc clock-sync.c -o clock-sync
//   clock-sync mark              prints "STATUS MAXERROR ESTERROR" (the state before), then
//                                clears STA_UNSYNC with a small maximum and estimated error
//   clock-sync restore S M E     sets that state again
// Needs CAP_SYS_TIME (the tests run as root). It changes the whole machine's clock status, not
// the time: the kernel sets STA_UNSYNC again by itself once the maximum error passes 16 s.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>

int main(int argc, char **argv) {
  struct timex tx;
  memset(&tx, 0, sizeof tx);
  if (argc == 2 && strcmp(argv[1], "mark") == 0) {
    if (adjtimex(&tx) < 0) { perror("adjtimex"); return 1; }
    printf("%d %ld %ld\n", tx.status, tx.maxerror, tx.esterror);
    struct timex set;
    memset(&set, 0, sizeof set);
    set.modes = ADJ_STATUS | ADJ_MAXERROR | ADJ_ESTERROR;
    set.status = tx.status & ~STA_UNSYNC;
    set.maxerror = 100000;  // microseconds, as timesyncd sets after a good NTP answer
    set.esterror = 1000;
    if (adjtimex(&set) < 0) { perror("adjtimex"); return 1; }
    return 0;
  }
  if (argc == 5 && strcmp(argv[1], "restore") == 0) {
    tx.modes = ADJ_STATUS | ADJ_MAXERROR | ADJ_ESTERROR;
    tx.status = atoi(argv[2]);
    tx.maxerror = atol(argv[3]);
    tx.esterror = atol(argv[4]);
    if (adjtimex(&tx) < 0) { perror("adjtimex"); return 1; }
    return 0;
  }
  fprintf(stderr, "usage: clock-sync mark | clock-sync restore STATUS MAXERROR ESTERROR\n");
  return 2;
}
