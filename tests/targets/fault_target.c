// A program whose probed function faults on its first instruction and
// handles it, as garbage collectors, JITs and memory probers do. The
// handler must see (and return to) the function's own instruction, never a
// tracer's copy of it, and the call must go on as if nobody watched.
//   retry N    N calls of load_first; every other call finds its argument's
//              page inaccessible, the handler makes it readable and
//              returns, and the load runs again
//   recover N  N calls that fault, each left by siglongjmp from the
//              handler; then one call that returns
// Prints what the handler saw; exits 1 if anything was not as expected.
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noipa))

// Built with -O2: the load is its first instruction (the probed one).
NOINLINE long load_first(const long* p) { return *p * 3 + 1; }

static char* page;
static size_t page_size;
static volatile sig_atomic_t recovering;
static sigjmp_buf recover_point;
static volatile long faults, wrong_address, wrong_pc;

static uintptr_t interrupted_pc(const void* uctx) {
    const ucontext_t* uc = uctx;
#if defined(__x86_64__)
    return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (uintptr_t)uc->uc_mcontext.pc;
#else
#error "fault_target: unknown architecture"
#endif
}

static void on_segv(int sig, siginfo_t* info, void* uctx) {
    (void)sig;
    ++faults;
    if ((char*)info->si_addr != page) ++wrong_address;
    if (interrupted_pc(uctx) != (uintptr_t)&load_first) ++wrong_pc;
    if (recovering) siglongjmp(recover_point, 1);
    if (mprotect(page, page_size, PROT_READ | PROT_WRITE) != 0) _exit(3);
}

static void protect(int prot) {
    if (mprotect(page, page_size, prot) != 0) {
        perror("mprotect");
        exit(2);
    }
}

static int run_retry(long n) {
    long sum = 0, expected = 0;
    for (long i = 0; i < n; ++i) {
        *(long*)page = i;
        if (i % 2 == 0) protect(PROT_NONE);
        sum += load_first((const long*)page);
        expected += i * 3 + 1;
    }
    printf("retry %ld: sum %s, faults %ld, wrong address %ld, wrong pc %ld\n", n,
           sum == expected ? "right" : "WRONG", faults, wrong_address, wrong_pc);
    return sum != expected || faults != (n + 1) / 2 || wrong_address || wrong_pc;
}

static int run_recover(long n) {
    volatile long recovered = 0;
    protect(PROT_NONE);
    recovering = 1;
    for (long i = 0; i < n; ++i) {
        if (sigsetjmp(recover_point, 1) == 0) load_first((const long*)page);
        else ++recovered;
    }
    recovering = 0;
    protect(PROT_READ | PROT_WRITE);
    *(long*)page = 7;
    long last = load_first((const long*)page);
    printf("recover %ld: recovered %ld, last call %ld, wrong address %ld, wrong pc %ld\n", n,
           recovered, last, wrong_address, wrong_pc);
    return recovered != n || last != 22 || wrong_address || wrong_pc;
}

int main(int argc, char** argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char* mode = argc > 1 ? argv[1] : "";
    long n = argc > 2 ? atol(argv[2]) : 10;
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    page = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) return 2;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    if (!strcmp(mode, "retry")) return run_retry(n);
    if (!strcmp(mode, "recover")) return run_recover(n);
    fprintf(stderr, "usage: %s retry|recover N\n", argv[0]);
    return 2;
}
