#pragma once
// A portable copy of the x86_64 general-purpose register set. The field order is
// exactly that of the kernel's `struct user_regs_struct`, so the ptrace glue can
// copy it byte for byte, while the decoder/simulator stay host-independent.
#include <cstdint>

namespace probed::arch::x86 {

struct Regs {
    uint64_t r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8;
    uint64_t rax, rcx, rdx, rsi, rdi, orig_rax, rip, cs, eflags, rsp, ss;
    uint64_t fs_base, gs_base, ds, es, fs, gs;
};
static_assert(sizeof(Regs) == 27 * 8);

// General-purpose registers in the hardware encoding order (ModRM reg field + REX.B).
enum class Reg : uint8_t { rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15 };

uint64_t& reg_ref(Regs& regs, Reg reg);
uint64_t reg_value(const Regs& regs, Reg reg);

// RFLAGS bits the condition codes read.
constexpr uint64_t kFlagCF = 1u << 0;
constexpr uint64_t kFlagPF = 1u << 2;
constexpr uint64_t kFlagZF = 1u << 6;
constexpr uint64_t kFlagSF = 1u << 7;
constexpr uint64_t kFlagOF = 1u << 11;

// System V AMD64 calling convention, as the engine sees a function at entry.
inline uint64_t int_arg(const Regs& r, int i) {
    switch (i) {
    case 0: return r.rdi;
    case 1: return r.rsi;
    case 2: return r.rdx;
    case 3: return r.rcx;
    case 4: return r.r8;
    case 5: return r.r9;
    }
    return 0;
}
constexpr int kMaxIntArgs = 6;

} // namespace probed::arch::x86
