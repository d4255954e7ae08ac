#pragma once
// A portable copy of the arm64 general-purpose register set. The layout is
// exactly the kernel's `struct user_pt_regs` (what PTRACE_GETREGSET NT_PRSTATUS
// transfers), so the ptrace glue copies it byte for byte while the decoder and
// simulator stay host-independent; arm64_ptrace.cpp checks the layout against
// <asm/ptrace.h> where that header describes arm64.
#include <cstddef>
#include <cstdint>

namespace probed::arch::arm64 {

struct Regs {
    uint64_t x[31]; // x0..x30; x29 is the frame pointer, x30 the link register
    uint64_t sp;
    uint64_t pc;
    uint64_t pstate;
};
static_assert(sizeof(Regs) == 34 * 8);
static_assert(offsetof(Regs, sp) == 31 * 8 && offsetof(Regs, pc) == 32 * 8 &&
              offsetof(Regs, pstate) == 33 * 8);

// Register number 31 means the zero register in every operand the simulator
// handles (it means sp only as a base address, which no simulated instruction
// takes from an encoding field).
constexpr unsigned kZeroReg = 31;
constexpr unsigned kFrameReg = 29;
constexpr unsigned kLinkReg = 30;

inline uint64_t xreg(const Regs& r, unsigned n) {
    return n < kZeroReg ? r.x[n] : 0;
}
inline void set_xreg(Regs& r, unsigned n, uint64_t v) {
    if (n < kZeroReg)
        r.x[n] = v;
}

// PSTATE bits as ptrace shows them (the SPSR layout).
constexpr uint64_t kFlagN = 1ull << 31;
constexpr uint64_t kFlagZ = 1ull << 30;
constexpr uint64_t kFlagC = 1ull << 29;
constexpr uint64_t kFlagV = 1ull << 28;
// PSTATE.BTYPE (bits 11:10): which kind of indirect branch led here, checked
// against BTI landing pads on guarded pages. Every instruction resets it
// except the indirect branches that set it, so the simulator must too.
constexpr uint64_t kBtypeShift = 10;
constexpr uint64_t kBtypeMask = 3ull << kBtypeShift;
constexpr uint64_t kBtypeNone = 0;
constexpr uint64_t kBtypeJump = 1;      // BR (x16/x17, or from an unguarded page)
constexpr uint64_t kBtypeCall = 2;      // BLR
constexpr uint64_t kBtypeJumpOther = 3; // BR with another register from a guarded page

// AAPCS64, as the engine sees a function at entry.
constexpr int kMaxIntArgs = 8;
inline uint64_t int_arg(const Regs& r, int i) {
    return i >= 0 && i < kMaxIntArgs ? r.x[i] : 0;
}
inline uint64_t return_value(const Regs& r) {
    return r.x[0];
}
inline uint64_t stack_pointer(const Regs& r) {
    return r.sp;
}
inline uint64_t program_counter(const Regs& r) {
    return r.pc;
}
inline void set_program_counter(Regs& r, uint64_t pc) {
    r.pc = pc;
}
// At function entry the return address is in the link register, not memory.
inline uint64_t return_address(const Regs& r) {
    return r.x[kLinkReg];
}
inline void set_return_address(Regs& r, uint64_t a) {
    r.x[kLinkReg] = a;
}

} // namespace probed::arch::arm64
