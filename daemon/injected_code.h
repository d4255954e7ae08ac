#pragma once
// Runs a few instructions of ours inside a tracee, on one of its stopped
// threads. An RAII scope: it saves the thread's registers and the bytes at
// the executable's entry point (code that never runs again once the program
// has started), writes our code there, and puts both back on exit, whatever
// happened in between. Remote system calls (remote_syscall.h) and the
// pointer signing the unwinder hooks ask of the tracee
// (arch/arm64/arm64_return_signing.h) run this way.
#include "arch/host.h"
#include "common/result.h"
#include "daemon/tracee.h"
#include "daemon/wait_status.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace probed {

class InjectedCode {
public:
    static Result<InjectedCode> begin(ProcessState& proc, ThreadState& thread,
                                      const std::vector<uint8_t>& code);
    InjectedCode(InjectedCode&& other) noexcept;
    InjectedCode& operator=(InjectedCode&&) = delete;
    ~InjectedCode();

    // Where the code is.
    uint64_t address() const { return proc_->entry_point; }
    // The thread's registers as they were: the base of every run.
    const arch::host::Regs& saved_regs() const { return saved_regs_; }
    // Runs the thread from `regs` until it traps with its PC at `done_pc`;
    // the registers then. Signals for the program that arrive meanwhile are
    // kept for it (ThreadState::held_signal).
    Result<arch::host::Regs> run(const arch::host::Regs& regs, uint64_t done_pc);
    // Set when the thread exited under us; the caller must dispatch it.
    std::optional<WaitStatus> lost_status() const { return lost_; }

private:
    InjectedCode(ProcessState& proc, ThreadState& thread) : proc_(&proc), thread_(&thread) {}

    ProcessState* proc_;
    ThreadState* thread_;
    arch::host::Regs saved_regs_{};
    std::vector<uint8_t> saved_code_;
    bool active_ = false;
    std::optional<WaitStatus> lost_;
};

} // namespace probed
