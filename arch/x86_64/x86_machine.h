#pragma once
// Facts about x86_64 machine code that the engine needs without knowing an
// opcode: how a breakpoint looks, where the PC lands after it traps, how to
// make a system call, how the return address is found at function entry.
#include "arch/x86_64/x86_regs.h"

#include <cstdint>
#include <vector>

namespace probed::arch::x86 {

// int3
std::vector<uint8_t> breakpoint_bytes();
// int3 traps after executing: the PC reported is one past the breakpoint.
inline uint64_t breakpoint_address_from_pc(uint64_t pc) { return pc - 1; }

// `syscall; int3`: the code an injected system call runs.
std::vector<uint8_t> syscall_stub_bytes();
// The PC after the stub's int3 trapped.
inline uint64_t syscall_stub_done_pc(uint64_t stub) { return stub + 3; }

// Sets up `regs` to run syscall `nr` at `stub`. orig_rax = -1 keeps the
// kernel's syscall-restart logic away from a thread interrupted in a syscall.
void prepare_syscall(Regs& regs, uint64_t stub, long nr, const uint64_t (&args)[6]);
inline int64_t syscall_result(const Regs& regs) { return static_cast<int64_t>(regs.rax); }

// At function entry the return address is the word at [rsp].
inline uint64_t return_address_slot(const Regs& regs) { return regs.rsp; }
// After `ret` popped a return address that we hijacked, rsp is one word past
// the slot that held it.
inline uint64_t entry_sp_from_return_sp(uint64_t sp) { return sp - 8; }
inline uint64_t return_sp_from_entry_sp(uint64_t slot) { return slot + 8; }
// At a function's first instruction, the caller's state as it will be right
// after `ret`: PC the return address, the stack pointer past it, every
// other register still the caller's.
inline void return_at_entry(Regs& regs, uint64_t return_address) {
    regs.rip = return_address;
    regs.rsp = return_sp_from_entry_sp(return_address_slot(regs));
}
inline uint64_t stack_pointer(const Regs& regs) { return regs.rsp; }
inline uint64_t program_counter(const Regs& regs) { return regs.rip; }
inline void set_program_counter(Regs& regs, uint64_t pc) { regs.rip = pc; }
inline uint64_t return_value(const Regs& regs) { return regs.rax; }

// Largest distance at which a slot can still reach the probed code directly.
constexpr uint64_t kNearDistance = (1ull << 31) - (1ull << 20);

} // namespace probed::arch::x86
