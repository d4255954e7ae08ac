// probe_bench: what an entry+return probe costs the traced program, per call,
// next to the cheapest thing ptrace can do (one stop and resume), for each of
// the engine's three ways of running the displaced instruction, with tracer
// and tracee on one CPU and on two.
//
//   probe_bench [--calls N | --quick] [--target PATH]
//
// Exits non-zero if any call was not reported with the right arguments and
// return value, or a measurement could not be made; missing a target figure is
// reported in the table but is not an error (this is a benchmark, not a test).
#include "arch/strategy.h"
#include "daemon/engine.h"
#include "daemon/event_queue.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/ptrace.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#ifndef BENCH_TARGET
#error "BENCH_TARGET (path of bench_target) must be set by bench/meson.build"
#endif

using namespace probed;

namespace {

constexpr uint64_t kDefaultCalls = 50000;
constexpr uint64_t kQuickCalls = 2000;
// The judged figures: one stop at entry, one at the return trampoline, and
// each stop not much dearer than the bare round trip.
constexpr double kTargetStops = 2.0;
constexpr double kTargetRatio = 2.5;

uint64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// The CPUs we may use, in order: the machine (or a container) may not offer CPU 0.
std::vector<int> allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<int> cpus;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) cpus.push_back(c);
    return cpus;
}

bool pin(pid_t tid, int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(tid, sizeof set, &set) == 0;
}

// Affinity is per thread, so every thread of the tracee is moved.
bool pin_process(pid_t pid, int cpu) {
    std::string dir = "/proc/" + std::to_string(pid) + "/task";
    DIR* d = opendir(dir.c_str());
    if (!d) return false;
    bool ok = true;
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        ok = pin(static_cast<pid_t>(std::atoi(e->d_name)), cpu) && ok;
    }
    closedir(d);
    return ok;
}

// ---- the floor --------------------------------------------------------------

// A child that traps N times; each trap is one waitpid + PTRACE_CONT for us.
// Nothing else happens per stop, so this is the least any probe can cost.
std::optional<double> measure_floor(int tracee_cpu, uint64_t n) {
    pid_t pid = fork();
    if (pid < 0) {
        std::perror("fork");
        return std::nullopt;
    }
    if (pid == 0) {
        // Only async-signal-safe calls here: we forked a C++ program.
        if (!pin(0, tracee_cpu)) _exit(3);
        if (ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0) _exit(4);
        raise(SIGSTOP); // hand control to the tracer before the timed loop
        for (uint64_t i = 0; i < n; ++i) asm volatile("int3");
        _exit(0);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP) {
        std::fprintf(stderr, "floor: child did not stop itself (status 0x%x)\n", st);
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
        return std::nullopt;
    }
    ptrace(PTRACE_CONT, pid, nullptr, nullptr);
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; ++i) {
        if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGTRAP) {
            std::fprintf(stderr, "floor: unexpected status 0x%x at trap %llu\n", st,
                         static_cast<unsigned long long>(i));
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
            return std::nullopt;
        }
        // Signal 0: the SIGTRAP is swallowed, as the engine does for its breakpoints.
        ptrace(PTRACE_CONT, pid, nullptr, nullptr);
    }
    uint64_t t1 = now_ns();
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        std::fprintf(stderr, "floor: child ended with status 0x%x\n", st);
        return std::nullopt;
    }
    return static_cast<double>(t1 - t0) / static_cast<double>(n);
}

// ---- the target program -----------------------------------------------------

// The loop time the target printed, in ns.
std::optional<uint64_t> parse_elapsed(const std::string& out) {
    unsigned long long ns = 0, sum = 0;
    if (std::sscanf(out.c_str(), "elapsed_ns %llu checksum %llu", &ns, &sum) != 2)
        return std::nullopt;
    return ns;
}

std::string slurp(int fd) {
    std::string text;
    char buf[4096];
    while (true) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        text.append(buf, static_cast<size_t>(n));
    }
    return text;
}

// The loop without tracing, on the same CPU the traced run will use, so the
// difference is the probe and nothing else.
std::optional<uint64_t> run_untraced(const std::string& target, const char* fn, uint64_t n,
                                     int cpu) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return std::nullopt;
    std::string count = std::to_string(n);
    pid_t pid = fork();
    if (pid == 0) {
        if (!pin(0, cpu)) _exit(3);
        dup2(p[1], 1);
        char* argv[] = {const_cast<char*>(target.c_str()), const_cast<char*>(fn),
                        const_cast<char*>(count.c_str()), nullptr};
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        return std::nullopt;
    }
    std::string out = slurp(p[0]);
    close(p[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        std::fprintf(stderr, "untraced %s %s: status 0x%x, output: %s\n", target.c_str(), fn, st,
                     out.c_str());
        return std::nullopt;
    }
    return parse_elapsed(out);
}

