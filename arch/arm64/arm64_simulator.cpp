#include "arch/arm64/arm64_simulator.h"

#include <csignal>

namespace probed::arch::arm64 {

namespace {

using SimFn = void (*)(const DecodedInsn&, Regs&, const MemoryReader&, SimResult&);

uint64_t next_pc(const DecodedInsn& insn) {
    return insn.address + insn.length;
}

void set_btype(Regs& regs, uint64_t btype) {
    regs.pstate = (regs.pstate & ~kBtypeMask) | (btype << kBtypeShift);
}

// Every simulated instruction that does not branch through a register leaves
// BTYPE at 0; forgetting it would make the next instruction on a guarded page
// take a Branch Target exception when the probe sat on a BTI landing pad.
void advance(const DecodedInsn& insn, Regs& regs) {
    regs.pc = next_pc(insn);
    set_btype(regs, kBtypeNone);
}

// What the PC becomes when a branch targets `target`. Bit 55 selects the
// translation regime half, and each half has its own top-byte-ignore bit:
// Linux sets TBI0 (without TBID0) for user addresses, so the CPU's BranchTo
// clears bits 63:56 of a target whose bit 55 is 0; for the other half TBI1 is
// off and the target stays as it is (and faults). Measured on the emulated CPU
// (test_arm64_cpu_agreement): br to 0xe7296f6dfe816a30 lands on
// 0x00296f6dfe816a30, br to 0x09fc4f8a462a7074 stays 0x09fc4f8a462a7074.
uint64_t branch_address(uint64_t target) {
    constexpr uint64_t kBit55 = 1ull << 55;
    return (target & kBit55) ? target : target & ~(0xffull << 56);
}

void branch_to(Regs& regs, uint64_t target) {
    regs.pc = branch_address(target);
    set_btype(regs, kBtypeNone);
}

void sim_nop(const DecodedInsn& insn, Regs& regs, const MemoryReader&, SimResult&) {
    advance(insn, regs);
}

void sim_b(const DecodedInsn& insn, Regs& regs, const MemoryReader&, SimResult&) {
    branch_to(regs, insn.target);
}

void sim_bl(const DecodedInsn& insn, Regs& regs, const MemoryReader&, SimResult&) {
    regs.x[kLinkReg] = next_pc(insn);
    branch_to(regs, insn.target);
}

void sim_b_cond(const DecodedInsn& insn, Regs& regs, const MemoryReader&, SimResult&) {
    branch_to(regs, condition_holds(insn.cond, regs.pstate) ? insn.target : next_pc(insn));
}

bool is_zero(const DecodedInsn& insn, const Regs& regs) {
    const uint64_t v = xreg(regs, insn.reg);
    return (insn.is64 ? v : static_cast<uint32_t>(v)) == 0;
}

void sim_cbz(const DecodedInsn& insn, Regs& regs, const MemoryReader&, SimResult&) {
    branch_to(regs, is_zero(insn, regs) ? insn.target : next_pc(insn));
}

void sim_cbnz(const DecodedInsn& insn, Regs& regs, const MemoryReader&, SimResult&) {
    branch_to(regs, is_zero(insn, regs) ? next_pc(insn) : insn.target);
}

bool bit_set(const DecodedInsn& insn, const Regs& regs) {
    return (xreg(regs, insn.reg) >> (insn.bit & 63)) & 1;
}

void sim_tbz(const DecodedInsn& insn, Regs& regs, const MemoryReader&, SimResult&) {
    branch_to(regs, bit_set(insn, regs) ? next_pc(insn) : insn.target);
}

void sim_tbnz(const DecodedInsn& insn, Regs& regs, const MemoryReader&, SimResult&) {
    branch_to(regs, bit_set(insn, regs) ? insn.target : next_pc(insn));
}

// adr and adrp: the decoder already computed the address from insn.address.
void sim_adr(const DecodedInsn& insn, Regs& regs, const MemoryReader&, SimResult&) {
    set_xreg(regs, insn.reg, insn.target);
    advance(insn, regs);
}

void sim_ldr_literal(const DecodedInsn& insn, Regs& regs, const MemoryReader& read,
                     SimResult& out) {
    Result<uint64_t> v = read ? read(insn.target, insn.literal_size)
                              : Result<uint64_t>(make_error(ErrorKind::Internal, "no reader"));
    if (!v) {
        out.fault_signal = SIGSEGV;
        out.fault_address = insn.target;
        return;
    }
    uint64_t value = *v;
    if (insn.literal_signed)
        value = static_cast<uint64_t>(int64_t{static_cast<int32_t>(value)});
    else if (!insn.is64)
        value = static_cast<uint32_t>(value); // a W write zeroes the top half
    set_xreg(regs, insn.reg, value);
    advance(insn, regs);
}

// br/blr/ret read Xn before blr writes x30 (`blr x30` jumps to the old x30).
void sim_br(const DecodedInsn& insn, Regs& regs, const MemoryReader&, SimResult&) {
    regs.pc = branch_address(xreg(regs, insn.reg));
    // From an unguarded page, or through x16/x17, BR sets BTYPE 01. From a
    // guarded page with another register it would be 11, which BTI c refuses;
    // we cannot tell guarded pages apart here and choose the value that never
    // makes a working program fault.
    set_btype(regs, kBtypeJump);
}

void sim_blr(const DecodedInsn& insn, Regs& regs, const MemoryReader&, SimResult&) {
    regs.pc = branch_address(xreg(regs, insn.reg));
    regs.x[kLinkReg] = next_pc(insn);
    set_btype(regs, kBtypeCall);
}

void sim_ret(const DecodedInsn& insn, Regs& regs, const MemoryReader&, SimResult&) {
    branch_to(regs, xreg(regs, insn.reg));
}

// stp x29, x30, [sp, #imm]! : the frame record, x29 at the lower address.
void sim_push_frame(const DecodedInsn& insn, Regs& regs, const MemoryReader&, SimResult& out) {
    // With SCTLR_EL1.SA0 set (always, on Linux) an sp-based access from a
    // misaligned sp takes an SP alignment fault: SIGBUS.
    if (regs.sp % 16 != 0) {
        out.fault_signal = SIGBUS;
        out.fault_address = regs.sp;
        return;
    }
    const uint64_t base = regs.sp + static_cast<uint64_t>(insn.imm);
    out.add_write(base, regs.x[kFrameReg]);
    out.add_write(base + 8, regs.x[kLinkReg]);
    regs.sp = base;
    advance(insn, regs);
}

void sim_mov_fp_sp(const DecodedInsn& insn, Regs& regs, const MemoryReader&, SimResult&) {
    regs.x[kFrameReg] = regs.sp;
    advance(insn, regs);
}

SimFn handler_for(SimOp op) {
    switch (op) {
    case SimOp::None:
        return nullptr;
    case SimOp::Nop:
        return sim_nop;
    case SimOp::B:
        return sim_b;
    case SimOp::Bl:
        return sim_bl;
    case SimOp::BCond:
        return sim_b_cond;
    case SimOp::Cbz:
        return sim_cbz;
    case SimOp::Cbnz:
        return sim_cbnz;
    case SimOp::Tbz:
        return sim_tbz;
    case SimOp::Tbnz:
        return sim_tbnz;
    case SimOp::Adr:
    case SimOp::Adrp:
        return sim_adr;
    case SimOp::LdrLiteral:
        return sim_ldr_literal;
    case SimOp::Br:
        return sim_br;
    case SimOp::Blr:
        return sim_blr;
    case SimOp::Ret:
        return sim_ret;
    case SimOp::PushFrame:
        return sim_push_frame;
    case SimOp::MovFpSp:
        return sim_mov_fp_sp;
    }
    return nullptr;
}

} // namespace

SimResult simulate(const DecodedInsn& insn, Regs& regs, const MemoryReader& read) {
    SimResult out;
    // Not a simulated instruction: there is no effect to apply, and guessing
    // one (such as skipping it) would corrupt the tracee.
    if (SimFn fn = handler_for(insn.sim))
        fn(insn, regs, read, out);
    return out;
}

} // namespace probed::arch::arm64
