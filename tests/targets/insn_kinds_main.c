// Calls each function of insn_kinds.S and prints what it returned.
#include "rt_signal_watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long kind_nop(long), kind_endbr64(long), kind_push(long), call_mov_rbp_rsp(long);
long kind_sub_rsp(long), kind_add_rsp(long), kind_jmp(long), kind_call(long);
long call_jcc(long), kind_riprel(long), kind_xor(long), kind_indirect_call(long);

int main(int argc, char** argv) {
    long n = argc > 1 ? atol(argv[1]) : 3;
    // "signals": a stepped and a boosted kind in a loop, watching real-time
    // signals (rt_signal_watch.h).
    if (argc > 2 && !strcmp(argv[2], "signals")) {
        watch_rt_signals();
        printf("ready\n");
        fflush(stdout);
        long wrong = 0;
        for (long i = 0; i < n; ++i) {
            wrong += kind_indirect_call(i) != i + 7;
            wrong += kind_riprel(i) != i + 1000;
        }
        printf("stepped %ld bad %ld signals %d outside %d\n", n, wrong, (int)rt_signals,
               (int)outside_text);
        return wrong != 0;
    }
    long bad = 0;
    for (long i = 0; i < n; ++i) {
        bad += kind_nop(i) != i + 1;
        bad += kind_endbr64(i) != i + 2;
        bad += kind_push(i) != i + 3;
        bad += call_mov_rbp_rsp(i) != i;
        bad += kind_sub_rsp(i) != i + 4;
        bad += kind_add_rsp(i) != i + 5;
        bad += kind_jmp(i) != i + 6;
        bad += kind_call(i) != i + 7;
        bad += call_jcc(i) != (i < 10 ? 100 : 200);
        bad += kind_riprel(i) != i + 1000;
        bad += kind_xor(i) != i;
        bad += kind_indirect_call(i) != i + 7;
    }
    printf("kinds %ld bad %ld\n", n, bad);
    return bad != 0;
}