struct TracedRun {
    bool ok = false;       // measured (the figures below mean something)
    uint64_t mismatches = 0; // calls not reported, or reported wrongly
    uint64_t loop_ns = 0;
    uint64_t stops = 0;
    arch::Strategy strategy = arch::Strategy::Reject;
    std::string instruction;
};

// Checks each return event as it is drained, so 50,000 events never pile up
// in memory and the check costs the same at any N.
struct ReturnChecker {
    uint64_t probe_id = 0;
    uint64_t next = 0; // the loop index the next return must carry
    uint64_t bad = 0;
    int printed = 0;

    void complain(const std::string& what) {
        ++bad;
        if (printed++ < 5) std::fprintf(stderr, "  mismatch: %s\n", what.c_str());
    }

    void check(const CallEvent& ev) {
        if (ev.type == EventType::Exit) return; // the target ending, not a call
        if (ev.type != EventType::Return || ev.probe_id != probe_id) {
            complain(std::string("unexpected ") + event_type_name(ev.type) + " event for probe " +
                     std::to_string(ev.probe_id));
            return;
        }
        uint64_t i = next++;
        std::string where = "call " + std::to_string(i) + ": ";
        if (ev.args.size() != 6) {
            complain(where + std::to_string(ev.args.size()) + " args");
            return;
        }
        static constexpr uint64_t kFixed[5] = {1, 2, 3, 4, 5};
        if (ev.args[0] != i || !std::equal(ev.args.begin() + 1, ev.args.end(), kFixed)) {
            complain(where + "args start " + std::to_string(ev.args[0]));
            return;
        }
        if (!ev.retval || *ev.retval != i * 3 + 1) {
            complain(where + "retval " + (ev.retval ? std::to_string(*ev.retval) : "none") +
                     ", want " + std::to_string(i * 3 + 1));
            return;
        }
        if (ev.exit != ExitKind::Return)
            complain(where + "exit " + (ev.exit ? exit_kind_name(*ev.exit) : "none"));
    }
};

TracedRun run_traced(const std::string& target, const char* fn, uint64_t n, int cpu) {
    TracedRun run;
    // Large enough that the pump loop never has to keep up call by call.
    EventQueue queue(1u << 20);
    Engine engine(queue);

    char out_path[] = "/tmp/probe_bench-XXXXXX";
    int out_fd = mkstemp(out_path);
    if (out_fd < 0) {
        std::perror("mkstemp");
        return run;
    }
    close(out_fd);
    struct Unlink {
        const char* p;
        ~Unlink() { unlink(p); }
    } unlink_out{out_path};

    SpawnOptions opts;
    opts.stdout_path = out_path;
    auto pid = engine.spawn({target, fn, std::to_string(n)}, opts);
    if (!pid) {
        std::fprintf(stderr, "spawn %s: %s\n", target.c_str(), pid.error().message.c_str());
        return run;
    }
    if (!pin_process(*pid, cpu)) {
        std::fprintf(stderr, "cannot pin pid %d to cpu %d: %s\n", *pid, cpu, std::strerror(errno));
        return run; // the engine's destructor lets the process go
    }

    ProbeSpec spec;
    spec.pid = *pid;
    spec.target = std::string("bench_fn_") + fn;
    spec.kind = ProbeKind::Return;
    spec.capture.args = 6;
    spec.capture.retval = true;
    auto info = engine.add_probe(spec);
    if (!info) {
        std::fprintf(stderr, "probe %s: %s\n", spec.target.c_str(), info.error().message.c_str());
        return run;
    }
    run.strategy = info->strategy;
    run.instruction = info->instruction;

    ReturnChecker checker;
    checker.probe_id = info->id;
    std::vector<CallEvent> batch;
    auto drain = [&] {
        queue.drain(batch, ~size_t{0});
        for (const auto& ev : batch) checker.check(ev);
        batch.clear();
    };

    // Counted from here: spawn's own stops (exec, the loader) are not calls.
    const uint64_t stops_before = engine.counters().stops;
    if (auto r = engine.resume(*pid); !r) {
        std::fprintf(stderr, "resume: %s\n", r.error().message.c_str());
        return run;
    }
    // A stuck engine must not hang the benchmark: allow far more than the
    // slowest plausible stop (1 ms per call).
    const uint64_t deadline = now_ns() + 60'000'000'000ull + n * 1'000'000ull;
    std::optional<int> status;
    while (!(status = engine.exit_status(*pid))) {
        if (now_ns() > deadline) {
            std::fprintf(stderr, "%s: target did not finish; killing pid %d\n", fn, *pid);
            kill(*pid, SIGKILL);
            return run;
        }
        // pump(-1) blocks in waitpid: the mode a daemon uses on its hot path.
        engine.pump(-1);
        drain();
    }
    drain();
    run.stops = engine.counters().stops - stops_before;

    run.mismatches = checker.bad;
    if (checker.next != n) {
        std::fprintf(stderr, "  mismatch: %llu return events for %llu calls\n",
                     static_cast<unsigned long long>(checker.next),
                     static_cast<unsigned long long>(n));
        run.mismatches += checker.next > n ? checker.next - n : n - checker.next;
    }
    if (uint64_t dropped = queue.dropped_total()) {
        std::fprintf(stderr, "  %llu events dropped by a full queue\n",
                     static_cast<unsigned long long>(dropped));
        run.mismatches += dropped;
    }

    int fd = open(out_path, O_RDONLY | O_CLOEXEC);
    std::string out = fd >= 0 ? slurp(fd) : std::string();
    if (fd >= 0) close(fd);
    if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
        // Exit 1 is the target's own checksum failing: a probe changed a result.
        std::fprintf(stderr, "traced %s: status 0x%x, output: %s\n", fn, *status, out.c_str());
        run.mismatches += 1;
        return run;
    }
    auto elapsed = parse_elapsed(out);
    if (!elapsed) {
        std::fprintf(stderr, "traced %s: no timing in output: %s\n", fn, out.c_str());
        return run;
    }
    run.loop_ns = *elapsed;
    run.ok = true;
    return run;
}

