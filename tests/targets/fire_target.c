// Threads and signal handlers calling probed functions without pause, for
// detaching, shutting the daemon down and killing it while calls are in
// flight. Every result is checked by the program itself against a closed
// form, and what it prints does not depend on timing, so a traced run is
// compared byte for byte with an untraced one.
//
//   fire THREADS        THREADS threads call nested probed functions until
//                       SIGINT; each then reports whether every sum matched
//   altstack N          N calls whose inner frame raises a signal handled on
//                       a sigaltstack, where the handler calls probed code
//   sigjmp N            the same, but the handler siglongjmps out through
//                       probed frames every other call
//   altstack-above N    altstack N in a thread whose own stack lies just below
//                       the sigaltstack (separate mappings, a guard page
//                       between), as when both are mapped one after the other
//   sigjmp-above N      sigjmp N in the same layout
//   altstack-thread N   altstack N in a thread created (default attributes)
//   sigjmp-thread N     right after its altstack was mapped: on recent kernels
//                       its stack then lies just below the altstack, in a
//                       separate mapping (glibc maps stacks with MAP_STACK)
//   sigstorm THREADS    THREADS threads call probed functions until SIGINT
//                       while real-time signals (queued: none may be lost)
//                       arrive; the handler calls a probed function too
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noipa))

// The leaves: on x86_64 the functions of insn_kinds.S, so their first
// instructions are known to be stepped (an indirect call), boosted (a
// RIP-relative load) and simulated (a push).
#if defined(__x86_64__)
long kind_indirect_call(long), kind_riprel(long), kind_push(long);
#define leaf_a kind_indirect_call
#define leaf_b kind_riprel
#define leaf_c kind_push
#else
NOINLINE long leaf_a(long x) { return x + 7; }
NOINLINE long leaf_b(long x) { return x + 1000; }
NOINLINE long leaf_c(long x) { return x + 3; }
#endif

// level1 -> level2 -> level3 -> leaves: three frames (and their hijacked
// return addresses) pending whenever a thread is in a leaf.
NOINLINE long level3(long t, long i) { return leaf_a(i) + leaf_b(t) + leaf_c(i); } // 2i + t + 1010
NOINLINE long level2(long t, long i) { return level3(t, i) * 2 + 1; }
NOINLINE long level1(long t, long i) { return level2(t, i) + i; } // 5i + 2t + 2021

static long level1_closed_form(long t, long i) { return 5 * i + 2 * t + 2021; }
// Sum of level1(t, i) for i in [0, k).
static long level1_sum_closed_form(long t, long k) { return 5 * k * (k - 1) / 2 + k * (2 * t + 2021); }

static volatile sig_atomic_t stop;
static void on_sigint(int sig) {
    (void)sig;
    stop = 1;
}

struct worker {
    pthread_t thread;
    long index;
    long calls;
    long sum;
    long wrong; // calls whose result was not the closed form
};

static void* fire_worker(void* p) {
    struct worker* w = p;
    while (!stop) {
        long r = level1(w->index, w->calls);
        if (r != level1_closed_form(w->index, w->calls)) w->wrong++;
        w->sum += r;
        w->calls++;
    }
    return NULL;
}

// Starts the workers, waits for SIGINT, prints one verdict per thread.
static int run_workers(long nthreads, void* (*body)(void*)) {
    struct worker w[64];
    if (nthreads < 1 || nthreads > 64) return 2;
    for (long t = 0; t < nthreads; ++t) {
        w[t] = (struct worker){.index = t};
        pthread_create(&w[t].thread, NULL, body, &w[t]);
    }
    printf("ready %d\n", getpid());
    fflush(stdout);
    int bad = 0;
    for (long t = 0; t < nthreads; ++t) {
        pthread_join(w[t].thread, NULL);
        int ok = w[t].wrong == 0 && w[t].sum == level1_sum_closed_form(t, w[t].calls);
        // The call count depends on timing, so only the verdict is printed.
        if (ok) printf("thread %ld: every result and the sum match the closed form\n", t);
        else printf("thread %ld: %ld wrong results, sum %ld after %ld calls, want %ld\n", t,
                    w[t].wrong, w[t].sum, w[t].calls, level1_sum_closed_form(t, w[t].calls));
        bad += !ok;
    }
    return bad != 0;
}

