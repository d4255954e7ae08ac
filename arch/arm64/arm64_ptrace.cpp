#include "arch/arm64/arm64_ptrace.h"

#include <asm/ptrace.h>
#include <elf.h>
#include <sys/ptrace.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

namespace probed::arch::arm64 {

static_assert(sizeof(Regs) == sizeof(user_pt_regs));
static_assert(offsetof(Regs, sp) == offsetof(user_pt_regs, sp));
static_assert(offsetof(Regs, pc) == offsetof(user_pt_regs, pc));
static_assert(offsetof(Regs, pstate) == offsetof(user_pt_regs, pstate));

namespace {

Result<void> regset(__ptrace_request request, pid_t tid, int type, void* data, size_t size,
                    const char* what) {
    iovec iov{data, size};
    if (ptrace(request, tid, reinterpret_cast<void*>(type), &iov) != 0)
        return Error::from_errno(what);
    // A short transfer means the kernel's regset is smaller than ours: the
    // layout assumption is broken, not something to run with.
    if (iov.iov_len != size)
        return make_error(ErrorKind::Internal, std::string(what) + ": short regset");
    return {};
}

} // namespace

Result<Regs> get_regs(pid_t tid) {
    Regs regs;
    PROBED_TRY(regset(PTRACE_GETREGSET, tid, NT_PRSTATUS, &regs, sizeof regs,
                      "PTRACE_GETREGSET NT_PRSTATUS"));
    return regs;
}

Result<void> set_regs(pid_t tid, const Regs& regs) {
    Regs copy = regs; // the iovec wants a non-const pointer
    return regset(PTRACE_SETREGSET, tid, NT_PRSTATUS, &copy, sizeof copy,
                  "PTRACE_SETREGSET NT_PRSTATUS");
}

Result<void> set_pc(pid_t tid, uint64_t pc) {
    Result<Regs> regs = get_regs(tid);
    if (!regs)
        return std::move(regs).error();
    regs->pc = pc;
    return set_regs(tid, *regs);
}

Result<void> set_changed_regs(pid_t tid, const Regs& before, const Regs& after) {
    if (std::memcmp(&before, &after, sizeof before) == 0)
        return {};
    return set_regs(tid, after);
}

Result<double> get_float_return(pid_t tid) {
    user_fpsimd_state fp;
    PROBED_TRY(
        regset(PTRACE_GETREGSET, tid, NT_FPREGSET, &fp, sizeof fp, "PTRACE_GETREGSET NT_FPREGSET"));
    double d;
    std::memcpy(&d, &fp.vregs[0], sizeof d);
    return d;
}

Result<uint64_t> get_pac_code_mask(pid_t tid) {
    user_pac_mask mask{};
    iovec iov{&mask, sizeof mask};
    if (ptrace(PTRACE_GETREGSET, tid, reinterpret_cast<void*>(NT_ARM_PAC_MASK), &iov) != 0) {
        // The kernel has no such regset without FEAT_PAuth support.
        if (errno == EINVAL || errno == ENODEV)
            return uint64_t{0};
        return Error::from_errno("PTRACE_GETREGSET NT_ARM_PAC_MASK");
    }
    return mask.insn_mask;
}

} // namespace probed::arch::arm64