// ---- the table --------------------------------------------------------------

struct Row {
    std::string placement;
    std::string probe;
    std::string strategy;
    double ns_per_call = 0;
    double stops_per_call = 0;
    double x_floor = 0;
    std::string verdict;
};

void print_table(const std::vector<Row>& rows) {
    size_t wp = std::strlen("placement"), wprobe = std::strlen("probe"),
           ws = std::strlen("strategy");
    for (const auto& r : rows) {
        wp = std::max(wp, r.placement.size());
        wprobe = std::max(wprobe, r.probe.size());
        ws = std::max(ws, r.strategy.size());
    }
    const int a = static_cast<int>(wp) + 2, b = static_cast<int>(wprobe) + 2,
              c = static_cast<int>(ws) + 2;
    std::printf("%-*s%-*s%-*s%10s%13s%10s   %s\n", a, "placement", b, "probe", c, "strategy",
                "ns/call", "stops/call", "x floor", "target");
    for (const auto& r : rows)
        std::printf("%-*s%-*s%-*s%10.0f%13.2f%10.2f   %s\n", a, r.placement.c_str(), b,
                    r.probe.c_str(), c, r.strategy.c_str(), r.ns_per_call, r.stops_per_call,
                    r.x_floor, r.verdict.c_str());
}

struct Placement {
    const char* name;
    int tracer_cpu;
    int tracee_cpu;
};

struct Function {
    const char* arg;  // bench_target's argv[1], and the suffix of the symbol
    arch::Strategy expected;
};

// Judges a row against the target figures; stepped runs get no target: its
// single-step is a third stop by design.
std::string verdict_for(arch::Strategy s, uint64_t stops, uint64_t n, double ratio) {
    if (s == arch::Strategy::Stepped) return "(none: 3 stops by design)";
    std::string why;
    // The process's exit is one stop more than the calls make.
    if (stops > static_cast<uint64_t>(kTargetStops) * n + 1) why += "stops ";
    if (ratio > kTargetRatio) why += "x floor ";
    if (why.empty()) return "ok";
    why.pop_back();
    return "MISS (" + why + ")";
}

void usage(const char* argv0) {
    std::fprintf(stderr, "usage: %s [--calls N | --quick] [--target PATH]\n", argv0);
}

} // namespace

