#pragma once
// Runs a few instructions of ours inside a tracee, on one of its stopped
// threads. An RAII scope: it saves the thread's registers and the bytes at
// the executable's entry point (code that never runs again once the program
// has started), writes our code there, and puts both back on exit, whatever
// happened in between. Remote system calls (remote_syscall.h) and the
// pointer signing the unwinder hooks, a detach and a fork child's release
// ask of the tracee (daemon/return_signer.h) run this way.
#include "arch/host.h"
#include "common/result.h"
#include "daemon/memory_access.h"
#include "daemon/tracee.h"
#include "daemon/wait_status.h"

#include <cstdint>
#include <optional>
#include <sys/types.h>
#include <vector>

namespace probed {

// The thread the code runs on, and where: `held_signal` keeps a signal for
// the program that arrives meanwhile (ThreadState::held_signal, or a local
// for a thread the engine keeps no state for, a fork child being released).
struct InjectionTarget {
    MemoryAccess* mem = nullptr;
    uint64_t code_at = 0; // the executable's entry point
    pid_t tid = 0;
    int* held_signal = nullptr;
};

class InjectedCode {
public:
    static Result<InjectedCode> begin(ProcessState& proc, ThreadState& thread,
                                      const std::vector<uint8_t>& code);
    static Result<InjectedCode> begin(const InjectionTarget& target,
                                      const std::vector<uint8_t>& code);
    InjectedCode(InjectedCode&& other) noexcept;
    InjectedCode& operator=(InjectedCode&&) = delete;
    ~InjectedCode();

    // Where the code is.
    uint64_t address() const { return target_.code_at; }
    // The thread's registers as they were: the base of every run.
    const arch::host::Regs& saved_regs() const { return saved_regs_; }
    // Runs the thread from `regs` until it traps with its PC at `done_pc`;
    // the registers then. Signals for the program that arrive meanwhile are
    // kept for it (InjectionTarget::held_signal).
    Result<arch::host::Regs> run(const arch::host::Regs& regs, uint64_t done_pc);
    // Runs the thread from `regs`, whose code makes a system call, to the
    // end of that call (PTRACE_SYSCALL), never reaching the trap after it,
    // then ends the scope: code and registers put back, and the thread
    // left at an interrupt stop. A trap is a SIGTRAP forced on the thread,
    // which the kernel answers by resetting an ignored SIGTRAP to SIG_DFL:
    // the call that sets SIG_IGN again must not end in one. The interrupt
    // stop, not the system call's, is where the thread waits: resuming it
    // from there, the kernel restarts a system call the thread was stopped
    // in (it does so only on its way back from a signal or interrupt stop).
    // The registers at the end of the call.
    Result<arch::host::Regs> run_to_syscall_exit_and_end(const arch::host::Regs& regs);
    // Set when the thread exited under us; the caller must dispatch it.
    std::optional<WaitStatus> lost_status() const { return lost_; }

private:
    explicit InjectedCode(const InjectionTarget& target) : target_(target) {}
    // Puts the code, registers and signal mask back (once).
    void restore();
    // Keeps a signal for the program that stopped the thread meanwhile.
    void hold_signal(int sig);
    // Waits for the thread's next stop; nullopt (lost_ set) if it exited.
    Result<std::optional<WaitStatus>> next_stop();

    InjectionTarget target_;
    arch::host::Regs saved_regs_{};
    std::vector<uint8_t> saved_code_;
    bool active_ = false;
    std::optional<WaitStatus> lost_;
    // The thread's signal mask when it blocked SIGTRAP, put back at the
    // end (see begin()).
    std::optional<uint64_t> blocked_mask_;
};

} // namespace probed
