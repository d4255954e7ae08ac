#pragma once
// Bit-level facts about A64 encodings (Arm ARM, "A64 Instruction Set
// Encoding"): field extraction, the few masks the decoder checks Capstone's
// answer against, and the encoders the slot builder and machine need. Every
// A64 instruction is one little-endian 32-bit word.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace probed::arch::arm64 {

constexpr unsigned kInsnSize = 4;

constexpr uint32_t field(uint32_t word, unsigned hi, unsigned lo) {
    return (word >> lo) & ((1u << (hi - lo + 1)) - 1);
}

constexpr int64_t sign_extend(uint64_t value, unsigned width) {
    const uint64_t sign = 1ull << (width - 1);
    value &= (sign << 1) - 1;
    return static_cast<int64_t>((value ^ sign) - sign);
}

constexpr bool matches(uint32_t word, uint32_t mask, uint32_t value) {
    return (word & mask) == value;
}

// ---- PC-relative instructions (the only ones whose effect depends on where they run)
constexpr bool is_b(uint32_t w) {
    return matches(w, 0xfc000000, 0x14000000);
}
constexpr bool is_bl(uint32_t w) {
    return matches(w, 0xfc000000, 0x94000000);
}
// b.cond, and FEAT_HBC's bc.cond (bit 4 set) which only adds a prediction hint.
constexpr bool is_bcond(uint32_t w) {
    return matches(w, 0xff000000, 0x54000000);
}
constexpr bool is_cbz_cbnz(uint32_t w) {
    return matches(w, 0x7e000000, 0x34000000);
}
constexpr bool is_tbz_tbnz(uint32_t w) {
    return matches(w, 0x7e000000, 0x36000000);
}
constexpr bool is_adr(uint32_t w) {
    return matches(w, 0x9f000000, 0x10000000);
}
constexpr bool is_adrp(uint32_t w) {
    return matches(w, 0x9f000000, 0x90000000);
}
// ldr Wt/Xt, label (bit 30 = 64-bit), ldrsw Xt, label, prfm op, label.
constexpr bool is_ldr_literal(uint32_t w) {
    return matches(w, 0xbf000000, 0x18000000);
}
constexpr bool is_ldrsw_literal(uint32_t w) {
    return matches(w, 0xff000000, 0x98000000);
}
constexpr bool is_prfm_literal(uint32_t w) {
    return matches(w, 0xff000000, 0xd8000000);
}
// ldr St/Dt/Qt, label: a literal load into a SIMD&FP register.
constexpr bool is_ldr_fp_literal(uint32_t w) {
    return matches(w, 0x3f000000, 0x1c000000);
}

// imm26 (b/bl), imm19 (b.cond/cbz/ldr literal) and imm14 (tbz) count words.
constexpr int64_t branch26_offset(uint32_t w) {
    return sign_extend(field(w, 25, 0), 26) * 4;
}
constexpr int64_t imm19_offset(uint32_t w) {
    return sign_extend(field(w, 23, 5), 19) * 4;
}
constexpr int64_t imm14_offset(uint32_t w) {
    return sign_extend(field(w, 18, 5), 14) * 4;
}
// adr: immhi:immlo bytes; adrp: the same number of 4 KiB pages.
constexpr int64_t adr_imm(uint32_t w) {
    return sign_extend((field(w, 23, 5) << 2) | field(w, 30, 29), 21);
}

// ---- branches to a register
constexpr bool is_br(uint32_t w) {
    return matches(w, 0xfffffc1f, 0xd61f0000);
}
constexpr bool is_blr(uint32_t w) {
    return matches(w, 0xfffffc1f, 0xd63f0000);
}
constexpr bool is_ret(uint32_t w) {
    return matches(w, 0xfffffc1f, 0xd65f0000);
}

// ---- the usual function entry
// stp x29, x30, [sp, #imm]!  (64-bit pair, pre-index, Rt=29, Rt2=30, Rn=sp)
constexpr bool is_push_frame_record(uint32_t w) {
    return matches(w, 0xffc07fff, 0xa9807bfd);
}
constexpr int64_t pair_offset64(uint32_t w) {
    return sign_extend(field(w, 21, 15), 7) * 8;
}
constexpr uint32_t kMovFpSp = 0x910003fd; // mov x29, sp  (add x29, sp, #0)

