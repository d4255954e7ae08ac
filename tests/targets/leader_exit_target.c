// A program whose main thread leaves with pthread_exit while a worker goes
// on: the process lives on with its leader a zombie, whose /proc/PID files
// show no memory, maps or auxv, and which ptrace cannot seize.
//
//   leader_exit_target leaderexit WAIT_MS|signal N [exec|handler]
//
// The worker says "ready", then calls work() every millisecond, N times;
// main leaves WAIT_MS milliseconds after the worker started, or when sent
// SIGUSR1. The worker
// prints "done N bad B" and the process ends with status 0 when it returns,
// or, with "exec", the worker execs this program again, which prints
// "execed" (the exec's thread takes the leader's tid). With "handler", main
// first installs a SIGTRAP handler, which the worker checks is still there
// at the end ("handler kept" or "handler lost").
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noipa))

NOINLINE long work(long a) { return a * 5 + 2; }

static long calls;
static int exec_after;
static int with_handler;

static void on_sigtrap(int sig) { (void)sig; }
static const char* self;

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {}
}

static void* worker(void* arg) {
    (void)arg;
    printf("ready\n");
    fflush(stdout);
    long bad = 0;
    for (long i = 0; i < calls; ++i) {
        if (work(i) != i * 5 + 2) ++bad;
        sleep_ms(1);
    }
    printf("done %ld bad %ld\n", calls, bad);
    if (with_handler) {
        struct sigaction now;
        sigaction(SIGTRAP, NULL, &now);
        printf("handler %s\n", now.sa_handler == on_sigtrap ? "kept" : "lost");
    }
    fflush(stdout);
    if (exec_after) {
        // Not /proc/self: that is the zombie leader's, with no executable.
        execl("/proc/thread-self/exe", self, "execed", (char*)NULL);
        perror("execl");
        return NULL;
    }
    return NULL;
}

int main(int argc, char** argv) {
    if (argc == 2 && !strcmp(argv[1], "execed")) {
        printf("execed %ld\n", work(1));
        return 0;
    }
    if (argc < 4) {
        fprintf(stderr, "usage: %s leaderexit WAIT_MS|signal N [exec|handler]\n", argv[0]);
        return 2;
    }
    calls = atol(argv[3]);
    exec_after = argc > 4 && !strcmp(argv[4], "exec");
    with_handler = argc > 4 && !strcmp(argv[4], "handler");
    if (with_handler) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_sigtrap;
        sigaction(SIGTRAP, &sa, NULL);
    }
    self = argv[0];
    // WAIT_MS "signal": main leaves when sent SIGUSR1 (blocked in every
    // thread, taken by main's sigwait only).
    const int on_signal = !strcmp(argv[2], "signal");
    sigset_t go;
    sigemptyset(&go);
    sigaddset(&go, SIGUSR1);
    if (on_signal) sigprocmask(SIG_BLOCK, &go, NULL);
    pthread_t th;
    if (pthread_create(&th, NULL, worker, NULL) != 0) return 3;
    if (on_signal) {
        int sig = 0;
        sigwait(&go, &sig);
    } else {
        sleep_ms(atol(argv[2]));
    }
    pthread_exit(NULL);
}
