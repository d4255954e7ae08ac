#pragma once
// Facts about arm64 machine code that the engine needs without knowing an
// opcode: how our breakpoint looks, where the PC lands after it traps, how to
// make a system call, where the return address lives at function entry.
//
// Return hijack and pointer authentication. At an entry hit the engine saves
// x30 and sp in the shadow stack and sets x30 to the trampoline; at the
// trampoline (reached by `ret`, so sp is back to its entry value) it matches
// the frame by sp, reads x0 and resumes at the saved address. A function
// built with -mbranch-protection=standard starts with `paciasp` (or `bti c`
// then `paciasp`; pacibsp with the B key) and ends with `autiasp; ret` or
// `retaa`. The probe sits on the first instruction, so the hit happens before
// paciasp has run: the entry hit replaces the plain return address, and
// paciasp (run from the slot: it cannot be simulated without the key) then
// signs the trampoline address with the entry sp as modifier. The epilogue
// authenticates with the same key and the same sp, which succeeds and yields
// the trampoline address, so `ret` lands on our brk; the true return address
// never went through PAC and lives only in the shadow stack, where the engine
// takes it from to resume (a plain address, valid as a PC). The frame record
// stored by `stp x29, x30` holds the signed trampoline address, as it would
// hold a signed return address without us; unwinders strip the PAC bits and
// translate the trampoline through the shadow stack. A detach has the tracee
// sign the true address into that copy (arm64_return_signing.h); one that
// fails the check returns through a stub left at the trampoline
// (arm64_detached_return.h).
// The converse case does NOT work: hijacking x30 at a site after paciasp
// would store a signed value as the return address and put an unsigned one
// in x30, which autiasp then corrupts (or faults on, with FEAT_FPAC). So the
// engine hijacks returns only at a function's first instruction.
#include "arch/arm64/arm64_encoding.h"
#include "arch/arm64/arm64_regs.h"

#include <cstdint>
#include <vector>

namespace probed::arch::arm64 {

// Our `brk #imm`. The immediate is only for people reading a disassembly (the
// engine recognises its breakpoints by address: si_code TRAP_BRKPT with pc =
// a planted brk; every other brk's SIGTRAP goes to the program). It avoids the
// immediates others give meaning to: 0 (gdb/lldb), 1 (clang __builtin_trap),
// 4-6 (kernel kprobes/uprobes), 0x100 (kernel fault injection), 0x3e8 (gcc
// __builtin_trap), 0x400/0x401 (kgdb), 0x800 (kernel BUG), 0x900-0x9ff
// (KASAN), 0x5500-0x55ff (UBSAN), 0x8000-0x82ff (kCFI), 0xf000-0xf00x
// (llvm.debugtrap, Windows __debugbreak/__fastfail). 0xbd0 reads as "probed".
constexpr uint16_t kBreakpointImm = 0xbd0;
constexpr uint32_t kBreakpointWord = encode_brk(kBreakpointImm);

std::vector<uint8_t> breakpoint_bytes();
inline bool is_our_breakpoint(uint32_t word) {
    return word == kBreakpointWord;
}
// brk does not advance the PC: the PC reported is the breakpoint's address.
inline uint64_t breakpoint_address_from_pc(uint64_t pc) {
    return pc;
}

// The return trampoline: our brk.
std::vector<uint8_t> trampoline_bytes();

// `svc #0; brk`: the code an injected system call runs.
std::vector<uint8_t> syscall_stub_bytes();
// The PC once the stub's brk trapped (brk does not advance).
inline uint64_t syscall_stub_done_pc(uint64_t stub) {
    return stub + kInsnSize;
}

// Sets up `regs` to run syscall `nr` at `stub`: x8 = number, x0..x5 = args.
// Unlike x86_64 nothing must keep syscall restart away: arm64 rewinds an
// interrupted syscall (pc - 4, x0 = orig_x0) and forgets it before the
// ptrace stop, so saved registers restored later restart it by themselves.
void prepare_syscall(Regs& regs, uint64_t stub, long nr, const uint64_t (&args)[6]);
inline int64_t syscall_result(const Regs& regs) {
    return static_cast<int64_t>(regs.x[0]);
}

// `ret` does not move sp, so the trampoline sees the entry sp.
inline uint64_t entry_sp_from_return_sp(uint64_t sp) {
    return sp;
}

// Largest distance at which a slot can still reach the probed code with a
// `b` (+-128 MiB), with the same 1 MiB margin as x86_64 keeps.
constexpr uint64_t kNearDistance = (1ull << 27) - (1ull << 20);

} // namespace probed::arch::arm64
