#include "arch/arm64/arm64_decoder.h"

#include "arch/arm64/arm64_encoding.h"
#include "arch/arm64/arm64_extension_decoder.h"
#include "arch/arm64/arm64_system_policy.h"
#include "common/remote_ptr.h"

#include "arch/capstone_handle.h"

#include <capstone/capstone.h>

#include <cstdio>
#include <memory>

namespace probed::arch::arm64 {

namespace {

void reject(DecodedInsn& d, std::string why) {
    d.strategy = Strategy::Reject;
    d.reject_reason = std::move(why);
}

const char* exception_reason(uint32_t w) {
    switch (exception_opc(w)) {
    case 0:
        if (exception_ll(w) == 1)
            return "system call (svc): exception-generating; the kernel would record the slot's "
                   "address for restarts and signal frames";
        return "hypervisor/secure monitor call (hvc/smc): undefined at EL0";
    case 1:
        return "breakpoint instruction (brk): a trap somebody else planted or the program's "
               "own __builtin_trap";
    case 2:
        return "halting breakpoint (hlt): undefined at EL0";
    case 5:
        return "debug state change (dcps): undefined outside debug state";
    }
    return "unallocated exception-generating encoding";
}

// The PC-relative classes, from the encoding alone. Fills the operand fields
// and returns the SimOp, or None if `w` is not PC-relative.
SimOp decode_pc_relative(uint32_t w, uint64_t address, DecodedInsn& d) {
    const auto rel = [address](int64_t off) { return address + static_cast<uint64_t>(off); };
    if (is_b(w) || is_bl(w)) {
        d.target = rel(branch26_offset(w));
        return is_bl(w) ? SimOp::Bl : SimOp::B;
    }
    if (is_bcond(w)) {
        d.cond = static_cast<uint8_t>(field(w, 3, 0));
        d.target = rel(imm19_offset(w));
        return SimOp::BCond;
    }
    if (is_cbz_cbnz(w)) {
        d.reg = static_cast<uint8_t>(field(w, 4, 0));
        d.is64 = field(w, 31, 31) == 1;
        d.target = rel(imm19_offset(w));
        return field(w, 24, 24) ? SimOp::Cbnz : SimOp::Cbz;
    }
    if (is_tbz_tbnz(w)) {
        d.reg = static_cast<uint8_t>(field(w, 4, 0));
        d.bit = static_cast<uint8_t>(field(w, 31, 31) << 5 | field(w, 23, 19));
        d.target = rel(imm14_offset(w));
        return field(w, 24, 24) ? SimOp::Tbnz : SimOp::Tbz;
    }
    if (is_adr(w) || is_adrp(w)) {
        d.reg = static_cast<uint8_t>(field(w, 4, 0));
        if (is_adr(w)) {
            d.target = rel(adr_imm(w));
            return SimOp::Adr;
        }
        d.target = (address & ~0xfffull) + (static_cast<uint64_t>(adr_imm(w)) << 12);
        return SimOp::Adrp;
    }
    if (is_ldr_literal(w) || is_ldrsw_literal(w)) {
        d.reg = static_cast<uint8_t>(field(w, 4, 0));
        d.target = rel(imm19_offset(w));
        d.literal_signed = is_ldrsw_literal(w);
        d.is64 = d.literal_signed || field(w, 30, 30) == 1;
        d.literal_size = d.literal_signed ? 4 : (d.is64 ? 8 : 4);
        return SimOp::LdrLiteral;
    }
    if (is_prfm_literal(w)) {
        d.target = rel(imm19_offset(w));
        return SimOp::Nop; // a hint: no architectural effect, and no fault either
    }
    if (is_br(w) || is_blr(w) || is_ret(w)) {
        d.reg = static_cast<uint8_t>(field(w, 9, 5));
        return is_br(w) ? SimOp::Br : is_blr(w) ? SimOp::Blr : SimOp::Ret;
    }
    return SimOp::None;
}

// What Capstone says the simulated class is, None for anything else.
SimOp capstone_sim_op(const cs_insn& insn) {
    const cs_arm64& a = insn.detail->arm64;
    const bool literal = a.op_count == 2 && a.operands[1].type == ARM64_OP_IMM;
    switch (insn.id) {
    case ARM64_INS_B:
        return a.cc == ARM64_CC_INVALID ? SimOp::B : SimOp::BCond;
    case ARM64_INS_BL:
        return SimOp::Bl;
    case ARM64_INS_CBZ:
        return SimOp::Cbz;
    case ARM64_INS_CBNZ:
        return SimOp::Cbnz;
    case ARM64_INS_TBZ:
        return SimOp::Tbz;
    case ARM64_INS_TBNZ:
        return SimOp::Tbnz;
    case ARM64_INS_ADR:
        return SimOp::Adr;
    case ARM64_INS_ADRP:
        return SimOp::Adrp;
    case ARM64_INS_LDR:
    case ARM64_INS_LDRSW:
        return literal ? SimOp::LdrLiteral : SimOp::None;
    case ARM64_INS_PRFM:
        return literal ? SimOp::Nop : SimOp::None;
    case ARM64_INS_BR:
        return SimOp::Br;
    case ARM64_INS_BLR:
        return SimOp::Blr;
    case ARM64_INS_RET:
        return SimOp::Ret;
    default:
        return SimOp::None;
    }
}

// Everything outside the system space and the extension table. Returns false
// when the word does not decode.
bool classify_general(const cs_insn* insn, DecodedInsn& d) {
    const uint32_t w = d.word;
    if (is_ldr_fp_literal(w)) {
        reject(d, "PC-relative literal load into a SIMD&FP register: not simulated, and a slot "
                  "cannot reach the literal (+-1 MiB)");
        return true;
    }
    const SimOp by_encoding = decode_pc_relative(w, d.address, d);
    if (insn == nullptr) {
        // Only bc.cond (FEAT_HBC) among the PC-relative encodings is newer
        // than Capstone 4; anything else unknown is not ours to guess.
        if (by_encoding != SimOp::BCond)
            return false;
        d.text = "bc.cond " + hex_address(d.target);
        d.strategy = Strategy::Simulate;
        d.sim = by_encoding;
        return true;
    }
    SimOp by_capstone = capstone_sim_op(*insn);
    // A Capstone that knows bc.cond names it with an id Capstone 4 lacks.
    if (by_encoding == SimOp::BCond && field(d.word, 4, 4) == 1)
        by_capstone = SimOp::BCond;
    if (by_encoding != by_capstone) {
        // A PC-relative instruction must never reach a slot by mistake.
        reject(d, "Capstone and the encoding disagree about this instruction");
        return true;
    }
    if (by_encoding != SimOp::None) {
        d.strategy = Strategy::Simulate;
        d.sim = by_encoding;
        return true;
    }
    if (insn->id == ARM64_INS_STP && is_push_frame_record(w)) {
        d.strategy = Strategy::Simulate;
        d.sim = SimOp::PushFrame;
        d.imm = pair_offset64(w);
        return true;
    }
    if (insn->id == ARM64_INS_MOV && w == kMovFpSp) {
        d.strategy = Strategy::Simulate;
        d.sim = SimOp::MovFpSp;
        return true;
    }
    switch (insn->id) {
    case ARM64_INS_ERET:
    case ARM64_INS_DRPS:
        reject(d, "exception return (eret/drps): undefined at EL0");
        return true;
    default:
        break;
    }
    // Not PC-relative, no link, no exception: runs the same from a slot.
    d.strategy = Strategy::Boosted;
    return true;
}

} // namespace

uint64_t exclusive_window_start(std::span<const uint8_t> preceding, uint64_t address) {
    const size_t words = preceding.size() / kInsnSize;
    for (size_t i = 1; i <= words && i <= kExclusiveScanWords; ++i) {
        const uint32_t w = load_le32(preceding, preceding.size() - i * kInsnSize);
        if (is_store_exclusive(w))
            return 0;
        if (is_load_exclusive(w))
            return address - i * kInsnSize;
    }
    return 0;
}

Result<DecodedInsn> decode(std::span<const uint8_t> code, uint64_t address,
                           std::span<const uint8_t> preceding) {
    thread_local CapstoneHandle cs(CS_ARCH_ARM64, CS_MODE_LITTLE_ENDIAN);
    if (cs.get() == 0)
        return make_error(ErrorKind::Internal, "cannot open a Capstone arm64 handle");
    if (address % kInsnSize != 0)
        return make_error(ErrorKind::InvalidArgument,
                          hex_address(address) +
                              " is not 4-aligned: not an arm64 instruction boundary");
    if (code.size() < kInsnSize)
        return make_error(ErrorKind::InvalidArgument,
                          "fewer than 4 bytes of code at " + hex_address(address));

    DecodedInsn d;
    d.address = address;
    d.word = load_le32(code, 0);
    d.length = kInsnSize;
    const uint32_t w = d.word;

    cs_insn* raw = nullptr;
    const size_t count = cs_disasm(cs.get(), code.data(), kInsnSize, address, 1, &raw);
    CapstoneInsn insn(count == 1 ? raw : nullptr);
    if (insn && insn->detail == nullptr)
        insn.reset();
    if (insn) {
        d.text = insn->mnemonic;
        if (insn->op_str[0] != '\0')
            d.text += std::string(" ") + insn->op_str;
    }
    const auto name_if_unnamed = [&](const std::string& name) {
        // Capstone 4 calls every hint `hint #n`: our name is more useful.
        if (!insn || insn->id == ARM64_INS_HINT)
            d.text = name;
    };

    if (is_exclusive(w)) {
        reject(d, "exclusive load/store (ldxr/stxr family): the breakpoint's exception return "
                  "clears the exclusive monitor, so the store-exclusive would fail forever");
    } else if (is_exception(w)) {
        reject(d, exception_reason(w));
    } else if (is_udf(w)) {
        name_if_unnamed("udf");
        reject(d, "permanently undefined instruction (udf)");
    } else if (auto sys = classify_system(w)) {
        name_if_unnamed(sys->name);
        d.strategy = sys->strategy;
        d.sim = sys->sim;
        d.reject_reason = sys->reject_reason;
    } else if (auto ext = classify_extension(w)) {
        name_if_unnamed(ext->name);
        d.strategy = ext->strategy;
        if (ext->reject_reason)
            d.reject_reason = ext->reject_reason;
        d.link_fixup = ext->link_fixup;
        d.no_fallthrough = ext->no_fallthrough;
    } else if (!classify_general(insn.get(), d)) {
        char word[16];
        std::snprintf(word, sizeof word, "%08x", w);
        return make_error(ErrorKind::InvalidArgument,
                          "cannot decode instruction at " + hex_address(address) + ": " + word);
    }

    if (d.strategy != Strategy::Reject) {
        if (uint64_t start = exclusive_window_start(preceding, address))
            reject(d, "inside an exclusive load/store sequence (load-exclusive at " +
                          hex_address(start) +
                          "): the breakpoint's exception return would clear the monitor and "
                          "the store-exclusive would fail forever");
    }
    return d;
}

bool condition_holds(uint8_t cond, uint64_t pstate) {
    const bool n = pstate & kFlagN;
    const bool z = pstate & kFlagZ;
    const bool c = pstate & kFlagC;
    const bool v = pstate & kFlagV;
    bool holds = true;
    // Odd conditions negate the even one below them, except 1111 (nv), which
    // A64 defines as "always" like 1110 (al).
    switch ((cond & 0x0f) >> 1) {
    case 0:
        holds = z;
        break;
    case 1:
        holds = c;
        break;
    case 2:
        holds = n;
        break;
    case 3:
        holds = v;
        break;
    case 4:
        holds = c && !z;
        break;
    case 5:
        holds = n == v;
        break;
    case 6:
        holds = !z && n == v;
        break;
    case 7:
        return true;
    }
    return (cond & 1) ? !holds : holds;
}

} // namespace probed::arch::arm64
