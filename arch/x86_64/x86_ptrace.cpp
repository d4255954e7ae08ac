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

Result<void> set_changed_regs(pid_t tid, const Regs& before, const Regs& after) {
    constexpr size_t kWords = sizeof(Regs) / sizeof(uint64_t);
    uint64_t b[kWords], a[kWords];
    std::memcpy(b, &before, sizeof b);
    std::memcpy(a, &after, sizeof a);
    size_t changed[2];
    size_t n = 0;
    for (size_t i = 0; i < kWords; ++i) {
        if (a[i] == b[i]) continue;
        if (n == 2) return set_regs(tid, after);
        changed[n++] = i;
    }
    for (size_t k = 0; k < n; ++k) {
        // The Regs layout is user_regs_struct's, so word i is at offset 8*i.
        if (ptrace(PTRACE_POKEUSER, tid, changed[k] * sizeof(uint64_t), a[changed[k]]) != 0)
            return Error::from_errno("PTRACE_POKEUSER");
    }
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
