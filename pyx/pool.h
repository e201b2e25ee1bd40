/* The kernels' worker threads (walk.pxi's _run_across_threads): a small
 * pool of detached threads, and a job that nobody waits for unless it has
 * started it.
 *
 * A job is n positions cut into nblocks blocks (CHUNK-aligned spans).  The
 * caller publishes it, wakes the workers it wants (its "helpers"), and then
 * works through the blocks itself: caller and helpers take the next block
 * from one counter (`claim`), so a helper that the scheduler has not run
 * takes nothing and costs nothing.  The caller then waits only for blocks
 * that were taken and are not finished (`done`), never for a thread to
 * arrive.  On a busy machine a descheduled helper therefore costs at most
 * the block it holds, not a time slice spent at a barrier (an OpenMP
 * region's closing barrier waits for every thread of the team).
 *
 * A late helper must never touch a finished job: the counter carries the
 * job's generation in its high 32 bits, a helper takes a block only by a
 * compare-and-swap on (generation, next block), and the job's description
 * is re-published only after the counter was closed ((generation, CLOSED)
 * first, then the description, then (generation, 0): a seqlock whose
 * sequence is the counter).  A helper that read a newer description fails
 * its compare-and-swap; one that succeeds holds a block of a live job (the
 * caller waits for that block), so the description stays valid while it
 * runs it.  Everything is in one static struct: a late helper reads stale
 * words, never freed memory.
 *
 * One job at a time: a caller that finds the pool taken (another Python
 * thread's call, a call from inside a user's parallel region) runs its job
 * on its own thread.  Helpers spin briefly after a job (a call that follows
 * at once finds them awake), then sleep on a futex (Linux; a mutex and
 * condition variable elsewhere).  They block every signal, and never wait
 * for anything at interpreter exit: they are detached, and the process
 * ends them.  A forked child has none of them; the kernels there stay
 * serial (config.pxi, _after_fork_child) and never touch this struct.
 *
 * Built with OpenMP only (the thread count follows OpenMP's limit, so that
 * threadpoolctl and OMP_NUM_THREADS keep controlling it); without it
 * cydrop_pool_run runs every job on the calling thread. */
#ifndef CYDROP_POOL_H
#define CYDROP_POOL_H

#include <stdint.h>
#include <stddef.h>
#include "omp_compat.h"

typedef void (*cydrop_span_fn)(void *ctx, Py_ssize_t start, Py_ssize_t end);

#if CYDROP_HAVE_OPENMP && (defined(__unix__) || defined(__APPLE__))
#define CYDROP_HAVE_POOL 1
#else
#define CYDROP_HAVE_POOL 0
#endif

#if CYDROP_HAVE_POOL
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

/* At most this many helpers (thread_cap() is 4 x the CPUs; beyond this a
 * job uses fewer threads, never different results). */
#define CYDROP_POOL_MAX_HELPERS 1023
#define CYDROP_POOL_CLOSED 0xFFFFFFFFu
#define CYDROP_POOL_STACK (1u << 20)
#define CYDROP_CACHELINE __attribute__((aligned(64)))

typedef struct {
    uint32_t announce CYDROP_CACHELINE;  /* the newest job's generation: helpers sleep on it */
    uint32_t sleepers;                   /* helpers asleep (or going to sleep) on announce */
    uint64_t seat;                       /* generation << 32 | helpers wanted */
    uint64_t claim CYDROP_CACHELINE;     /* generation << 32 | next block (CLOSED: none) */
    uint32_t done CYDROP_CACHELINE;      /* blocks of the current job finished */
    uint32_t caller_sleeps;              /* the caller sleeps on done */
    /* the job's description: written only while claim is (generation, CLOSED) */
    cydrop_span_fn fn CYDROP_CACHELINE;
    void *ctx;
    int64_t n, block;
    uint32_t nblocks;
    /* the owner's side */
    uint32_t busy CYDROP_CACHELINE;      /* a caller owns the pool */
    uint32_t gen;                        /* generation of the last job */
    int nhelpers;                        /* helper threads started */
    int failed;                          /* starting a thread failed: use those there are */
    int64_t spin_ns;                     /* helpers spin this long before sleeping */
    int64_t caller_spin_ns;              /* the caller spins this long for taken blocks */
    int caller_cpu;                      /* where the caller published the job (-1: unknown) */
    uint32_t backoff_len, backoff_left;  /* serial calls after a bad job */
    int64_t backoff_until;               /* ... or until then, whichever ends first */
    uint32_t start_seen[CYDROP_POOL_MAX_HELPERS];
    /* counts, for pool_stats(): parallel jobs, of them bad, calls made
     * serial by the backoff */
    uint64_t jobs, bad_jobs, backoff_calls;   /* announce when helper i was made */
} cydrop_pool_t;