// --- signal handlers on a sigaltstack -----------------------------------

static char* alt_base;
static size_t alt_size;
static volatile long handler_arg;
static volatile long handler_result;
static volatile sig_atomic_t handler_off_altstack;
static sigjmp_buf jump_env;
static volatile sig_atomic_t jumping;

NOINLINE long handler_work(long i) { return i * 5 + 1; }

// Called from the handler: leaves it with siglongjmp, through its own frame,
// the handler's and the frames of the code the signal interrupted.
NOINLINE long jump_from_handler(long i) {
    if (jumping) siglongjmp(jump_env, (int)(i + 1));
    return i;
}

static void on_altstack_signal(int sig) {
    (void)sig;
    char here;
    if (&here < alt_base || &here >= alt_base + alt_size) handler_off_altstack = 1;
    // Nested probed calls from inside the handler.
    handler_result = handler_work(handler_arg) + level1(0, handler_arg);
    jump_from_handler(handler_arg);
}

// The interrupted code: two probed frames pending while the handler runs.
NOINLINE long sig_middle(long i) {
    handler_arg = i;
    raise(SIGUSR1);
    return handler_result + i; // 6i + 1 + (5i + 2021)
}
NOINLINE long sig_outer(long i) { return sig_middle(i) * 2; }

static long sig_outer_closed_form(long i) { return (11 * i + 2022) * 2; }

static void install_altstack_handler(char* base, size_t size) {
    alt_base = base;
    alt_size = size;
    stack_t ss = {.ss_sp = alt_base, .ss_size = alt_size};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_altstack_signal;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGUSR1, &sa, NULL);
}

static int run_altstack(long n, int with_jumps) {
    volatile long wrong = 0, jumps = 0, sum = 0; // kept across siglongjmp
    for (volatile long i = 0; i < n; ++i) {
        jumping = with_jumps && (i % 2);
        if (sigsetjmp(jump_env, 1) == 0) {
            long r = sig_outer(i);
            wrong += r != sig_outer_closed_form(i);
            sum += r;
        } else {
            // Jumped out of the handler: the code after raise() never ran.
            wrong += handler_result != i * 5 + 1 + 5 * i + 2021;
            jumps++;
        }
    }
    printf("%s %ld: wrong %ld, jumps %ld, sum %ld, handler off the altstack %d\n",
           with_jumps ? "sigjmp" : "altstack", n, wrong, jumps, sum, (int)handler_off_altstack);
    return wrong != 0 || handler_off_altstack;
}

// --- the same, with the sigaltstack just above the thread's stack -------

#define ABOVE_STACK_SIZE (256 * 1024)
#define ABOVE_GUARD_SIZE 4096
#define ABOVE_ALT_SIZE (64 * 1024)

struct above_run {
    char* alt;
    long n;
    int with_jumps;
    int rc;
};

// Whether addr's line in /proc/self/maps is the same as other's.
static int same_mapping(const void* a, const void* b) {
    FILE* f = fopen("/proc/self/maps", "r");
    if (!f) return -1;
    char line[512];
    int same = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx", &lo, &hi) != 2) continue;
        int has_a = (unsigned long)a >= lo && (unsigned long)a < hi;
        int has_b = (unsigned long)b >= lo && (unsigned long)b < hi;
        if (has_a || has_b) same = has_a && has_b;
        if (has_a || has_b) break;
    }
    fclose(f);
    return same;
}

