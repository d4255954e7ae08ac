#pragma once
// Host glue: the arm64 register set through ptrace. Builds only on aarch64.
// arm64 has no PTRACE_GETREGS/POKEUSER: every access is a GETREGSET or
// SETREGSET of a whole regset.
#include "arch/arm64/arm64_regs.h"
#include "common/result.h"

#include <sys/types.h>

namespace probed::arch::arm64 {

Result<Regs> get_regs(pid_t tid);
Result<void> set_regs(pid_t tid, const Regs& regs);
// Reads the registers and writes them back with a new pc (two syscalls: there
// is no single-word write on arm64). Prefer set_changed_regs when the
// registers are at hand.
Result<void> set_pc(pid_t tid, uint64_t pc);
// One SETREGSET when anything differs between `before` (as read) and
// `after`, none otherwise.
Result<void> set_changed_regs(pid_t tid, const Regs& before, const Regs& after);
// d0 (the low 64 bits of v0), where AAPCS64 returns a double.
Result<double> get_float_return(pid_t tid);
// The bits pointer authentication uses in code addresses (NT_ARM_PAC_MASK),
// 0 when the CPU or kernel has no PAC. Clearing them from a return address
// read out of a frame record (signed by paciasp) gives the plain address.
Result<uint64_t> get_pac_code_mask(pid_t tid);

} // namespace probed::arch::arm64