static cydrop_pool_t cydrop_pool = {.spin_ns = 1000000, .caller_spin_ns = 100000};

static inline void cydrop_pool_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static inline int64_t cydrop_pool_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Sleep while *addr == expected (spurious returns allowed); wake every
 * sleeper on addr. */
#ifdef __linux__
static inline void cydrop_pool_wait(uint32_t *addr, uint32_t expected) {
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}
static inline void cydrop_pool_wake(uint32_t *addr) {
    syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}
#else
static pthread_mutex_t cydrop_pool_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cydrop_pool_cond = PTHREAD_COND_INITIALIZER;
static inline void cydrop_pool_wait(uint32_t *addr, uint32_t expected) {
    pthread_mutex_lock(&cydrop_pool_mutex);
    if (__atomic_load_n(addr, __ATOMIC_SEQ_CST) == expected)
        pthread_cond_wait(&cydrop_pool_cond, &cydrop_pool_mutex);
    pthread_mutex_unlock(&cydrop_pool_mutex);
}
static inline void cydrop_pool_wake(uint32_t *addr) {
    (void)addr;
    pthread_mutex_lock(&cydrop_pool_mutex);
    pthread_cond_broadcast(&cydrop_pool_cond);
    pthread_mutex_unlock(&cydrop_pool_mutex);
}
#endif

/* Wait until *addr != value: spin for the pool's spin time, then sleep,
 * counting itself in *sleepers while it may sleep (the waker looks there). */
static inline uint32_t cydrop_pool_await_change(uint32_t *addr, uint32_t value,
                                                uint32_t *sleepers, int64_t *spin) {
    uint32_t v;
    int64_t deadline = 0;
    unsigned k = 0;
    while ((v = __atomic_load_n(addr, __ATOMIC_ACQUIRE)) == value) {
        if (deadline < 0)
            goto sleep;
        if ((++k & 63) != 0) {
            cydrop_pool_relax();
            continue;
        }
        if (deadline == 0) {
            int64_t ns = __atomic_load_n(spin, __ATOMIC_RELAXED);
            /* helpers spin only while calls have been going well: on a
             * busy machine a spinning helper takes its core from others */
            if (sleepers == &cydrop_pool.sleepers
                    && __atomic_load_n(&cydrop_pool.backoff_len, __ATOMIC_RELAXED))
                ns = 0;
            deadline = ns > 0 ? cydrop_pool_now_ns() + ns : -1;
            continue;
        }
        if (cydrop_pool_now_ns() < deadline)
            continue;
    sleep:
        __atomic_add_fetch(sleepers, 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(addr, __ATOMIC_SEQ_CST) == value)
            cydrop_pool_wait(addr, value);
        __atomic_sub_fetch(sleepers, 1, __ATOMIC_SEQ_CST);
    }
    return v;
}

/* Take and run blocks of job `gen` until none is left (or the job is no
 * longer gen).  Returns how many this thread ran.  The caller passes
 * `clock`: the time it started, updated to when it ran out of blocks, and
 * `longest`, the longest step (from the start to its first block's end, or
 * one block) it saw. */
