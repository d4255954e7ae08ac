// Calls each function of insn_kinds_arm64.S and prints what it returned.
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

static volatile sig_atomic_t rt_signals;
static volatile sig_atomic_t outside_text; // handlers that saw a PC outside our code
extern const char __executable_start[], etext[];

static void on_rt_signal(int sig, siginfo_t* info, void* uctx) {
    (void)sig;
    (void)info;
    // The interrupted PC, as a profiler or crash handler would read it: the
    // loop below only runs code of this executable.
    uintptr_t pc = (uintptr_t)((ucontext_t*)uctx)->uc_mcontext.pc;
    if (pc < (uintptr_t)__executable_start || pc >= (uintptr_t)etext) outside_text = outside_text + 1;
    rt_signals = rt_signals + 1;
}

long kind_nop(long), kind_bti(long), kind_paciasp(long), kind_push_frame(long);
long call_mov_fp_sp(long), kind_b(long), call_bl(long), call_bcond(long), kind_cbz(long);
long kind_tbz(long), kind_adr(long), kind_adrp(long), kind_ldr_literal(long);
long kind_boosted(long), kind_ldxr(long*);

int main(int argc, char** argv) {
    long n = argc > 1 ? atol(argv[1]) : 3;
    // "signals": a boosted and a simulated kind in a loop, counting
    // real-time signals (they queue, so every one sent must arrive exactly
    // once) and handlers that were shown a PC outside this program's code.
    if (argc > 2 && !strcmp(argv[2], "signals")) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_rt_signal;
        sa.sa_flags = SA_SIGINFO;
        sigaction(SIGRTMIN, &sa, NULL);
        printf("ready\n");
        fflush(stdout);
        long wrong = 0;
        for (long i = 0; i < n; ++i) {
            wrong += kind_push_frame(i) != i + 4;
            wrong += kind_boosted(i) != i + 14;
        }
        printf("looped %ld bad %ld signals %d outside %d\n", n, wrong, (int)rt_signals,
               (int)outside_text);
        return wrong != 0;
    }
    long bad = 0, counter = 0;
    for (long i = 0; i < n; ++i) {
        bad += kind_nop(i) != i + 1;
        bad += kind_bti(i) != i + 2;
        bad += kind_paciasp(i) != i + 3;
        bad += kind_push_frame(i) != i + 4;
        bad += call_mov_fp_sp(i) != i;
        bad += kind_b(i) != i + 6;
        bad += call_bl(i) != i + 7;
        bad += call_bcond(i) != (i < 10 ? 100 : 200);
        bad += kind_cbz(i) != (i == 0 ? 500 : i + 8);
        bad += kind_tbz(i) != (i % 2 ? i + 9 : i + 10);
        bad += kind_adr(i) != i + 11;
        bad += kind_adrp(i) != i + 12;
        bad += kind_ldr_literal(i) != i + 13;
        bad += kind_boosted(i) != i + 14;
        bad += kind_ldxr(&counter) != i + 1;
    }
    printf("kinds %ld bad %ld\n", n, bad);
    return bad != 0;
}
