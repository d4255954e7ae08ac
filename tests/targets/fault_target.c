// A program whose probed function faults on its first instruction and
// handles it, as garbage collectors, JITs and memory probers do. The
// handler must see (and return to) the function's own instruction, never a
// tracer's copy of it, and the call must go on as if nobody watched.
//   retry N    N calls of load_first; every other call finds its argument's
//              page inaccessible, the handler makes it readable and
//              returns, and the load runs again
//   recover N  N calls that fault, each left by siglongjmp from the
//              handler; then one call that returns
//   guard N    N calls of store_first, whose first instruction stores to the
//              stack (push / stp), made with the stack pointer right above
//              a PROT_NONE guard page: the store faults (SEGV_ACCERR), the
//              handler (on a sigaltstack) opens the page and returns. A
//              tracer that simulates the store must not write where the
//              program may not: that is how stack overflows are caught.
//   unmapped N the same with nothing mapped below the stack (SEGV_MAPERR);
//              the handler maps the page
//   stepretry N (x86_64) retry with call_through, whose first instruction
//              is an indirect call through memory: the kind the engine
//              single-steps in a slot, so the fault comes from the step
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

// store_first(x) = x + 3, its first instruction a store to the stack (the
// kind the engine simulates); call_on_stack(fn, arg, sp) calls fn(arg)
// with the stack pointer at `sp` (16-byte aligned): fn's store lands in the
// 16 bytes below it.
long store_first(long x);
#if defined(__x86_64__)
__asm__(".text\n"
        ".globl store_first\n"
        ".type store_first, @function\n"
        "store_first:\n"
        "  push %rbx\n" // at sp - 16: the call put the return address at sp - 8
        "  lea 3(%rdi), %rax\n"
        "  pop %rbx\n"
        "  ret\n"
        ".size store_first, . - store_first\n");
// call_through(p) = (*p)(): an indirect call through memory first.
long call_through(long (*const* p)(void));
__asm__(".text\n"
        ".globl call_through\n"
        ".type call_through, @function\n"
        "call_through:\n"
        "  call *(%rdi)\n"
        "  ret\n"
        ".size call_through, . - call_through\n");
static long called_through(void) { return 7; }
static long call_on_stack(long (*fn)(long), long arg, void* sp) {
    long ret;
    __asm__ volatile("mov %%rsp, %%r12\n\t"
                     "mov %[sp], %%rsp\n\t"
                     "call *%[fn]\n\t"
                     "mov %%r12, %%rsp\n\t"
                     : "=a"(ret), "+D"(arg)
                     : [fn] "r"(fn), [sp] "r"((char*)sp + 8)
                     : "r12", "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "memory", "cc");
    return ret;
}
#elif defined(__aarch64__)
__asm__(".text\n"
        ".globl store_first\n"
        ".type store_first, %function\n"
        "store_first:\n"
        "  stp x29, x30, [sp, #-16]!\n"
        "  mov x29, sp\n"
        "  add x0, x0, #3\n"
        "  ldp x29, x30, [sp], #16\n"
        "  ret\n"
        ".size store_first, . - store_first\n");
static long call_on_stack(long (*fn)(long), long arg, void* sp) {
    register long x0 __asm__("x0") = arg;
    __asm__ volatile("mov x19, sp\n\t"
                     "mov sp, %[sp]\n\t"
                     "blr %[fn]\n\t"
                     "mov sp, x19\n\t"
                     : "+r"(x0)
                     : [fn] "r"(fn), [sp] "r"(sp)
                     : "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12",
                       "x13", "x14", "x15", "x16", "x17", "x18", "x19", "x30", "memory", "cc");
    return x0;
}
#endif

static char* page;       // where the expected faults are
static size_t page_size;
static uintptr_t expected_pc; // the instruction they are expected at
static int expected_code;
static volatile sig_atomic_t recovering;
static volatile sig_atomic_t map_on_fault; // the fault is on an unmapped page
static sigjmp_buf recover_point;
static volatile long faults, wrong_address, wrong_pc, wrong_code;

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
    const char* at = info->si_addr;
    if (at < page || at >= page + page_size) ++wrong_address;
    if (interrupted_pc(uctx) != expected_pc) ++wrong_pc;
    if (info->si_code != expected_code) ++wrong_code;
    if (recovering) siglongjmp(recover_point, 1);
    if (map_on_fault) {
        if (mmap(page, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                 -1, 0) == MAP_FAILED)
            _exit(3);
        return;
    }
    if (mprotect(page, page_size, PROT_READ | PROT_WRITE) != 0) _exit(3);
}

