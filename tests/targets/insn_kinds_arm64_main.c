// Calls each function of insn_kinds_arm64.S and prints what it returned.
#include "rt_signal_watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long kind_nop(long), kind_bti(long), kind_paciasp(long), kind_push_frame(long);
long call_mov_fp_sp(long), kind_b(long), call_bl(long), call_bcond(long), kind_cbz(long);
long kind_tbz(long), kind_adr(long), kind_adrp(long), kind_ldr_literal(long);
long kind_boosted(long), kind_ldxr(long*);

int main(int argc, char** argv) {
    long n = argc > 1 ? atol(argv[1]) : 3;
    // "signals": a boosted and a simulated kind in a loop, watching
    // real-time signals (rt_signal_watch.h).
    if (argc > 2 && !strcmp(argv[2], "signals")) {
        watch_rt_signals();
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
