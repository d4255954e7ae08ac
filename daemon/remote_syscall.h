#pragma once
// Runs system calls inside a tracee on one of its stopped threads. An RAII
// scope: it saves the thread's registers and the bytes at the stub location
// on entry, and puts both back on exit, whatever happened in between.
#include "arch/host.h"
#include "common/result.h"
#include "daemon/tracee.h"
#include "daemon/wait_status.h"

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <vector>

namespace probed {

class RemoteSyscall {
public:
    // The stub (a system call instruction, then a trap) is written over the executable's entry point,
    // code that never runs again once the program has started.
    static Result<RemoteSyscall> begin(ProcessState& proc, ThreadState& thread);
    RemoteSyscall(RemoteSyscall&& other) noexcept;
    RemoteSyscall& operator=(RemoteSyscall&&) = delete;
    ~RemoteSyscall();

    // The raw return value (negative errno on failure).
    Result<int64_t> call(long nr, std::initializer_list<uint64_t> args);
    // Set when the thread exited under us; the caller must dispatch it.
    std::optional<WaitStatus> lost_status() const { return lost_; }

private:
    RemoteSyscall(ProcessState& proc, ThreadState& thread) : proc_(&proc), thread_(&thread) {}

    ProcessState* proc_;
    ThreadState* thread_;
    arch::host::Regs saved_regs_{};
    std::vector<uint8_t> saved_code_;
    bool active_ = false;
    std::optional<WaitStatus> lost_;
};

} // namespace probed
