#include "arch/x86_64/x86_simulator.h"

namespace probed::arch::x86 {

namespace {

// AF is not a condition-code input, so x86_regs.h leaves it out; add/sub still
// set it and code may observe it through pushf/lahf.
constexpr uint64_t kFlagAF = 1u << 4;
constexpr uint64_t kArithFlags = kFlagCF | kFlagPF | kFlagAF | kFlagZF | kFlagSF | kFlagOF;

// True when the AddRsp instruction is a sub. The sign of the delta cannot
// tell: GCC emits `sub rsp, -128` (imm8) for `add rsp, 128`, and add and sub
// set CF/AF/OF differently for the same result. Reads the ModRM /reg field of
// the 81/83 opcode the decoder insisted on.
bool is_sub(const DecodedInsn& insn) {
    size_t i = 0;
    while (i < insn.length) {
        const uint8_t b = insn.bytes[i];
        const bool legacy_prefix = b == 0x66 || b == 0x67 || b == 0xf0 || b == 0xf2 || b == 0xf3 ||
                                   b == 0x2e || b == 0x36 || b == 0x3e || b == 0x26 ||
                                   b == 0x64 || b == 0x65;
        const bool rex = (b & 0xf0) == 0x40;
        if (!legacy_prefix && !rex) break;
        ++i;
    }
    if (i + 1 < insn.length && (insn.bytes[i] == 0x81 || insn.bytes[i] == 0x83))
        return ((insn.bytes[i + 1] >> 3) & 7) == 5;
    // No encoding to go by (a hand-built DecodedInsn): a negative delta is the
    // usual `sub rsp, imm`.
    return insn.imm < 0;
}

bool even_parity(uint8_t byte) { return (__builtin_popcount(byte) & 1) == 0; }

// Computes `a + b` (or `a - b`) on 64 bits and merges the six arithmetic
// flags into `eflags` exactly as ADD/SUB do.
uint64_t add_sub_flags(uint64_t a, uint64_t b, bool sub, uint64_t& eflags) {
    const uint64_t res = sub ? a - b : a + b;
    const bool cf = sub ? a < b : res < a;
    // Signed overflow: the operands (b negated for sub) agree in sign and the
    // result does not.
    const uint64_t of_bits = sub ? (a ^ b) & (a ^ res) : ~(a ^ b) & (a ^ res);

    uint64_t f = eflags & ~kArithFlags;
    if (cf) f |= kFlagCF;
    if (even_parity(static_cast<uint8_t>(res))) f |= kFlagPF;
    if ((a ^ b ^ res) & 0x10) f |= kFlagAF;
    if (res == 0) f |= kFlagZF;
    if (res >> 63) f |= kFlagSF;
    if (of_bits >> 63) f |= kFlagOF;
    eflags = f;
    return res;
}

} // namespace

SimResult simulate(const DecodedInsn& insn, Regs& regs) {
    SimResult out;
    const uint64_t next = insn.address + insn.length;
    switch (insn.sim) {
    case SimOp::None:
        // Not a simulated instruction: there is no effect to apply, and
        // guessing one (such as skipping it) would corrupt the tracee.
        break;
    case SimOp::Nop:
        regs.rip = next;
        break;
    case SimOp::PushReg: {
        // Read before rsp moves: `push rsp` stores the old value.
        const uint64_t value = reg_value(regs, insn.reg);
        regs.rsp -= 8;
        out.write = MemoryWrite{regs.rsp, value};
        regs.rip = next;
        break;
    }
    case SimOp::MovRbpRsp:
        regs.rbp = regs.rsp;
        regs.rip = next;
        break;
    case SimOp::AddRsp: {
        const bool sub = is_sub(insn);
        // Negate in unsigned arithmetic: wraps instead of overflowing.
        const uint64_t delta = static_cast<uint64_t>(insn.imm);
        const uint64_t operand = sub ? 0 - delta : delta;
        regs.rsp = add_sub_flags(regs.rsp, operand, sub, regs.eflags);
        regs.rip = next;
        break;
    }
    case SimOp::JmpRel:
        regs.rip = insn.target;
        break;
    case SimOp::CallRel:
        regs.rsp -= 8;
        out.write = MemoryWrite{regs.rsp, next};
        regs.rip = insn.target;
        break;
    case SimOp::Jcc:
        regs.rip = condition_holds(insn.cond, regs.eflags) ? insn.target : next;
        break;
    }
    return out;
}

} // namespace probed::arch::x86
