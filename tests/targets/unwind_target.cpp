// A program whose control flow leaves functions without returning: C++
// exceptions (thrown through frames, caught inside a frame, rethrown, with
// cleanups), pthread_exit and pthread_cancel (forced unwinding) and
// glibc's backtrace(). The tests probe the functions below for their returns
// and check two things: this program prints exactly what it prints without
// probes, and every call is reported with the right kind of exit.
//
// Every mode prints one line per result and "done" at the end. "steps" waits
// for a SIGUSR1 before each step, so a test can change the probes between
// them (see run_steps); "leaderless" waits for one after its main thread
// has left.
#include <execinfo.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

extern "C" {

// The probed functions are extern "C" with stable names, and noinline so each
// is a real frame. leaf() throws when asked; the others pass through.
__attribute__((noinline)) long leaf(long x, long throw_it) {
    if (throw_it) throw std::runtime_error("leaf " + std::to_string(x));
    return x * 3 + 1;
}

__attribute__((noinline)) long middle(long x, long throw_it) {
    return leaf(x, throw_it) + 1;
}

// Catches what middle() lets through: the exception ends middle and leaf,
// outer itself returns normally.
__attribute__((noinline)) long outer(long x, long throw_it) {
    try {
        return middle(x, throw_it) * 2;
    } catch (const std::runtime_error& e) {
        return -x;
    }
}

// Recurses `depth` more levels, then throws when x is even: an exception
// through several pending frames of one function, each entered at its own
// stack pointer (with pointer authentication: each signed with its own).
__attribute__((noinline)) long descend(long x, long depth) {
    if (depth == 0) {
        if (x % 2 == 0) throw std::runtime_error("bottom " + std::to_string(x));
        return x;
    }
    long r = descend(x, depth - 1);
    asm volatile("" : "+r"(r)); // keeps -O2 from turning the recursion into a loop
    return r + 1;
}

// Catches what descend() lets through and returns normally either way; then
// calls descend() again, which must return normally through the frames
// hijacked again after the catch.
__attribute__((noinline)) long deep_outer(long x) {
    long r;
    try {
        r = descend(x, 4);
    } catch (const std::runtime_error&) {
        r = -x;
    }
    return r + descend(x | 1, 2) * 100;
}

// Throws and catches within itself: it returns normally either way.
__attribute__((noinline)) long self_catch(long x) {
    try {
        if (x % 2) throw std::runtime_error("odd");
        return x;
    } catch (const std::runtime_error&) {
        return -x;
    }
}

// Catches and rethrows: the rethrow unwinds it too.
__attribute__((noinline)) long rethrower(long x) {
    try {
        return middle(x, 1);
    } catch (...) {
        throw;
    }
}

struct Cleanup {
    long* counter;
    ~Cleanup() { *counter += leaf(1, 0); } // a probed call made during unwinding
};

// Unwound through a frame with a destructor (a cleanup landing pad, then
// _Unwind_Resume).
__attribute__((noinline)) long with_cleanup(long x, long* counter) {
    Cleanup c{counter};
    return middle(x, 1);
}

__attribute__((noinline)) long blocker(long x) {
    for (;;) {
        pause(); // a cancellation point
        (void)x;
    }
}

__attribute__((noinline)) long exiter(long x) {
    pthread_exit(reinterpret_cast<void*>(x));
}

__attribute__((noinline)) long backtracer(long x) {
    void* frames[64];
    int n = backtrace(frames, 64);
    // Every return address backtrace() reports must be a real one: our
    // trampoline lives in an anonymous page, outside every module.
    char** names = backtrace_symbols(frames, n);
    int unnamed = 0;
    for (int i = 0; i < n; ++i)
        if (!names || std::strchr(names[i], '(') == nullptr) ++unnamed;
    std::free(names);
    return x * 10 + unnamed;
}

// Waits for a SIGUSR1 (blocked, taken with sigwait).
void wait_go() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    int sig = 0;
    sigwait(&set, &sig);
}

// Stays inside (its frame pending) until told to go on, then lets an
// exception through itself.
__attribute__((noinline)) long parker(long x) {
    std::printf("parked %ld\n", x);
    wait_go();
    return middle(x, 1);
}

} // extern "C"

