#include "arch/x86_64/x86_ptrace.h"

#include <sys/ptrace.h>
#include <sys/user.h>

#include <cstddef>
#include <cstring>

namespace probed::arch::x86 {

static_assert(sizeof(Regs) == sizeof(user_regs_struct));

Result<Regs> get_regs(pid_t tid) {
    user_regs_struct raw;
    if (ptrace(PTRACE_GETREGS, tid, nullptr, &raw) != 0) return Error::from_errno("PTRACE_GETREGS");
    Regs regs;
    std::memcpy(&regs, &raw, sizeof regs);
    return regs;
}

Result<void> set_regs(pid_t tid, const Regs& regs) {
    user_regs_struct raw;
    std::memcpy(&raw, &regs, sizeof raw);
    if (ptrace(PTRACE_SETREGS, tid, nullptr, &raw) != 0) return Error::from_errno("PTRACE_SETREGS");
    return {};
}

Result<void> set_pc(pid_t tid, uint64_t pc) {
    if (ptrace(PTRACE_POKEUSER, tid, offsetof(user_regs_struct, rip), pc) != 0)
        return Error::from_errno("PTRACE_POKEUSER rip");
    return {};
}

Result<double> get_float_return(pid_t tid) {
    user_fpregs_struct fp;
    if (ptrace(PTRACE_GETFPREGS, tid, nullptr, &fp) != 0)
        return Error::from_errno("PTRACE_GETFPREGS");
    double d;
    std::memcpy(&d, &fp.xmm_space[0], sizeof d);
    return d;
}

} // namespace probed::arch::x86