int main(int argc, char** argv) {
    uint64_t n = kDefaultCalls;
    std::string target = BENCH_TARGET;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--quick") {
            n = kQuickCalls;
        } else if (a == "--calls" && i + 1 < argc) {
            char* end = nullptr;
            n = std::strtoull(argv[++i], &end, 10);
            if (*end != '\0' || n == 0) {
                usage(argv[0]);
                return 2;
            }
        } else if (a == "--target" && i + 1 < argc) {
            target = argv[++i];
        } else {
            usage(argv[0]);
            return a == "--help" || a == "-h" ? 0 : 2;
        }
    }
    if (access(target.c_str(), X_OK) != 0) {
        std::fprintf(stderr, "bench target %s: %s\n", target.c_str(), std::strerror(errno));
        return 2;
    }
    // The engine logs each spawn at info level; the table is the output.
    spdlog::set_level(spdlog::level::warn);

    std::vector<int> cpus = allowed_cpus();
    if (cpus.empty()) {
        std::fprintf(stderr, "sched_getaffinity: %s\n", std::strerror(errno));
        return 2;
    }
    std::vector<Placement> placements = {{"same-cpu", cpus[0], cpus[0]}};
    if (cpus.size() >= 2) placements.push_back({"split-cpu", cpus[0], cpus[1]});

    utsname un{};
    uname(&un);
    std::printf("probed benchmark (x86_64, %llu calls per row)\n", static_cast<unsigned long long>(n));
    std::printf("kernel %s, %zu usable CPUs; same-cpu: tracer and tracee on cpu %d", un.release,
                cpus.size(), cpus[0]);
    if (cpus.size() >= 2) std::printf("; split-cpu: tracer on cpu %d, tracee on cpu %d\n", cpus[0], cpus[1]);
    else std::printf("\nonly one CPU: the split placement is skipped\n");
    std::printf("probe: entry+return (ProbeKind::Return, 6 args, retval); "
                "ns/call = (traced loop - untraced loop) / N\n\n");
    std::fflush(stdout);

    const Function functions[] = {
        {"simulate", arch::Strategy::Simulate},
        {"boosted", arch::Strategy::Boosted},
        {"stepped", arch::Strategy::Stepped},
    };

    std::vector<Row> rows;
    bool failed = false;
    for (const auto& pl : placements) {
        // Pinned before anything is spawned: children inherit it, and the
        // engine (made below, on this thread) does every ptrace call here.
        if (!pin(0, pl.tracer_cpu)) {
            std::fprintf(stderr, "cannot pin the tracer to cpu %d: %s\n", pl.tracer_cpu,
                         std::strerror(errno));
            return 2;
        }
        std::fprintf(stderr, "[%s] floor...\n", pl.name);
        auto floor = measure_floor(pl.tracee_cpu, n);
        if (!floor) {
            failed = true;
            continue;
        }
        rows.push_back({pl.name, "floor", "-", *floor, 1.0, 1.0, "-"});

        for (const auto& f : functions) {
            std::fprintf(stderr, "[%s] %s...\n", pl.name, f.arg);
            auto base = run_untraced(target, f.arg, n, pl.tracee_cpu);
            if (!base) {
                failed = true;
                continue;
            }
            TracedRun run = run_traced(target, f.arg, n, pl.tracee_cpu);
            if (run.mismatches != 0) {
                std::printf("%s %s: %llu of %llu calls not reported with the right return value\n",
                            pl.name, f.arg, static_cast<unsigned long long>(run.mismatches),
                            static_cast<unsigned long long>(n));
                failed = true;
            }
            if (!run.ok) {
                failed = true;
                continue;
            }
            if (run.strategy != f.expected)
                std::printf("note: %s probe ran as %s, not %s\n", f.arg,
                            arch::strategy_name(run.strategy), arch::strategy_name(f.expected));
            double overhead = (static_cast<double>(run.loop_ns) - static_cast<double>(*base)) /
                              static_cast<double>(n);
            double ratio = overhead / *floor;
            rows.push_back({pl.name, run.instruction, arch::strategy_name(run.strategy), overhead,
                            static_cast<double>(run.stops) / static_cast<double>(n), ratio,
                            verdict_for(run.strategy, run.stops, n, ratio)});
        }
    }

    print_table(rows);
    std::printf("\ntargets: simulate and boosted at %.0f stops per call, overhead within %.1fx "
                "the floor;\n         stepped is informational (entry, single-step and return "
                "stops).\n",
                kTargetStops, kTargetRatio);
    if (failed) std::printf("\nFAILED: see the messages above\n");
    return failed ? 1 : 0;
}
