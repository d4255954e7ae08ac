#include "arch/x86_64/x86_dwarf_regs.h"

namespace probed::arch::x86 {

std::array<uint64_t, kDwarfGprCount> dwarf_gprs(const Regs& r) {
    // DWARF's order is not the hardware encoding order: rdx and rcx, and
    // rbx, rsi and rdi are permuted.
    return {r.rax, r.rdx, r.rcx, r.rbx, r.rsi, r.rdi, r.rbp, r.rsp,
            r.r8,  r.r9,  r.r10, r.r11, r.r12, r.r13, r.r14, r.r15};
}

} // namespace probed::arch::x86
