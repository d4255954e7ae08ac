// A small real program for the integration tests. Its output depends only on
// its arguments, so a traced run can be compared byte for byte with an
// untraced one.
#include <pthread.h>
#include <setjmp.h>
#include <sys/wait.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noipa))

NOINLINE long work(long a, long b) { return a * 3 + b; }

// The program's own SIGTRAP handler in 'spawnloop' mode (never called).
static void on_spawnloop_trap(int sig) { (void)sig; }

// A status code with a known pattern: -9, -6, -3, 0, 3, 6, 9, repeating.
NOINLINE long status_of(long i) { return (i % 7) * 3 - 9; }

NOINLINE long recurse(long n) {
    if (n == 0) return 0;
    long r = recurse(n - 1);
    return n + r;
}

static jmp_buf jump_back;

// Returns normally for even n, longjmps out of two probed frames for odd n.
NOINLINE long deep(long n) {
    if (n % 2) longjmp(jump_back, 1);
    return n * 10;
}

NOINLINE long jumper(long n) { return deep(n) + 1; }

NOINLINE long tail_callee(long n) { return n * 5; }

// Optimised, a tail call: its epilogue, then `b`/`jmp tail_callee`, which
// returns straight to tail_caller's caller.
NOINLINE long tail_caller(long n) { return tail_callee(n + 1); }

NOINLINE double halve(long n) { return (double)n / 2.0; }

// Sleeps inside a probed function, so a detach finds calls in flight.
NOINLINE long napper(long n) {
    struct timespec ts = {0, 20 * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {}
    return n * 2;
}

// Blocks inside two nested probed calls until main writes to the pipe, so a
// detach finds calls pending in every thread ("blocked" mode).
static int block_pipe[2];

NOINLINE long blocked_inner(long i) {
    char c = 0;
    while (read(block_pipe[0], &c, 1) != 1) {}
    return i * 7 + (c == 'x');
}

NOINLINE long blocked_outer(long i) { return blocked_inner(i) * 2 + 1; }

static long blocked_results[64];

static void* blocked_thread(void* p) {
    long i = (long)(intptr_t)p;
    blocked_results[i] = blocked_outer(i);
    return NULL;
}

// "blocked N rekey": each thread first gets pointer authentication keys of
// its own (arm64), so its frames are signed with keys no other thread has.
static volatile int rekeyed_threads;

#if defined(__aarch64__)
// prctl(PR_PAC_RESET_KEYS, 0): new keys, all of them, for this thread only.
// Made by svc here, in a function that signs nothing (a BTI landing pad
// only: it is a thread's start routine): a signed return address made
// before the reset would not authenticate after it. EINVAL without
// pointer authentication.
__attribute__((target("branch-protection=bti"))) static void* blocked_thread_rekeyed(void* p) {
    register long x8 __asm__("x8") = SYS_prctl;
    register long x0 __asm__("x0") = 54; // PR_PAC_RESET_KEYS
    register long x1 __asm__("x1") = 0;
    register long x2 __asm__("x2") = 0;
    register long x3 __asm__("x3") = 0;
    register long x4 __asm__("x4") = 0;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4) : "memory");
    if (x0 == 0) __atomic_fetch_add(&rekeyed_threads, 1, __ATOMIC_RELAXED);
    return blocked_thread(p);
}
#else
static void* blocked_thread_rekeyed(void* p) { return blocked_thread(p); }
#endif

// Blocks SIGUSR1 and SIGUSR2 in this thread and those it creates, for
// wait_for_signal.
static void block_usr_signals(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

// Waits for one signal of those blocked in every thread.
static void wait_for_signal(int sig) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    int got = 0;
    while (sigwait(&set, &got) != 0 || got != sig) {}
}

// Recurses n calls deep through a probed function and waits at the bottom
// for SIGUSR2, so a detach finds n + 1 calls pending on one thread
// ("deepblocked" mode). The store after the call keeps the recursion
// recursive at -O2 (no tail call, no accumulator loop).
static volatile long depth_trail[16];

