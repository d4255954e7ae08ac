// stack_target DEPTH [thread]: recurses DEPTH+1 levels through deep::dive
// (on a second thread with "thread"), says "bottom" once at the deepest
// level, and waits there until SIGUSR1; then every level returns and it
// prints the sum. Built with and without frame pointers and unwind tables,
// so stacks can be compared with gdb's.
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOINLINE __attribute__((noinline, noipa))

static volatile sig_atomic_t go;

static void on_usr1(int) { go = 1; }

// Sleeps through a raw system call so the innermost frame is ours, not
// libc's: a libc function's name depends on which of its aliases a tool
// picks, ours does not.
NOINLINE static void nap() {
    struct timespec ts = {0, 5 * 1000 * 1000};
    long ret;
#if defined(__x86_64__)
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "0"(35L /* nanosleep */), "D"(&ts), "S"(0L)
                     : "rcx", "r11", "memory");
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = 101; // nanosleep
    register long x0 __asm__("x0") = reinterpret_cast<long>(&ts);
    register long x1 __asm__("x1") = 0;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1) : "memory");
    ret = x0;
#else
#error "nap() needs a raw nanosleep for this architecture"
#endif
    (void)ret;
}

extern "C" NOINLINE void wait_at_bottom() {
    printf("bottom\n");
    fflush(stdout);
    while (!go) nap();
}

namespace deep {

NOINLINE long dive(long n) {
    if (n == 0) {
        wait_at_bottom();
        return 0;
    }
    long r = dive(n - 1);
    // Work after the call keeps it a real call at -O2 (no tail recursion).
    __asm__ volatile("" : "+r"(r));
    return r + n;
}

} // namespace deep

extern "C" NOINLINE void* dive_on_thread(void* depth) {
    long r = deep::dive(reinterpret_cast<long>(depth));
    __asm__ volatile("" : "+r"(r)); // a frame of its own: no tail call
    return reinterpret_cast<void*>(r);
}

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: stack_target DEPTH\n");
        return 2;
    }
    struct sigaction sa = {};
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, nullptr);
    long depth = atol(argv[1]);
    long sum = 0;
    if (argc > 2 && !strcmp(argv[2], "thread")) {
        pthread_t th;
        void* result = nullptr;
        if (pthread_create(&th, nullptr, dive_on_thread, reinterpret_cast<void*>(depth)) != 0 ||
            pthread_join(th, &result) != 0)
            return 1;
        sum = reinterpret_cast<long>(result);
    } else {
        sum = deep::dive(depth);
    }
    printf("sum %ld\n", sum);
    return 0;
}