// ---- exclusives: the monitor an LDXR arms is cleared by every exception
// return, so the BRK/step of a probe inside LDXR...STXR makes the STXR fail
// forever. o2 (bit 23) = 0 selects the exclusive forms; pairs need size 1x
// (size 0x with o1 = 1 is FEAT_LSE's CASP, which is one atomic instruction).
constexpr bool is_exclusive(uint32_t w) {
    return matches(w, 0x3fa00000, 0x08000000) || matches(w, 0xbfa00000, 0x88200000);
}
constexpr bool is_load_exclusive(uint32_t w) {
    return is_exclusive(w) && field(w, 22, 22) == 1;
}
constexpr bool is_store_exclusive(uint32_t w) {
    return is_exclusive(w) && field(w, 22, 22) == 0;
}

// ---- exception generation: svc, hvc, smc, brk, hlt, dcps1-3
constexpr bool is_exception(uint32_t w) {
    return matches(w, 0xff000000, 0xd4000000);
}
constexpr uint32_t exception_opc(uint32_t w) {
    return field(w, 23, 21);
}
constexpr uint32_t exception_ll(uint32_t w) {
    return field(w, 1, 0);
}
// udf #imm16: permanently undefined.
constexpr bool is_udf(uint32_t w) {
    return matches(w, 0xffff0000, 0x00000000);
}

// ---- system instructions (hints, barriers, PSTATE, SYS, MRS/MSR)
constexpr bool is_hint(uint32_t w) {
    return matches(w, 0xfffff01f, 0xd503201f);
}
constexpr uint32_t hint_number(uint32_t w) {
    return field(w, 11, 5);
}
// The hint numbers of FEAT_PAuth's instructions and FEAT_BTI's landing pads:
// the 1716 forms sign x17 with x16; the others sign (pac*) or authenticate
// (aut*) x30 with sp or zero as the modifier, A key or B key.
constexpr uint32_t kHintPacia1716 = 8;
constexpr uint32_t kHintPacib1716 = 10;
constexpr uint32_t kHintPaciaz = 24;
constexpr uint32_t kHintPaciasp = 25;
constexpr uint32_t kHintPacibsp = 27;
constexpr uint32_t kHintAutiaz = 28;
constexpr uint32_t kHintAutibsp = 31;
constexpr uint32_t kHintBtiC = 34;
constexpr uint32_t kHintBtiJc = 38;
constexpr bool is_barrier(uint32_t w) {
    return matches(w, 0xfffff01f, 0xd503301f);
}
constexpr bool is_msr_imm(uint32_t w) {
    return matches(w, 0xfff8f01f, 0xd500401f);
}
constexpr bool is_sys(uint32_t w) {
    return matches(w, 0xffd80000, 0xd5080000);
} // sys, sysl
constexpr bool is_mrs_msr(uint32_t w) {
    return matches(w, 0xffd00000, 0xd5100000);
}
constexpr bool is_mrs(uint32_t w) {
    return is_mrs_msr(w) && field(w, 21, 21) == 1;
}
// op0:op1:CRn:CRm:op2 of an MRS/MSR (register) as one number; sysreg() builds the same.
constexpr uint32_t sysreg_of(uint32_t w) {
    return field(w, 20, 5);
}
constexpr uint32_t sysreg(uint32_t op0, uint32_t op1, uint32_t crn, uint32_t crm, uint32_t op2) {
    return op0 << 14 | op1 << 11 | crn << 7 | crm << 3 | op2;
}

// ---- encoders
// b `to` from `from`, if it is within +-128 MiB.
constexpr std::optional<uint32_t> encode_b(uint64_t from, uint64_t to) {
    const auto delta = static_cast<int64_t>(to - from);
    if (delta % 4 != 0 || delta < -(1ll << 27) || delta >= (1ll << 27))
        return std::nullopt;
    return 0x14000000u | (static_cast<uint32_t>(delta / 4) & 0x03ffffffu);
}
constexpr uint32_t encode_brk(uint16_t imm) {
    return 0xd4200000u | uint32_t{imm} << 5;
}
constexpr uint32_t kSvc0 = 0xd4000001; // svc #0
// hint #n: nop, the BTI landing pads and the PAC instructions of FEAT_PAuth.
constexpr uint32_t encode_hint(uint32_t n) {
    return 0xd503201fu | (n & 0x7fu) << 5;
}

// Instructions are little-endian in memory whatever the data endianness.
inline uint32_t load_le32(std::span<const uint8_t> code, size_t at) {
    return uint32_t{code[at]} | uint32_t{code[at + 1]} << 8 | uint32_t{code[at + 2]} << 16 |
           uint32_t{code[at + 3]} << 24;
}
inline void append_le32(std::vector<uint8_t>& code, uint32_t w) {
    for (int i = 0; i < 4; ++i)
        code.push_back(static_cast<uint8_t>(w >> (8 * i)));
}

} // namespace probed::arch::arm64
