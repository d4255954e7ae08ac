#pragma once
// Runs system calls inside a tracee on one of its stopped threads: the
// architecture's system call stub (a system call instruction, then a trap),
// run as injected code (injected_code.h), whose scope puts the thread's
// registers and the bytes under the stub back on exit.
#include "common/result.h"
#include "daemon/injected_code.h"
#include "daemon/tracee.h"
#include "daemon/wait_status.h"

#include <cstdint>
#include <initializer_list>
#include <optional>

namespace probed {

class RemoteSyscall {
public:
    static Result<RemoteSyscall> begin(ProcessState& proc, ThreadState& thread);

    // The raw return value (negative errno on failure).
    Result<int64_t> call(long nr, std::initializer_list<uint64_t> args);
    // The same as the scope's last call, run without the stub's trap
    // (InjectedCode::run_to_syscall_exit_and_end): the one that sets an
    // ignored SIGTRAP again. The scope is over after it.
    Result<int64_t> last_call_without_trap(long nr, std::initializer_list<uint64_t> args);
    // The thread's registers when the scope began.
    const arch::host::Regs& saved_regs() const { return code_.saved_regs(); }
    // Set when the thread exited under us; the caller must dispatch it.
    std::optional<WaitStatus> lost_status() const { return code_.lost_status(); }

private:
    explicit RemoteSyscall(InjectedCode code) : code_(std::move(code)) {}

    InjectedCode code_;
};

} // namespace probed