static void* above_thread(void* p) {
    struct above_run* run = p;
    char* alt = run->alt;
    install_altstack_handler(alt, ABOVE_ALT_SIZE);
    char here;
    // What makes this layout hard: the altstack is above this stack, close
    // by, and yet another mapping.
    long above = alt - &here;
    printf("altstack less than 16 MiB above the thread's stack %d, same mapping %d\n",
           above > 0 && above < (16 << 20), same_mapping(&here, alt));
    run->rc = run_altstack(run->n, run->with_jumps);
    return NULL;
}

// own_stack: the thread runs on a stack we map, with a guard page and the
// altstack right above it. Else the altstack is mapped first and the thread
// created with glibc's own stack, wherever the kernel puts it.
static int run_altstack_above(long n, int with_jumps, int own_stack) {
    size_t total = own_stack ? ABOVE_STACK_SIZE + ABOVE_GUARD_SIZE + ABOVE_ALT_SIZE : ABOVE_ALT_SIZE;
    char* region = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) return 2;
    struct above_run run = {.alt = region, .n = n, .with_jumps = with_jumps};
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (own_stack) {
        // The guard page splits the region into two mappings the kernel cannot merge.
        if (mprotect(region + ABOVE_STACK_SIZE, ABOVE_GUARD_SIZE, PROT_NONE) != 0) return 2;
        run.alt = region + ABOVE_STACK_SIZE + ABOVE_GUARD_SIZE;
        pthread_attr_setstack(&attr, region, ABOVE_STACK_SIZE);
    }
    pthread_t thread;
    if (pthread_create(&thread, &attr, above_thread, &run) != 0) return 2;
    pthread_join(thread, NULL);
    return run.rc;
}

// --- real-time signals while threads hit probes -------------------------

static volatile long storm_received; // atomically incremented by the handler
static volatile long storm_handler_wrong;

static void on_storm_signal(int sig, siginfo_t* info, void* uctx) {
    (void)sig;
    (void)uctx;
    long v = info->si_value.sival_int;
    if (handler_work(v) != v * 5 + 1) __atomic_add_fetch(&storm_handler_wrong, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&storm_received, 1, __ATOMIC_RELAXED);
}

static int run_storm(long nthreads) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_storm_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGRTMIN, &sa, NULL);
    int rc = run_workers(nthreads, fire_worker);
    // SIGINT is sent after the last real-time signal, and signals of lower
    // number are delivered first, but a thread may take SIGINT while
    // another still runs its handler: wait for them to finish.
    printf("signals received %ld, handler results wrong %ld\n",
           __atomic_load_n(&storm_received, __ATOMIC_RELAXED), storm_handler_wrong);
    return rc || storm_handler_wrong != 0;
}

int main(int argc, char** argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char* mode = argc > 1 ? argv[1] : "";
    long n = argc > 2 ? atol(argv[2]) : 8;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    if (!strcmp(mode, "fire")) return run_workers(n, fire_worker);
    if (!strcmp(mode, "altstack") || !strcmp(mode, "sigjmp")) {
        size_t size = 64 * 1024;
        // mmap'd, so far from the main thread's stack.
        install_altstack_handler(
            mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), size);
        return run_altstack(n, !strcmp(mode, "sigjmp"));
    }
    if (!strcmp(mode, "altstack-above")) return run_altstack_above(n, 0, 1);
    if (!strcmp(mode, "sigjmp-above")) return run_altstack_above(n, 1, 1);
    if (!strcmp(mode, "altstack-thread")) return run_altstack_above(n, 0, 0);
    if (!strcmp(mode, "sigjmp-thread")) return run_altstack_above(n, 1, 0);
    if (!strcmp(mode, "sigstorm")) return run_storm(n);
    fprintf(stderr, "usage: %s fire|altstack|sigjmp|altstack-above|sigjmp-above|altstack-thread|sigjmp-thread|sigstorm N\n", argv[0]);
    return 2;
}
