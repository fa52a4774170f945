// The floor under the thread pool's "from sleep" round trip: how long the
// kernel takes to run a thread blocked in FUTEX_WAIT after another thread
// wakes it, when the sleeper has been idle for a while (its CPU may have
// halted). Plain C and pthreads, none of our code: what any thread pool on
// this machine pays. bench/pool_figures.ts compiles it with gcc (when
// present) into a shared library and calls `njb_wake_floor` beside its own
// figures: `deno run -A bench/pool_figures.ts`.
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static _Atomic int word;          // 0: sleep; n: the n-th wake-up
static _Atomic long woke_ns;      // the sleeper's clock right after it returned
static _Atomic int sleeping;      // the sleeper is about to wait or waits

static long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000L + t.tv_nsec;
}

static void *sleeper(void *arg) {
  int trials = *(int *)arg;
  for (int seen = 0; seen < trials;) {
    atomic_store(&sleeping, 1);
    while (atomic_load(&word) == seen) {
      syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
    }
    atomic_store(&woke_ns, now_ns());
    seen = atomic_load(&word);
  }
  return NULL;
}

static int by_value(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return (x > y) - (x < y);
}

// `trials` wake-ups of a thread idle `idle_us` each; out[0..2]: the median,
// lower and upper quartile of their latency, µs. Returns 0, or -1.
int njb_wake_floor(int trials, int idle_us, double *out) {
  long idle_ns = idle_us * 1000L;
  long *lat = calloc(trials, sizeof *lat);
  if (lat == NULL || trials < 1) return -1;
  atomic_store(&word, 0);
  atomic_store(&sleeping, 0);
  pthread_t t;
  if (pthread_create(&t, NULL, sleeper, &trials) != 0) {
    free(lat);
    return -1;
  }
  for (int i = 0; i < trials; i++) {
    while (!atomic_load(&sleeping)) {
    }
    // The waker stays on its CPU (busy), as a caller does; the sleeper idles.
    long until = now_ns() + idle_ns;
    while (now_ns() < until) {
    }
    atomic_store(&sleeping, 0);
    atomic_store(&woke_ns, 0);
    long t0 = now_ns();
    atomic_store(&word, i + 1);
    syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    long t1;
    while ((t1 = atomic_load(&woke_ns)) == 0) {
    }
    lat[i] = t1 - t0;
  }
  pthread_join(t, NULL);
  qsort(lat, trials, sizeof *lat, by_value);
  out[0] = lat[trials / 2] / 1e3;
  out[1] = lat[trials / 4] / 1e3;
  out[2] = lat[(3 * trials) / 4] / 1e3;
  free(lat);
  return 0;
}
