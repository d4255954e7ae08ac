// ptrace_cost: what each tracer-side primitive of the hit path costs on this
// machine, measured against a stopped child on the tracer's own CPU. The hit
// path is a handful of these around two stops (docs/hit_cost.md), so these
// figures say which change to the engine can buy how much.
//
//   ptrace_cost [--iterations N]
#include <fcntl.h>
#include <sched.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <string>

namespace {

constexpr long kDefaultIterations = 200000;

uint64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// A word of the child's memory (the same address in both after fork), and
// its own stack word's stand-in: what the hit path reads and writes.
alignas(16) volatile uint64_t g_words[2] = {1, 2};

struct Child {
    pid_t pid = -1;
    int mem_fd = -1;
    ~Child() {
        if (mem_fd >= 0) close(mem_fd);
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
    }
};

bool start_child(Child& c) {
    c.pid = fork();
    if (c.pid < 0) return false;
    if (c.pid == 0) {
        for (;;) pause();
    }
    // Seized and interrupted, as the engine holds a thread at a hit.
    if (ptrace(PTRACE_SEIZE, c.pid, nullptr, nullptr) != 0) return false;
    if (ptrace(PTRACE_INTERRUPT, c.pid, nullptr, nullptr) != 0) return false;
    int st = 0;
    if (waitpid(c.pid, &st, 0) != c.pid || !WIFSTOPPED(st)) return false;
    std::string path = "/proc/" + std::to_string(c.pid) + "/mem";
    c.mem_fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
    return c.mem_fd >= 0;
}

struct Measure {
    const char* name;
    const char* use; // where the hit path uses it
    std::function<bool()> op;
};

} // namespace

int main(int argc, char** argv) {
    long n = kDefaultIterations;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
            n = std::strtol(argv[++i], nullptr, 10);
            if (n <= 0) n = kDefaultIterations;
        } else {
            std::fprintf(stderr, "usage: %s [--iterations N]\n", argv[0]);
            return std::strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        // Tracer and child on one CPU, like the same-cpu row of probe_bench.
        int first = 0;
        while (first < CPU_SETSIZE && !CPU_ISSET(first, &set)) ++first;
        CPU_ZERO(&set);
        CPU_SET(first, &set);
        sched_setaffinity(0, sizeof set, &set);
    }
    Child c;
    if (!start_child(c)) {
        std::fprintf(stderr, "cannot start and seize a child: %s\n", std::strerror(errno));
        return 1;
    }
    const auto addr = reinterpret_cast<uint64_t>(&g_words[0]);
    user_regs_struct regs{};
    if (ptrace(PTRACE_GETREGS, c.pid, nullptr, &regs) != 0) {
        std::perror("PTRACE_GETREGS");
        return 1;
    }
    uint64_t word = 0;
    uint64_t pair[2] = {3, 4};
    const Measure measures[] = {
        {"PTRACE_GETREGS", "every stop: args, sp, retval",
         [&] { return ptrace(PTRACE_GETREGS, c.pid, nullptr, &regs) == 0; }},
        {"PTRACE_SETREGS", "when more than two registers change",
         [&] { return ptrace(PTRACE_SETREGS, c.pid, nullptr, &regs) == 0; }},
        {"PTRACE_POKEUSER", "one changed register (rip to a slot, rsp of a push)",
         [&] {
             return ptrace(PTRACE_POKEUSER, c.pid, offsetof(user_regs_struct, rip), regs.rip) == 0;
         }},
        {"PTRACE_PEEKUSER", "(not used: GETREGS is cheaper than two of these)",
         [&] {
             errno = 0;
             ptrace(PTRACE_PEEKUSER, c.pid, offsetof(user_regs_struct, rsp), nullptr);
             return errno == 0;
         }},
        {"pread /proc/PID/mem, 8 bytes", "entry: the return address at [rsp]",
         [&] { return pread(c.mem_fd, &word, 8, static_cast<off_t>(addr)) == 8; }},
        {"pwrite /proc/PID/mem, 16 bytes", "entry: push + trampoline address",
         [&] { return pwrite(c.mem_fd, pair, 16, static_cast<off_t>(addr)) == 16; }},
        {"PTRACE_PEEKDATA", "(not used: no cheaper than pread)",
         [&] {
             errno = 0;
             ptrace(PTRACE_PEEKDATA, c.pid, addr, nullptr);
             return errno == 0;
         }},
        {"process_vm_writev, 16 bytes", "entry: the same with the program's own page rights",
         [&] {
             iovec local{pair, 16}, remote{reinterpret_cast<void*>(addr), 16};
             return process_vm_writev(c.pid, &local, 1, &remote, 1, 0) == 16;
         }},
        {"process_vm_readv, 8 bytes", "(not used: dearer than pread)",
         [&] {
             iovec local{&word, 8}, remote{reinterpret_cast<void*>(addr), 8};
             return process_vm_readv(c.pid, &local, 1, &remote, 1, 0) == 8;
         }},
    };
    std::printf("ptrace primitives against a stopped child, same CPU, %ld iterations each\n\n", n);
    std::printf("%-32s%8s   %s\n", "primitive", "ns", "on the hit path");
    for (const auto& m : measures) {
        // Warm up caches and the page the memory calls touch.
        for (int i = 0; i < 1000; ++i) m.op();
        uint64_t t0 = now_ns();
        for (long i = 0; i < n; ++i) {
            if (!m.op()) {
                std::fprintf(stderr, "%s failed: %s\n", m.name, std::strerror(errno));
                return 1;
            }
        }
        double ns = static_cast<double>(now_ns() - t0) / static_cast<double>(n);
        std::printf("%-32s%8.0f   %s\n", m.name, ns, m.use);
    }
    return 0;
}
