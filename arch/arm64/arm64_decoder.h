#pragma once
// Classifies the instruction at an arm64 probe site (host independent).
//
// Capstone identifies the instruction. The encoding itself (arm64_encoding.h)
// supplies the operand fields, confirms Capstone's answer for every simulated
// class, and decides where Capstone 4.0 is vague or silent: the HINT space
// (PACIASP, BTI... all decode as `hint #n`), system registers, and encodings
// newer than ARMv8.0 that it cannot decode at all (FEAT_LSE atomics, FEAT_PAuth
// branches, RCpc loads: arm64_extension_decoder.h).
#include "arch/arm64/arm64_regs.h"
#include "arch/strategy.h"
#include "common/result.h"

#include <cstdint>
#include <span>
#include <string>

namespace probed::arch::arm64 {

// What the simulator does for a Strategy::Simulate instruction.
enum class SimOp : uint8_t {
    None,
    Nop,        // nop, bti, prfm (literal): only the PC moves
    B,          // b label                           (target)
    Bl,         // bl label                          (target)
    BCond,      // b.cond / bc.cond label            (cond, target)
    Cbz,        // cbz Wt/Xt, label                  (reg, is64, target)
    Cbnz,       // cbnz Wt/Xt, label                 (reg, is64, target)
    Tbz,        // tbz Rt, #bit, label               (reg, bit, target)
    Tbnz,       // tbnz Rt, #bit, label              (reg, bit, target)
    Adr,        // adr Xd, label                     (reg, target = the address computed)
    Adrp,       // adrp Xd, label                    (reg, target = the page computed)
    LdrLiteral, // ldr Wt/Xt / ldrsw Xt, label       (reg, target, literal_size, literal_signed)
    Br,         // br Xn                             (reg)
    Blr,        // blr Xn                            (reg)
    Ret,        // ret {Xn}                          (reg)
    PushFrame,  // stp x29, x30, [sp, #imm]!         (imm: the pre-index offset, negative)
    MovFpSp,    // mov x29, sp
};

struct DecodedInsn {
    uint64_t address = 0; // where the instruction lives in the tracee
    uint32_t word = 0;    // the encoding (A64 instructions are one word)
    uint8_t length = 4;
    std::string text; // "stp x29, x30, [sp, #-0x20]!", for logs and probe.add's answer

    Strategy strategy = Strategy::Reject;
    std::string reject_reason; // set iff strategy == Reject

    SimOp sim = SimOp::None;
    uint8_t reg = 0;     // Rd/Rt/Rn of the simulated instruction; 31 = xzr
    bool is64 = true;    // cbz/cbnz: X or W register; ldr literal: 8 or 4 bytes
    uint8_t cond = 0;    // BCond: the 4-bit condition (0 = eq ... 14 = al, 15 = nv)
    uint8_t bit = 0;     // Tbz/Tbnz: the bit tested (0..63)
    int64_t imm = 0;     // PushFrame: the pre-index offset added to sp
    uint64_t target = 0; // branch target, adr/adrp result, literal address
    uint8_t literal_size = 0;
    bool literal_signed = false; // ldrsw

    // blraa/blrab(z): runs stepped, then x30 (the slot's address + 4) is set
    // to address + 4.
    bool link_fixup = false;
    // retaa/braa...: control never falls through, so the slot needs no B back.
    bool no_fallthrough = false;
};

// How far back the exclusive-window scan looks, in instructions: the
// kernel's arm64 probes use the same bound (MAX_ATOMIC_CONTEXT_SIZE).
constexpr size_t kExclusiveScanWords = 16;

// Decodes the instruction in the first 4 bytes of `code`, read at `address`
// (4-aligned). `preceding` holds the code right before `address` as the
// program sees it (our breakpoints hidden), ideally from the function's
// start: its last kExclusiveScanWords words are scanned backwards, and a
// load-exclusive met before any store-exclusive means the site sits inside an
// LDXR...STXR sequence and is rejected. Returns an error only if the word does
// not decode; an instruction we cannot probe decodes fine with strategy ==
// Reject and a reason.
Result<DecodedInsn> decode(std::span<const uint8_t> code, uint64_t address,
                           std::span<const uint8_t> preceding = {});

// The address of the load-exclusive that opens an exclusive sequence
// containing `address`, scanning `preceding` (which ends at `address`) like
// decode() does; 0 if there is none.
uint64_t exclusive_window_start(std::span<const uint8_t> preceding, uint64_t address);

// True when condition `cond` holds for the NZCV bits of `pstate`.
bool condition_holds(uint8_t cond, uint64_t pstate);

} // namespace probed::arch::arm64