NOINLINE long blocked_depth(long n) {
    if (n == 0) {
        wait_for_signal(SIGUSR2);
        return 1;
    }
    long r = blocked_depth(n - 1);
    depth_trail[n % 16] = r;
    return (r * 3 + n) % 1000003;
}

// Recurses n calls deep through a probed function and forks at the bottom
// ("deepforkin" mode): the child returns up through its copies of all n + 1
// calls and exits with a code made from its result; the parent waits for it
// there, then returns through its own. The bottom gives 1 in the parent and
// 2 in the child, so each result shows whose frames it came through. Kept
// recursive at -O2 like blocked_depth.
static int in_deep_fork_child;
static int deep_fork_child_status;

NOINLINE long fork_depth(long n) {
    if (n == 0) {
        pid_t child = fork();
        if (child == 0) {
            in_deep_fork_child = 1;
            return 2;
        }
        int st = 0;
        if (child < 0 || waitpid(child, &st, 0) != child) deep_fork_child_status = -1000;
        else deep_fork_child_status = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
        return 1;
    }
    long r = fork_depth(n - 1);
    depth_trail[n % 16] = r;
    return (r * 3 + n) % 1000003;
}

// Forks inside a probed call: the child returns from its copy of the call
// too ("forkin" mode), then exits with a code the parent returns.
NOINLINE long fork_inside(long i) {
    pid_t child = fork();
    if (child == 0) return 1000 + i;
    int st = 0;
    waitpid(child, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

// 100 calls of work from 100 distinct call sites (return addresses), more
// than the engine gives dedicated return trampolines, in order k = 0..99.
#define CALL_SITE(k) sum += work((k), 1);
#define TEN_CALL_SITES(b) \
    CALL_SITE(b + 0) CALL_SITE(b + 1) CALL_SITE(b + 2) CALL_SITE(b + 3) CALL_SITE(b + 4) \
    CALL_SITE(b + 5) CALL_SITE(b + 6) CALL_SITE(b + 7) CALL_SITE(b + 8) CALL_SITE(b + 9)
NOINLINE long call_sites(void) {
    long sum = 0;
    TEN_CALL_SITES(0) TEN_CALL_SITES(10) TEN_CALL_SITES(20) TEN_CALL_SITES(30)
    TEN_CALL_SITES(40) TEN_CALL_SITES(50) TEN_CALL_SITES(60) TEN_CALL_SITES(70)
    TEN_CALL_SITES(80) TEN_CALL_SITES(90)
    return sum;
}

static volatile sig_atomic_t handler_calls;
static void on_usr1(int sig) {
    (void)sig;
    if (work(7, 1) == 22) handler_calls = handler_calls + 1;
}

struct thread_arg {
    long index;
    long calls;
    long bad;
};

static void* thread_main(void* p) {
    struct thread_arg* a = p;
    for (long i = 0; i < a->calls; ++i)
        if (work(a->index, i) != a->index * 3 + i) a->bad++;
    return NULL;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {}
}

int main(int argc, char** argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char* mode = argc > 1 ? argv[1] : "loop";
    long n = argc > 2 ? atol(argv[2]) : 10;
    if (!strcmp(mode, "loop")) {
        long sum = 0;
        for (long i = 0; i < n; ++i) sum += work(i, 1);
        printf("loop %ld sum %ld\n", n, sum);
    } else if (!strcmp(mode, "call-sites")) {
        long sum = 0;
        for (long round = 0; round < n; ++round) sum += call_sites();
        printf("call-sites %ld rounds sum %ld\n", n, sum);
    } else if (!strcmp(mode, "recurse")) {
        printf("recurse %ld = %ld\n", n, recurse(n));
    } else if (!strcmp(mode, "threads")) {
        long nthreads = argc > 3 ? atol(argv[3]) : 8;
        pthread_t th[64];
        struct thread_arg args[64];
        for (long t = 0; t < nthreads && t < 64; ++t) {
            args[t] = (struct thread_arg){t, n, 0};
            pthread_create(&th[t], NULL, thread_main, &args[t]);
        }
        long bad = 0;
        for (long t = 0; t < nthreads && t < 64; ++t) {
            pthread_join(th[t], NULL);
            bad += args[t].bad;
        }
        printf("threads %ld x %ld bad %ld\n", nthreads, n, bad);
    } else if (!strcmp(mode, "getpid")) {
        long same = 0;
        for (long i = 0; i < n; ++i) same += getpid() == (pid_t)syscall(SYS_getpid);
        printf("getpid %ld same %ld\n", n, same);
    } else if (!strcmp(mode, "slow")) {
        // Runs long enough to be attached to: one call and one line per 2 ms.
        printf("ready %d\n", getpid());
        for (long i = 0; i < n; ++i) {
            printf("%ld %ld\n", i, work(i, 2));
            sleep_ms(2);
        }
    } else if (!strcmp(mode, "status")) {
        // For collection: one status_of(i) and one work(i, 2) per 2 ms, so
        // a collected call sequence shows any gap by its argument.
        printf("ready %d\n", getpid());
        long sum = 0;
        for (long i = 0; i < n; ++i) {
            sum += status_of(i) + work(i, 2);
            sleep_ms(2);
        }
        printf("status %ld sum %ld\n", n, sum);
    } else if (!strcmp(mode, "signals")) {
        // A handler that calls the probed function, while the main loop does too.
        signal(SIGUSR1, on_usr1);
        printf("ready %d\n", getpid());
        long sum = 0;
        for (long i = 0; i < n; ++i) {
            sum += work(i, 0);
            sleep_ms(1);
        }
        printf("signals sum %ld handler_calls %d\n", sum, (int)handler_calls);
    } else if (!strcmp(mode, "longjmp")) {
        volatile long sum = 0;
        for (volatile long i = 0; i < n; ++i) {
            if (setjmp(jump_back) == 0) sum += jumper(i);
            else sum += 1000;
        }
        printf("longjmp %ld sum %ld\n", n, (long)sum);
    } else if (!strcmp(mode, "tail")) {
        long sum = 0;
        for (long i = 0; i < n; ++i) sum += tail_caller(i);
        printf("tail %ld sum %ld\n", n, sum);
    } else if (!strcmp(mode, "float")) {
        double sum = 0;
        for (long i = 0; i < n; ++i) sum += halve(i);
        printf("float %ld sum %.1f\n", n, sum);
    } else if (!strcmp(mode, "nap")) {
        printf("ready %d\n", getpid());
        long sum = 0;
        for (long i = 0; i < n; ++i) sum += napper(i);
        printf("nap %ld sum %ld\n", n, sum);
    } else if (!strcmp(mode, "blocked")) {
        // n threads enter blocked_outer -> blocked_inner on SIGUSR1 and stay
        // there until SIGUSR2; each result depends only on its index.
        block_usr_signals();
        if (pipe(block_pipe) != 0) return 1;
        printf("ready %d\n", getpid());
        wait_for_signal(SIGUSR1);
        pthread_t th[64];
        long nthreads = n < 64 ? n : 64;
        const int rekey = argc > 3 && !strcmp(argv[3], "rekey");
        for (long t = 0; t < nthreads; ++t)
            pthread_create(&th[t], NULL, rekey ? blocked_thread_rekeyed : blocked_thread,
                           (void*)(intptr_t)t);
        wait_for_signal(SIGUSR2);
        for (long t = 0; t < nthreads; ++t)
            if (write(block_pipe[1], "x", 1) != 1) return 1;
        for (long t = 0; t < nthreads; ++t) {
            pthread_join(th[t], NULL);
            printf("blocked %ld = %ld\n", t, blocked_results[t]);
        }
        if (rekey) printf("rekeyed %d of %ld threads\n", rekeyed_threads, nthreads);
    } else if (!strcmp(mode, "deepblocked")) {
        // Recurses n deep on SIGUSR1 and stays there until SIGUSR2.
        block_usr_signals();
        printf("ready %d\n", getpid());
        wait_for_signal(SIGUSR1);
        printf("deepblocked %ld = %ld\n", n, blocked_depth(n));
    } else if (!strcmp(mode, "forkin")) {
        for (long i = 0; i < n; ++i) {
            long r = fork_inside(i);
            if (r >= 1000) _exit((int)(r - 1000 + 10));
            printf("forkin %ld -> %ld\n", i, r);
        }
    } else if (!strcmp(mode, "deepforkin")) {
        long r = fork_depth(n);
        if (in_deep_fork_child) _exit((int)(r % 200) + 10);
        printf("deepforkin %ld parent %ld child exit %d\n", n, r, deep_fork_child_status);
    } else if (!strcmp(mode, "fork")) {
        // Children (fork and vfork) call the probed function and exit with its result.
        volatile long ok = 0;
        for (volatile long i = 0; i < n; ++i) {
            pid_t child = (i % 2) ? vfork() : fork();
            if (child == 0) _exit((int)(work(i, 1) & 0x7f));
            int st = 0;
            waitpid(child, &st, 0);
            if (WIFEXITED(st) && WEXITSTATUS(st) == ((i * 3 + 1) & 0x7f)) ok++;
            work(i, 0);
        }
        printf("fork %ld ok %ld\n", n, (long)ok);
    } else if (!strcmp(mode, "exec-into") && argc > 3) {
        // Calls work() n times, then replaces itself with another program
        // (argv[3], given argv[4] if any).
        long sum = 0;
        for (long i = 0; i < n; ++i) sum += work(i, 0);
        printf("before exec %ld\n", sum);
        fflush(stdout);
        execl(argv[3], argv[3], argc > 4 ? argv[4] : (char*)NULL, (char*)NULL);
        return 3;
    } else if (!strcmp(mode, "exec")) {
        // Calls work() n times, then replaces itself with "loop n", or with
        // "MODE M" when given as "exec n MODE M".
        long sum = 0;
        for (long i = 0; i < n; ++i) sum += work(i, 0);
        printf("before exec %ld\n", sum);
        if (argc > 4) execl("/proc/self/exe", argv[0], argv[3], argv[4], (char*)NULL);
        else execl("/proc/self/exe", argv[0], "loop", argv[2], (char*)NULL);
        return 3;
    } else if (!strcmp(mode, "execchain")) {
        // Replaces itself n times, one work() call per image: it spends
        // most of its time inside execve (the exec event stop).
        work(n, 0);
        if (n > 0) {
            char next[32];
            snprintf(next, sizeof next, "%ld", n - 1);
            execl("/proc/self/exe", argv[0], "execchain", next, (char*)NULL);
            return 3;
        }
        printf("execchain done\n");
    } else if (!strcmp(mode, "spawnloop")) {
        // Starts and joins n short threads one after another: its main
        // thread spends much of its time inside clone (the clone event stop),
        // with every signal blocked. Its SIGTRAP handler must stay its own
        // (a trap of a tracer's with SIGTRAP blocked makes the kernel reset
        // it to SIG_DFL): each loss is counted and the handler put back.
        struct sigaction keep;
        memset(&keep, 0, sizeof keep);
        keep.sa_handler = on_spawnloop_trap;
        sigaction(SIGTRAP, &keep, NULL);
        long bad = 0, handler_lost = 0;
        for (long i = 0; i < n; ++i) {
            pthread_t th;
            struct thread_arg arg = {i, 1, 0};
            if (pthread_create(&th, NULL, thread_main, &arg) != 0) return 4;
            pthread_join(th, NULL);
            bad += arg.bad;
            struct sigaction now;
            sigaction(SIGTRAP, NULL, &now);
            if (now.sa_handler != on_spawnloop_trap) {
                ++handler_lost;
                sigaction(SIGTRAP, &keep, NULL);
            }
        }
        printf("spawnloop %ld bad %ld sigtrap handler lost %ld\n", n, bad, handler_lost);
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    return 0;
}
