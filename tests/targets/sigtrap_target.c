// A program with a SIGTRAP disposition of its own whose probed calls run
// with every signal blocked, as in the worker threads of a server that
// leaves signals to one thread, or in a signal handler. A tracer's trap
// there makes the kernel reset the disposition to SIG_DFL for the whole
// process. The program checks its disposition after every call, counts
// each loss and puts it back, and ends by raising SIGTRAP itself.
//
//   sigtrap_target handler N   catches SIGTRAP; prints "ready", waits for
//                              SIGUSR1, raises SIGTRAP, then calls work()
//                              N times
//   sigtrap_target ignore N    the same with SIGTRAP ignored
//   sigtrap_target late N      installs its handler only once running (a
//                              tracer that started it saw none), then
//                              calls work() N times in a new thread that
//                              blocks every signal from its start
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline, noipa))

NOINLINE long work(long a) { return a * 7 + 1; }

static volatile sig_atomic_t handled;
static void on_trap(int sig) {
    (void)sig;
    ++handled;
}

struct run {
    long n;
    void (*expected)(int);
    long bad, lost;
};

// Calls work() n times with every signal blocked, checking the
// disposition after each call (with the signals unblocked again).
static void calls(struct run* r) {
    sigset_t all, before;
    sigfillset(&all);
    for (long i = 0; i < r->n; ++i) {
        pthread_sigmask(SIG_BLOCK, &all, &before);
        if (work(i) != i * 7 + 1) ++r->bad;
        pthread_sigmask(SIG_SETMASK, &before, NULL);
        struct sigaction now;
        sigaction(SIGTRAP, NULL, &now);
        if (now.sa_handler != r->expected) {
            ++r->lost;
            struct sigaction again;
            memset(&again, 0, sizeof again);
            again.sa_handler = r->expected;
            sigaction(SIGTRAP, &again, NULL);
        }
    }
}

static void* thread_main(void* arg) {
    calls(arg);
    return NULL;
}

static void set_disposition(void (*handler)(int)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigaction(SIGTRAP, &sa, NULL);
}

int main(int argc, char** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s handler|ignore|late N\n", argv[0]);
        return 2;
    }
    const char* mode = argv[1];
    struct run r = {atol(argv[2]), on_trap, 0, 0};
    if (!strcmp(mode, "late")) {
        set_disposition(on_trap);
        sigset_t all, before;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &before);
        pthread_t th;
        if (pthread_create(&th, NULL, thread_main, &r) != 0) return 3;
        pthread_sigmask(SIG_SETMASK, &before, NULL);
        pthread_join(th, NULL);
    } else if (!strcmp(mode, "handler") || !strcmp(mode, "ignore")) {
        if (!strcmp(mode, "ignore")) r.expected = SIG_IGN;
        set_disposition(r.expected);
        sigset_t go;
        sigemptyset(&go);
        sigaddset(&go, SIGUSR1);
        pthread_sigmask(SIG_BLOCK, &go, NULL);
        printf("ready\n");
        fflush(stdout);
        int sig = 0;
        sigwait(&go, &sig);
        // A tracer attached by now: its own code's traps must not have
        // made this deadly.
        raise(SIGTRAP);
        calls(&r);
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    // Dies here (SIGTRAP's default) if the disposition was not kept.
    raise(SIGTRAP);
    printf("%s %ld bad %ld lost %ld handled %d\n", mode, r.n, r.bad, r.lost, (int)handled);
    return 0;
}
