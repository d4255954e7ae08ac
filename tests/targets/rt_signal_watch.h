// Counts SIGRTMIN deliveries and the handlers that were shown an interrupted
// PC outside this executable's code (a slot of ours, say), for targets whose
// loops run only code of their own. Real-time signals queue, so every one
// sent must arrive exactly once.
#pragma once
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <ucontext.h>

static volatile sig_atomic_t rt_signals;
static volatile sig_atomic_t outside_text;
extern const char __executable_start[], etext[];

static void on_rt_signal(int sig, siginfo_t* info, void* uctx) {
    (void)sig;
    (void)info;
    // The interrupted PC, as a profiler or crash handler would read it.
#if defined(__x86_64__)
    uintptr_t pc = (uintptr_t)((ucontext_t*)uctx)->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    uintptr_t pc = (uintptr_t)((ucontext_t*)uctx)->uc_mcontext.pc;
#else
#error "rt_signal_watch.h: no PC in this architecture's ucontext"
#endif
    if (pc < (uintptr_t)__executable_start || pc >= (uintptr_t)etext) outside_text = outside_text + 1;
    rt_signals = rt_signals + 1;
}

static void watch_rt_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_rt_signal;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGRTMIN, &sa, NULL);
}