static void protect(int prot) {
    if (mprotect(page, page_size, prot) != 0) {
        perror("mprotect");
        exit(2);
    }
}

static int run_retry(long n) {
    expected_pc = (uintptr_t)&load_first;
    long sum = 0, expected = 0;
    for (long i = 0; i < n; ++i) {
        *(long*)page = i;
        if (i % 2 == 0) protect(PROT_NONE);
        sum += load_first((const long*)page);
        expected += i * 3 + 1;
    }
    printf("retry %ld: sum %s, faults %ld, wrong address %ld, wrong pc %ld, wrong code %ld\n", n,
           sum == expected ? "right" : "WRONG", faults, wrong_address, wrong_pc, wrong_code);
    return sum != expected || faults != (n + 1) / 2 || wrong_address || wrong_pc || wrong_code;
}

static int run_recover(long n) {
    expected_pc = (uintptr_t)&load_first;
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
    printf("recover %ld: recovered %ld, last call %ld, wrong address %ld, wrong pc %ld, wrong code %ld\n",
           n, recovered, last, wrong_address, wrong_pc, wrong_code);
    return recovered != n || last != 22 || wrong_address || wrong_pc || wrong_code;
}

#if defined(__x86_64__)
static int run_stepretry(long n) {
    expected_pc = (uintptr_t)&call_through;
    long sum = 0;
    for (long i = 0; i < n; ++i) {
        *(long (**)(void))page = called_through;
        if (i % 2 == 0) protect(PROT_NONE);
        sum += call_through((long (*const*)(void))page);
    }
    printf("stepretry %ld: sum %s, faults %ld, wrong address %ld, wrong pc %ld, wrong code %ld\n",
           n, sum == 7 * n ? "right" : "WRONG", faults, wrong_address, wrong_pc, wrong_code);
    return sum != 7 * n || faults != (n + 1) / 2 || wrong_address || wrong_pc || wrong_code;
}
#endif

static int run_guard(long n, int unmapped) {
    // [stack pages][the guard page]: the guard is `page`, the stack is
    // mapped right above it, and calls start at its bottom.
    char* region = mmap(NULL, 5 * page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) return 2;
    if (munmap(page, page_size) != 0) return 2;
    page = region;
    expected_pc = (uintptr_t)&store_first;
    long wrong_results = 0;
    if (unmapped) {
        map_on_fault = 1;
        expected_code = SEGV_MAPERR;
    }
    for (long i = 0; i < n; ++i) {
        if (unmapped) {
            if (munmap(page, page_size) != 0) return 2;
        } else {
            protect(PROT_NONE);
        }
        if (call_on_stack(store_first, i, page + page_size) != i + 3) ++wrong_results;
    }
    printf("%s %ld: wrong results %ld, faults %ld, wrong address %ld, wrong pc %ld, wrong code %ld\n",
           unmapped ? "unmapped" : "guard", n, wrong_results, faults, wrong_address, wrong_pc,
           wrong_code);
    return wrong_results || faults != n || wrong_address || wrong_pc || wrong_code;
}

int main(int argc, char** argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char* mode = argc > 1 ? argv[1] : "";
    long n = argc > 2 ? atol(argv[2]) : 10;
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    page = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) return 2;
    expected_code = SEGV_ACCERR; // a mapped page the program may not touch
    // The handler also runs when the stack pointer is at a guard page.
    stack_t alt = {.ss_sp = malloc(SIGSTKSZ * 4), .ss_size = SIGSTKSZ * 4};
    if (!alt.ss_sp || sigaltstack(&alt, NULL) != 0) return 2;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &sa, NULL);
    if (!strcmp(mode, "retry")) return run_retry(n);
    if (!strcmp(mode, "recover")) return run_recover(n);
    if (!strcmp(mode, "guard")) return run_guard(n, 0);
    if (!strcmp(mode, "unmapped")) return run_guard(n, 1);
#if defined(__x86_64__)
    if (!strcmp(mode, "stepretry")) return run_stepretry(n);
#endif
    fprintf(stderr, "usage: %s retry|recover|guard|unmapped|stepretry N\n", argv[0]);
    return 2;
}