namespace {

// outer(0, 1) and outer(1, 1), which throw through middle and leaf and
// catch, then parker(2), which waits inside and is then thrown through.
// Each step waits for a SIGUSR1 first, and so does the end.
void run_steps() {
    std::printf("ready\n"); // SIGUSR1 is blocked: it can be sent
    for (long i = 0; i < 2; ++i) {
        wait_go();
        std::printf("outer %ld = %ld\n", i, outer(i, 1));
    }
    wait_go();
    try {
        std::printf("parker = %ld\n", parker(2));
    } catch (const std::runtime_error& e) {
        std::printf("caught %s\n", e.what());
    }
    wait_go(); // and a last one before ending
}

void* exiting_thread(void* arg) {
    long x = reinterpret_cast<long>(arg);
    middle(x, 0);
    exiter(x); // never returns
    return nullptr;
}

void* blocking_thread(void* arg) {
    long x = reinterpret_cast<long>(arg);
    blocker(x);
    return nullptr;
}

int run(const char* mode, long rounds) {
    if (!std::strcmp(mode, "throw")) {
        for (long i = 0; i < rounds; ++i) std::printf("outer %ld = %ld\n", i, outer(i, i % 3 == 0));
    } else if (!std::strcmp(mode, "deep")) {
        for (long i = 0; i < rounds; ++i) std::printf("deep_outer %ld = %ld\n", i, deep_outer(i));
    } else if (!std::strcmp(mode, "deepthrow")) {
        // One exception through `rounds` + 1 pending descend() frames.
        long r;
        try {
            r = descend(0, rounds);
        } catch (const std::runtime_error&) {
            r = -1;
        }
        std::printf("deepthrow %ld = %ld\n", rounds, r);
    } else if (!std::strcmp(mode, "self_catch")) {
        for (long i = 0; i < rounds; ++i) std::printf("self_catch %ld = %ld\n", i, self_catch(i));
    } else if (!std::strcmp(mode, "rethrow")) {
        for (long i = 0; i < rounds; ++i) {
            try {
                std::printf("rethrower %ld = %ld\n", i, rethrower(i));
            } catch (const std::runtime_error& e) {
                std::printf("caught %s\n", e.what());
            }
        }
    } else if (!std::strcmp(mode, "cleanup")) {
        long counter = 0;
        for (long i = 0; i < rounds; ++i) {
            try {
                with_cleanup(i, &counter);
            } catch (const std::runtime_error& e) {
                std::printf("cleanup %ld counter %ld\n", i, counter);
            }
        }
    } else if (!std::strcmp(mode, "pthread_exit")) {
        for (long i = 0; i < rounds; ++i) {
            pthread_t th;
            pthread_create(&th, nullptr, exiting_thread, reinterpret_cast<void*>(i));
            void* ret = nullptr;
            pthread_join(th, &ret);
            std::printf("thread %ld exited with %ld\n", i, reinterpret_cast<long>(ret));
        }
    } else if (!std::strcmp(mode, "cancel")) {
        for (long i = 0; i < rounds; ++i) {
            pthread_t th;
            pthread_create(&th, nullptr, blocking_thread, reinterpret_cast<void*>(i));
            usleep(20000); // let it block inside blocker()
            pthread_cancel(th);
            void* ret = nullptr;
            pthread_join(th, &ret);
            std::printf("thread %ld %s\n", i, ret == PTHREAD_CANCELED ? "cancelled" : "not cancelled");
        }
    } else if (!std::strcmp(mode, "steps")) {
        run_steps();
    } else if (!std::strcmp(mode, "backtrace")) {
        for (long i = 0; i < rounds; ++i) std::printf("backtracer %ld = %ld\n", i, backtracer(i));
    } else {
        std::fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    return 0;
}

// "leaderless": the main thread leaves with pthread_exit; a thread says
// "ready", waits for a SIGUSR1, then runs "throw" and ends the process.
void* leaderless_worker(void* arg) {
    std::printf("ready\n");
    wait_go();
    int rc = run("throw", reinterpret_cast<long>(arg));
    std::printf("done\n");
    std::exit(rc);
}

} // namespace

int main(int argc, char** argv) {
    setvbuf(stdout, nullptr, _IOLBF, 0);
    sigset_t go;
    sigemptyset(&go);
    sigaddset(&go, SIGUSR1);
    sigprocmask(SIG_BLOCK, &go, nullptr); // before any thread: only sigwait takes it
    const char* mode = argc > 1 ? argv[1] : "throw";
    long rounds = argc > 2 ? std::atol(argv[2]) : 10;
    if (!std::strcmp(mode, "leaderless")) {
        pthread_t th;
        pthread_create(&th, nullptr, leaderless_worker, reinterpret_cast<void*>(rounds));
        pthread_exit(nullptr);
    }
    int rc = run(mode, rounds);
    std::printf("done\n");
    return rc;
}
