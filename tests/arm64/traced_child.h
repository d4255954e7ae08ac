#pragma once
// A forked child under ptrace for the arm64 ptrace checks. The owner kills
// and reaps the child whatever the test did; the methods are the ptrace
// requests probed's arm64 backend uses, failing the current doctest check
// when the kernel says no.
#include <asm/ptrace.h> // struct user_pt_regs: glibc's <sys/user.h> lacks it
#include <sys/types.h>

#include <cstdint>
#include <functional>

namespace probed_test::arm64 {

// One ptrace stop, decoded.
struct Stop {
    int signal = 0;  // WSTOPSIG
    int si_code = 0; // from PTRACE_GETSIGINFO (0 for an event stop)
    int event = 0;   // PTRACE_EVENT_* from the high status bits, 0 if none
};

class TracedChild {
public:
    // Forks a child that runs `body` after PTRACE_TRACEME and a SIGSTOP, and
    // _exits with its result; returns once that first stop is seen.
    static TracedChild start_traced(const std::function<int()>& body);
    // Forks a child that runs `body` untraced (for PTRACE_SEIZE).
    static TracedChild start_untraced(const std::function<int()>& body);

    TracedChild(TracedChild&& other) noexcept;
    TracedChild(const TracedChild&) = delete;
    TracedChild& operator=(const TracedChild&) = delete;
    TracedChild& operator=(TracedChild&&) = delete;
    ~TracedChild();

    pid_t pid() const { return pid_; }

    // PTRACE_GETREGSET/SETREGSET NT_PRSTATUS: arm64 has no PTRACE_GETREGS.
    user_pt_regs regs() const;
    void set_regs(const user_pt_regs& regs) const;

    uint64_t read_word(uint64_t addr) const;
    // Replaces the 4-byte instruction at addr (PEEKTEXT + POKETEXT of the
    // aligned word around it); returns the old one.
    uint32_t write_insn(uint64_t addr, uint32_t insn) const;
    uint32_t read_insn(uint64_t addr) const;

    void cont(int signal = 0) const;
    // Waits for the next stop; fails the check if the child exited instead.
    Stop wait_stop();
    // Waits for the end; returns the raw wait status.
    int wait_end();

private:
    explicit TracedChild(pid_t pid) : pid_(pid) {}
    uint64_t word_address(uint64_t addr) const { return addr & ~uint64_t{7}; }

    pid_t pid_;
    bool reaped_ = false;
};

} // namespace probed_test::arm64
