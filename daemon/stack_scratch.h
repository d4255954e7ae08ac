#pragma once
// Scratch memory for injected code in the dead stack below a stopped
// thread's stack pointer: where the tracee's kernel or our stub can write
// what we then read (a sigaction, a table of values to sign).
//
// It must lie inside the readable, writable mapping that holds the stack
// pointer: a ptrace write does not grow a stack (GUP no longer extends one
// since Linux 6.5), a thread's stack has a guard page below, and a ptrace
// write would reach a read-only page where the tracee's own store faults.
//
// The program finds its dead stack as it left it: a StackScratch saves the
// bytes it borrows and puts them back when it goes.
#include "arch/host.h"
#include "common/result.h"
#include "daemon/memory_access.h"

#include <sys/types.h>

#include <cstdint>
#include <vector>

namespace probed {

// The lowest address usable below the stack pointer of `regs` in thread
// `tid` (/proc/TID/maps): the start of the mapping that holds sp - 1. An
// error when that mapping is missing or not both readable and writable.
Result<uint64_t> dead_stack_floor(pid_t tid, const arch::host::Regs& regs);

class StackScratch {
public:
    // `bytes` at `at`, which the caller found above dead_stack_floor().
    static Result<StackScratch> borrow(MemoryAccess& mem, uint64_t at, size_t bytes);
    // `bytes` just below what the thread's code may still use
    // (arch::host::scratch_below_stack), checked against its mapping.
    static Result<StackScratch> below_stack(MemoryAccess& mem, pid_t tid,
                                            const arch::host::Regs& regs, size_t bytes);

    StackScratch(StackScratch&& other) noexcept;
    StackScratch& operator=(StackScratch&&) = delete;
    StackScratch(const StackScratch&) = delete;
    StackScratch& operator=(const StackScratch&) = delete;
    // Puts the saved bytes back (best effort: a thread gone has no stack).
    ~StackScratch();

    uint64_t address() const { return at_; }
    size_t size() const { return saved_.size(); }

private:
    StackScratch(MemoryAccess& mem, uint64_t at, std::vector<uint8_t> saved)
        : mem_(&mem), at_(at), saved_(std::move(saved)) {}

    MemoryAccess* mem_;
    uint64_t at_;
    std::vector<uint8_t> saved_;
};

} // namespace probed
