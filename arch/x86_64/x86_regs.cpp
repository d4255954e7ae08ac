#include "arch/x86_64/x86_regs.h"

namespace probed::arch::x86 {

uint64_t& reg_ref(Regs& r, Reg reg) {
    switch (reg) {
    case Reg::rax: return r.rax;
    case Reg::rcx: return r.rcx;
    case Reg::rdx: return r.rdx;
    case Reg::rbx: return r.rbx;
    case Reg::rsp: return r.rsp;
    case Reg::rbp: return r.rbp;
    case Reg::rsi: return r.rsi;
    case Reg::rdi: return r.rdi;
    case Reg::r8: return r.r8;
    case Reg::r9: return r.r9;
    case Reg::r10: return r.r10;
    case Reg::r11: return r.r11;
    case Reg::r12: return r.r12;
    case Reg::r13: return r.r13;
    case Reg::r14: return r.r14;
    case Reg::r15: return r.r15;
    }
    return r.rax;
}

uint64_t reg_value(const Regs& r, Reg reg) { return reg_ref(const_cast<Regs&>(r), reg); }

} // namespace probed::arch::x86