static uint32_t cydrop_pool_work(uint32_t gen, int64_t *clock, int64_t *longest) {
    cydrop_pool_t *p = &cydrop_pool;
    uint32_t ran = 0;
    for (;;) {
        uint64_t w = __atomic_load_n(&p->claim, __ATOMIC_ACQUIRE);
        uint32_t next = (uint32_t)w, nblocks, d;
        cydrop_span_fn fn;
        void *ctx;
        int64_t n, block, start, end;
        if ((uint32_t)(w >> 32) != gen || next == CYDROP_POOL_CLOSED)
            break;
        fn = __atomic_load_n(&p->fn, __ATOMIC_RELAXED);
        ctx = __atomic_load_n(&p->ctx, __ATOMIC_RELAXED);
        n = __atomic_load_n(&p->n, __ATOMIC_RELAXED);
        block = __atomic_load_n(&p->block, __ATOMIC_RELAXED);
        nblocks = __atomic_load_n(&p->nblocks, __ATOMIC_RELAXED);
        /* a description read here is gen's if the swap below succeeds */
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (next >= nblocks)
            break;
        if (!__atomic_compare_exchange_n(&p->claim, &w, w + 1, 0,
                                         __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
            continue;
        start = (int64_t)next * block;
        end = start + block < n ? start + block : n;
        fn(ctx, (Py_ssize_t)start, (Py_ssize_t)end);
        ran++;
        if (clock != NULL) {
            int64_t now = cydrop_pool_now_ns();
            if (now - *clock > *longest)
                *longest = now - *clock;
            *clock = now;
        }
        d = __atomic_add_fetch(&p->done, 1, __ATOMIC_SEQ_CST);
        if (d == nblocks && __atomic_load_n(&p->caller_sleeps, __ATOMIC_SEQ_CST))
            cydrop_pool_wake(&p->done);
    }
    if (clock != NULL) {
        int64_t now = cydrop_pool_now_ns();
        if (now - *clock > *longest)
            *longest = now - *clock;
        *clock = now;
    }
    return ran;
}

static void *cydrop_pool_helper(void *arg) {
    cydrop_pool_t *p = &cydrop_pool;
    uint32_t index = (uint32_t)(uintptr_t)arg;
    uint32_t seen = p->start_seen[index];
    for (;;) {
        uint64_t s;
        seen = cydrop_pool_await_change(&p->announce, seen, &p->sleepers, &p->spin_ns);
        s = __atomic_load_n(&p->seat, __ATOMIC_ACQUIRE);
        if (index >= (uint32_t)s)
            continue;
#ifdef __linux__
        /* woken onto the caller's CPU, it would run there while the caller
         * waits to: leave the job to the caller */
        if (sched_getcpu() == __atomic_load_n(&p->caller_cpu, __ATOMIC_RELAXED))
            continue;
#endif
        cydrop_pool_work((uint32_t)(s >> 32), NULL, NULL);
    }
    return NULL;
}

/* Start helpers until there are `want` (or starting one fails).  Signals
 * are blocked in them (they run no Python and must not take its signals). */
static int cydrop_pool_grow(int want) {
    cydrop_pool_t *p = &cydrop_pool;
    pthread_attr_t attr;
    sigset_t all, old;
    if (want > CYDROP_POOL_MAX_HELPERS)
        want = CYDROP_POOL_MAX_HELPERS;
    if (p->nhelpers >= want || p->failed)
        return p->nhelpers;
    if (pthread_attr_init(&attr) != 0)
        return p->nhelpers;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, CYDROP_POOL_STACK);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    while (p->nhelpers < want) {
        pthread_t t;
        p->start_seen[p->nhelpers] = __atomic_load_n(&p->announce, __ATOMIC_RELAXED);
        if (pthread_create(&t, &attr, cydrop_pool_helper,
                           (void *)(uintptr_t)p->nhelpers) != 0) {
            p->failed = 1;
            break;
        }
        p->nhelpers++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return p->nhelpers;
}

/* A job went badly when one of the caller's steps -- from publishing it to
 * its first block's end, one block, or the wait for blocks the helpers held
 * -- took much longer than its mean block and at least a quarter of the
 * whole call: it was descheduled, or waited for a helper that was (a busy
 * machine; a time slice, milliseconds).  The share keeps the hiccups of an
 * idle machine (an interrupt, a page fault: a few of its blocks) from
 * counting: counted, they backed off enough jobs there that two threads ran
 * at one thread's speed (docs/design.md).  Or when the caller ran every
 * block of a long job (no helper came: waking them was wasted).  The next backoff_len calls then
 * run serially, or the next 10 x backoff_len milliseconds (at most 2 s) if
 * those end first (a bad job costs about a scheduler time slice, a few
 * milliseconds: it matters beside short calls, not beside calls of tens of
 * milliseconds, and a machine that became idle gets its threads back
 * within 2 s); backoff_len doubles
 * while bad jobs recur (up to the max), and shrinks by an eighth after each
 * good one. */
#define CYDROP_POOL_BACKOFF_MIN 16u
#define CYDROP_POOL_BACKOFF_MAX 4096u
#define CYDROP_POOL_SLOW_STEP_BLOCKS 3
#define CYDROP_POOL_SLOW_STEP_NS 30000
#define CYDROP_POOL_SLOW_STEP_SHARE 4
#define CYDROP_POOL_BACKOFF_NS_PER_CALL 10000000
#define CYDROP_POOL_BACKOFF_MAX_NS 2000000000
/* A job this long that no helper took a block of had no help to wait for
 * (their cores are busy): as bad as a slow step, minus the stall. */
#define CYDROP_POOL_UNHELPED_NS 200000

static void cydrop_pool_judge(int64_t work_ns, int64_t total_ns, uint32_t mine, uint32_t nblocks,
                              int64_t longest, int64_t now) {
    cydrop_pool_t *p = &cydrop_pool;
    int64_t per = work_ns / (mine ? mine : 1);
    if ((longest > CYDROP_POOL_SLOW_STEP_BLOCKS * per + CYDROP_POOL_SLOW_STEP_NS
         && longest > total_ns / CYDROP_POOL_SLOW_STEP_SHARE)
            || (mine == nblocks && work_ns > CYDROP_POOL_UNHELPED_NS)) {
        uint32_t len = 2 * p->backoff_len;
        if (len < CYDROP_POOL_BACKOFF_MIN)
            len = CYDROP_POOL_BACKOFF_MIN;
        if (len > CYDROP_POOL_BACKOFF_MAX)
            len = CYDROP_POOL_BACKOFF_MAX;
        __atomic_store_n(&p->backoff_len, len, __ATOMIC_RELAXED);
        p->backoff_left = len;
        p->backoff_until = now + ((int64_t)len * CYDROP_POOL_BACKOFF_NS_PER_CALL
                                  < CYDROP_POOL_BACKOFF_MAX_NS
                                  ? (int64_t)len * CYDROP_POOL_BACKOFF_NS_PER_CALL
                                  : CYDROP_POOL_BACKOFF_MAX_NS);
        p->bad_jobs++;
    } else {
        uint32_t len = p->backoff_len - p->backoff_len / 8;
        __atomic_store_n(&p->backoff_len, len < CYDROP_POOL_BACKOFF_MIN / 2 ? 0 : len,
                         __ATOMIC_RELAXED);
    }
}

/* Run fn(ctx, start, end) over [0, n) in blocks of `block` positions (the
 * last one shorter) on up to `team` threads, the caller one of them.
 * Returns the team size offered (1: the caller ran it all in one span). */
static int cydrop_pool_run(cydrop_span_fn fn, void *ctx, Py_ssize_t n, Py_ssize_t block,
                           int team) {
    cydrop_pool_t *p = &cydrop_pool;
    uint64_t nb = block > 0 ? ((uint64_t)n + (uint64_t)block - 1) / (uint64_t)block : 0;
    uint32_t expected = 0, gen, nblocks, mine;
    int64_t t0, clock, longest = 0, work_ns;
    int helpers;
    if (team > 1 && (uint64_t)team > nb)
        team = (int)nb;
    if (team <= 1 || nb >= CYDROP_POOL_CLOSED
            || !__atomic_compare_exchange_n(&p->busy, &expected, 1, 0,
                                            __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        goto serial;
    helpers = cydrop_pool_grow(team - 1);
    if (helpers > team - 1)
        helpers = team - 1;
    if (helpers < 1)
        goto release_serial;
    if (p->backoff_left > 0) {
        if (cydrop_pool_now_ns() < p->backoff_until) {
            p->backoff_left--;
            p->backoff_calls++;
            goto release_serial;
        }
        p->backoff_left = 0;
    }
    nblocks = (uint32_t)nb;
    gen = ++p->gen;
    /* close the counter, then describe the job, then open it */
    __atomic_store_n(&p->claim, ((uint64_t)gen << 32) | CYDROP_POOL_CLOSED, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    __atomic_store_n(&p->fn, fn, __ATOMIC_RELAXED);
    __atomic_store_n(&p->ctx, ctx, __ATOMIC_RELAXED);
    __atomic_store_n(&p->n, (int64_t)n, __ATOMIC_RELAXED);
    __atomic_store_n(&p->block, (int64_t)block, __ATOMIC_RELAXED);
    __atomic_store_n(&p->nblocks, nblocks, __ATOMIC_RELAXED);
    __atomic_store_n(&p->done, 0, __ATOMIC_RELAXED);
#ifdef __linux__
    __atomic_store_n(&p->caller_cpu, sched_getcpu(), __ATOMIC_RELAXED);
#else
    __atomic_store_n(&p->caller_cpu, -1, __ATOMIC_RELAXED);
#endif
    t0 = clock = cydrop_pool_now_ns();
    __atomic_store_n(&p->claim, (uint64_t)gen << 32, __ATOMIC_RELEASE);
    __atomic_store_n(&p->seat, ((uint64_t)gen << 32) | (uint32_t)helpers, __ATOMIC_RELEASE);
    __atomic_store_n(&p->announce, gen, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&p->sleepers, __ATOMIC_SEQ_CST))
        cydrop_pool_wake(&p->announce);
    mine = cydrop_pool_work(gen, &clock, &longest);
    work_ns = clock - t0;
    /* only blocks taken and not finished remain: wait for those (spin,
     * then sleep) */
    for (;;) {
        uint32_t d = __atomic_load_n(&p->done, __ATOMIC_ACQUIRE);
        if (d == nblocks)
            break;
        cydrop_pool_await_change(&p->done, d, &p->caller_sleeps, &p->caller_spin_ns);
    }
    {
        int64_t now = cydrop_pool_now_ns();
        if (now - clock > longest)
            longest = now - clock;
        p->jobs++;
        cydrop_pool_judge(work_ns, now - t0, mine, nblocks, longest, now);
    }
    __atomic_store_n(&p->busy, 0, __ATOMIC_RELEASE);
    return helpers + 1;
release_serial:
    __atomic_store_n(&p->busy, 0, __ATOMIC_RELEASE);
serial:
    fn(ctx, 0, n);
    return 1;
}

/* How long helpers (and a caller waiting for taken blocks) spin before they
 * sleep, in nanoseconds; returns the previous value. */
static int64_t cydrop_pool_set_spin(int64_t ns) {
    int64_t old = __atomic_load_n(&cydrop_pool.spin_ns, __ATOMIC_RELAXED);
    __atomic_store_n(&cydrop_pool.spin_ns, ns < 0 ? 0 : ns, __ATOMIC_RELAXED);
    return old;
}

/* The counts (read by the pool's owner, or with no call running):
 * 0 helpers started, 1 parallel jobs, 2 of them bad, 3 calls made serial by
 * the backoff, 4 the backoff's current length. */
static int64_t cydrop_pool_count(int which) {
    cydrop_pool_t *p = &cydrop_pool;
    switch (which) {
    case 0: return p->nhelpers;
    case 1: return (int64_t)p->jobs;
    case 2: return (int64_t)p->bad_jobs;
    case 3: return (int64_t)p->backoff_calls;
    case 4: return p->backoff_len;
    default: return -1;
    }
}

#else  /* no pool: every job on the calling thread */

static inline int cydrop_pool_run(cydrop_span_fn fn, void *ctx, Py_ssize_t n,
                                  Py_ssize_t block, int team) {
    (void)block; (void)team;
    fn(ctx, 0, n);
    return 1;
}
static inline int64_t cydrop_pool_set_spin(int64_t ns) { (void)ns; return 0; }
static inline int64_t cydrop_pool_count(int which) { (void)which; return 0; }

#endif
#endif
