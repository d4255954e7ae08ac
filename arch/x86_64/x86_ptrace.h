#pragma once
// Host glue: the x86_64 register set through ptrace. Builds only on x86_64.
#include "arch/x86_64/x86_regs.h"
#include "common/result.h"

#include <sys/types.h>

namespace probed::arch::x86 {

Result<Regs> get_regs(pid_t tid);
Result<void> set_regs(pid_t tid, const Regs& regs);
// Cheaper than set_regs when only the PC changes (one word through POKEUSER).
Result<void> set_pc(pid_t tid, uint64_t pc);
// Writes only what differs between `before` (as read) and `after`: one
// POKEUSER per register when one or two changed (rip alone, or rip + rsp for
// a simulated push), SETREGS otherwise. Each saved syscall is ~1 µs of the
// traced program's time on every hit.
Result<void> set_changed_regs(pid_t tid, const Regs& before, const Regs& after);
// xmm0's low double, for float return values.
Result<double> get_float_return(pid_t tid);

} // namespace probed::arch::x86
