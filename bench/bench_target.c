// The program probe_bench traces: calls one function of bench_target.S N times
// and prints how long the loop took, so the benchmark measures the calls and
// not process start-up (exec, the dynamic loader, the tracer's spawn work).
//
//   bench_target simulate|boosted|stepped N
//   -> "elapsed_ns <ns> checksum <sum>"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef uint64_t (*bench_fn)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);

uint64_t bench_fn_simulate(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t bench_fn_boosted(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t bench_fn_stepped(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s simulate|boosted|stepped N\n", argv[0]);
        return 2;
    }
    bench_fn fn = NULL;
    if (strcmp(argv[1], "simulate") == 0) fn = bench_fn_simulate;
    else if (strcmp(argv[1], "boosted") == 0) fn = bench_fn_boosted;
    else if (strcmp(argv[1], "stepped") == 0) fn = bench_fn_stepped;
    if (!fn) {
        fprintf(stderr, "unknown function %s\n", argv[1]);
        return 2;
    }
    uint64_t n = strtoull(argv[2], NULL, 10);

    // The sum keeps every call observable, and a wrong result from a badly
    // displaced instruction shows up even when the tracer misses it.
    uint64_t sum = 0, want = 0;
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; ++i) sum += fn(i, 1, 2, 3, 4, 5);
    uint64_t t1 = now_ns();
    for (uint64_t i = 0; i < n; ++i) want += i * 3 + 1;

    printf("elapsed_ns %llu checksum %llu\n", (unsigned long long)(t1 - t0),
           (unsigned long long)sum);
    return sum == want ? 0 : 1;
}
