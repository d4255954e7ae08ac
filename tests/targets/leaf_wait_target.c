// Many threads asleep inside a probed leaf function, for a detach that finds
// each one's hijacked return address in x30 (arm64), signed by the leaf's
// own paciasp (built with -mbranch-protection=pac-ret+leaf): the leaf makes
// no call, so x30 keeps the signed value until its autiasp. For 1 thread in
// 128 that signed value has an authentication code of 0 and reads as the
// plain trampoline address (daemon/copy_form.h); with enough threads some
// always do.
//
// leaf_wait_target blocked THREADS: prints "ready PID", waits for SIGUSR1, starts
// THREADS threads that each enter leaf_wait and sleep there (a futex wait
// issued by the leaf itself, no libc call), waits for SIGUSR2, wakes them,
// and prints the sum of what their calls returned.
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile int released;

// The futex wait written out, so the leaf stays a leaf.
static inline void futex_wait_zero(volatile int* word) {
#if defined(__aarch64__)
    register long x8 __asm__("x8") = SYS_futex;
    register long x0 __asm__("x0") = (long)word;
    register long x1 __asm__("x1") = FUTEX_WAIT_PRIVATE;
    register long x2 __asm__("x2") = 0;
    register long x3 __asm__("x3") = 0;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
#elif defined(__x86_64__)
    register long r10 __asm__("r10") = 0;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "0"((long)SYS_futex), "D"(word), "S"((long)FUTEX_WAIT_PRIVATE), "d"(0L),
                       "r"(r10)
                     : "rcx", "r11", "memory");
    (void)ret;
#else
#error "leaf_wait_target: no inline futex wait for this architecture"
#endif
}

__attribute__((noinline)) long leaf_wait(long value) {
    while (released == 0) futex_wait_zero(&released);
    return value * 2 + 1;
}

static void* thread_main(void* arg) {
    return (void*)leaf_wait((long)arg);
}

int main(int argc, char** argv) {
    if (argc != 3 || strcmp(argv[1], "blocked") != 0) {
        fprintf(stderr, "usage: leaf_wait_target blocked THREADS\n");
        return 2;
    }
    const long n = atol(argv[2]);
    if (n < 1 || n > 4096) {
        fprintf(stderr, "leaf_wait_target: THREADS must be 1..4096\n");
        return 2;
    }
    sigset_t usr;
    sigemptyset(&usr);
    sigaddset(&usr, SIGUSR1);
    sigaddset(&usr, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &usr, NULL); // the threads inherit it
    printf("ready %d\n", getpid());
    fflush(stdout);
    int sig = 0;
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, SIGUSR1);
    sigwait(&one, &sig);

    pthread_t* threads = calloc((size_t)n, sizeof *threads);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    for (long i = 0; i < n; ++i)
        if (pthread_create(&threads[i], &attr, thread_main, (void*)i) != 0) {
            fprintf(stderr, "leaf_wait_target: pthread_create failed at %ld\n", i);
            return 1;
        }

    sigemptyset(&one);
    sigaddset(&one, SIGUSR2);
    sigwait(&one, &sig);
    released = 1;
    syscall(SYS_futex, &released, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
    long sum = 0;
    for (long i = 0; i < n; ++i) {
        void* r = NULL;
        pthread_join(threads[i], &r);
        sum += (long)r;
    }
    free(threads);
    printf("leaf_wait %ld threads: %ld\n", n, sum);
    return 0;
}
