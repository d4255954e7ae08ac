#pragma once
// Classifies the instruction at a probe site (Capstone-based, host independent).
#include "arch/strategy.h"
#include "arch/x86_64/x86_regs.h"
#include "common/result.h"

#include <array>
#include <cstdint>
#include <span>
#include <string>

namespace probed::arch::x86 {

// What the simulator does for a Strategy::Simulate instruction.
enum class SimOp : uint8_t {
    None,
    Nop,       // nop (any length), endbr64
    PushReg,   // push r64                       (reg)
    MovRbpRsp, // mov rbp, rsp
    AddRsp,    // add rsp, imm / sub rsp, imm    (imm = signed delta applied to rsp)
    JmpRel,    // jmp rel8/rel32                 (target)
    CallRel,   // call rel32                     (target)
    Jcc,       // jcc rel8/rel32                 (cond, target)
};

struct DecodedInsn {
    uint64_t address = 0; // where the instruction lives in the tracee
    uint8_t length = 0;
    std::array<uint8_t, 16> bytes{};
    std::string text; // "push rbp", for logs and probe.add's answer

    Strategy strategy = Strategy::Reject;
    std::string reject_reason; // set iff strategy == Reject

    SimOp sim = SimOp::None;
    Reg reg = Reg::rax;  // PushReg
    int64_t imm = 0;     // AddRsp: delta added to rsp (negative for sub)
    uint64_t target = 0; // JmpRel / CallRel / Jcc: absolute branch target
    uint8_t cond = 0;    // Jcc: the condition's tttn encoding (0x0 = jo ... 0xf = jg)

    // RIP-relative memory operand: offset of the disp32 inside `bytes`, 0 if none.
    uint8_t disp_offset = 0;
    // call r/m: runs stepped, and the return address it pushed is fixed up.
    bool indirect_call = false;
    // ret / jmp r/m: control never falls through, so the slot needs no jump back.
    bool no_fallthrough = false;
};

// Decodes the first instruction of `code` (up to 16 bytes read at `address`).
// Returns an error only if the bytes do not decode; an instruction we cannot
// probe decodes fine with strategy == Reject and a reason.
Result<DecodedInsn> decode(std::span<const uint8_t> code, uint64_t address);

// True when condition `cond` (tttn) holds for `eflags`.
bool condition_holds(uint8_t cond, uint64_t eflags);

} // namespace probed::arch::x86
