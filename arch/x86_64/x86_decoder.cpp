#include "arch/x86_64/x86_decoder.h"

#include "arch/capstone_handle.h"

#include <capstone/capstone.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>

namespace probed::arch::x86 {

namespace {

std::string hex_bytes(std::span<const uint8_t> code) {
    std::string out;
    char buf[4];
    for (uint8_t b : code) {
        std::snprintf(buf, sizeof buf, "%s%02x", out.empty() ? "" : " ", b);
        out += buf;
    }
    return out;
}

bool in_group(const cs_insn& insn, uint8_t group) {
    const cs_detail& d = *insn.detail;
    return std::find(d.groups, d.groups + d.groups_count, group) != d.groups + d.groups_count;
}

// Maps a Capstone 64-bit GPR to the hardware encoding; false for anything else
// (a 16/32-bit register must not be simulated as a 64-bit push).
bool gpr64(x86_reg r, Reg& out) {
    static constexpr x86_reg kRegs[] = {
        X86_REG_RAX, X86_REG_RCX, X86_REG_RDX, X86_REG_RBX, X86_REG_RSP, X86_REG_RBP,
        X86_REG_RSI, X86_REG_RDI, X86_REG_R8,  X86_REG_R9,  X86_REG_R10, X86_REG_R11,
        X86_REG_R12, X86_REG_R13, X86_REG_R14, X86_REG_R15,
    };
    for (size_t i = 0; i < std::size(kRegs); ++i) {
        if (kRegs[i] == r) {
            out = static_cast<Reg>(i);
            return true;
        }
    }
    return false;
}

bool is_reg(const cs_x86_op& op, x86_reg r) { return op.type == X86_OP_REG && op.reg == r; }

void reject(DecodedInsn& d, std::string why) {
    d.strategy = Strategy::Reject;
    d.reject_reason = std::move(why);
}

// Instructions that must never be displaced: they trap, need privilege, or
// depend on RIP in a way neither the simulator nor a slot reproduces.
// Returns the reason, or nullptr when the instruction is acceptable.
const char* reject_reason_for(const cs_insn& insn) {
    switch (insn.id) {
    case X86_INS_INT3:
    case X86_INS_INT:
    case X86_INS_INT1:
    case X86_INS_INTO:
        return "software interrupt: traps by design and would confuse the debugger";
    case X86_INS_UD0:
    case X86_INS_UD2:
    case X86_INS_UD2B:
        return "undefined-instruction trap (ud0/ud1/ud2)";
    case X86_INS_HLT:
        return "hlt is privileged and faults in user mode";
    case X86_INS_LOOP:
    case X86_INS_LOOPE:
    case X86_INS_LOOPNE:
    case X86_INS_JRCXZ:
    case X86_INS_JECXZ:
    case X86_INS_JCXZ:
        return "loop/jrcxz: rel8 RIP-relative branch that is not simulated";
    case X86_INS_LJMP:
    case X86_INS_LCALL:
    case X86_INS_RETF:
    case X86_INS_RETFQ:
        return "far control transfer changes the code segment";
    default:
        break;
    }
    if (in_group(insn, X86_GRP_RTM))
        return "RTM transaction instruction (xbegin/xabort/xend): aborts or needs its fallback "
               "address";
    if (in_group(insn, X86_GRP_IRET)) return "interrupt return";
    // Capstone files rdtscp under PRIVILEGE, but Linux lets user mode run it
    // (vDSO clock code uses it), so refusing it would only lose probe sites.
    if (in_group(insn, X86_GRP_PRIVILEGE) && insn.id != X86_INS_RDTSCP)
        return "privileged instruction: faults in user mode";
    return nullptr;
}

// Validates the RIP-relative operand and returns the offset of its disp32 in
// the instruction, 0 if the instruction has none. Capstone's disp_size is not
// trustworthy (it says 2 for VEX-encoded operands), so the layout is checked
// against the bytes instead: ModRM mod=00 rm=101 immediately followed by disp32.
Result<uint8_t> rip_disp_offset(const cs_insn& insn) {
    const cs_x86& x = insn.detail->x86;
    const cs_x86_op* mem = nullptr;
    for (uint8_t i = 0; i < x.op_count; ++i) {
        const cs_x86_op& op = x.operands[i];
        if (op.type != X86_OP_MEM) continue;
        if (op.mem.base == X86_REG_EIP)
            return make_error(ErrorKind::Unsupported,
                              "EIP-relative operand (address-size prefix) is not relocatable");
        if (op.mem.base == X86_REG_RIP) mem = &op;
    }
    if (mem == nullptr) return uint8_t{0};

    const uint8_t off = x.encoding.disp_offset;
    const bool layout_ok = off >= 1 && off + 4u <= insn.size && insn.bytes[off - 1] == x.modrm &&
                           (x.modrm & 0xc7) == 0x05;
    if (!layout_ok)
        return make_error(ErrorKind::Unsupported,
                          "RIP-relative operand without a plain disp32 in the encoding");
    int32_t disp = 0;
    std::memcpy(&disp, insn.bytes + off, sizeof disp);
    if (disp != mem->mem.disp)
        return make_error(ErrorKind::Unsupported,
                          "RIP-relative displacement does not match the encoding");
    return off;
}

// Fills the Simulate fields and returns true if `insn` is one of the few
// instructions the daemon emulates instead of displacing.
bool classify_simulated(const cs_insn& insn, DecodedInsn& d) {
    const cs_x86& x = insn.detail->x86;
    const cs_x86_op* ops = x.operands;

    switch (insn.id) {
    case X86_INS_NOP:
    case X86_INS_ENDBR64:
        d.sim = SimOp::Nop;
        return true;
    case X86_INS_PUSH:
        if (x.op_count == 1 && ops[0].type == X86_OP_REG && gpr64(ops[0].reg, d.reg)) {
            d.sim = SimOp::PushReg;
            return true;
        }
        return false;
    case X86_INS_MOV:
        if (x.op_count == 2 && is_reg(ops[0], X86_REG_RBP) && is_reg(ops[1], X86_REG_RSP)) {
            d.sim = SimOp::MovRbpRsp;
            return true;
        }
        return false;
    case X86_INS_ADD:
    case X86_INS_SUB:
        // Only the 81/83 group-1 forms: the simulator reads the ModRM /reg
        // field to tell add from sub for the flags (sub rsp,-128 is common).
        if (x.op_count == 2 && is_reg(ops[0], X86_REG_RSP) && ops[1].type == X86_OP_IMM &&
            (x.opcode[0] == 0x81 || x.opcode[0] == 0x83)) {
            d.sim = SimOp::AddRsp;
            d.imm = insn.id == X86_INS_ADD ? ops[1].imm : -ops[1].imm;
            return true;
        }
        return false;
    default:
        break;
    }

    if (!in_group(insn, X86_GRP_BRANCH_RELATIVE)) return false;
    if (x.op_count != 1 || ops[0].type != X86_OP_IMM) return false;
    d.target = static_cast<uint64_t>(ops[0].imm);
    if (insn.id == X86_INS_JMP) {
        d.sim = SimOp::JmpRel;
        return true;
    }
    if (insn.id == X86_INS_CALL) {
        d.sim = SimOp::CallRel;
        return true;
    }
    if (x.opcode[0] >= 0x70 && x.opcode[0] <= 0x7f) {
        d.sim = SimOp::Jcc;
        d.cond = x.opcode[0] & 0x0f;
        return true;
    }
    if (x.opcode[0] == 0x0f && x.opcode[1] >= 0x80 && x.opcode[1] <= 0x8f) {
        d.sim = SimOp::Jcc;
        d.cond = x.opcode[1] & 0x0f;
        return true;
    }
    d.target = 0;
    return false;
}

} // namespace

Result<DecodedInsn> decode(std::span<const uint8_t> code, uint64_t address) {
    thread_local CapstoneHandle cs(CS_ARCH_X86, CS_MODE_64);
    if (cs.get() == 0) return make_error(ErrorKind::Internal, "cannot open a Capstone x86-64 handle");

    const std::span<const uint8_t> window = code.first(std::min<size_t>(code.size(), 16));
    cs_insn* raw = nullptr;
    const size_t count = cs_disasm(cs.get(), window.data(), window.size(), address, 1, &raw);
    CapstoneInsn insn(count == 1 ? raw : nullptr);
    if (count == 0 || !insn || insn->detail == nullptr) {
        char where[32];
        std::snprintf(where, sizeof where, "%#llx", static_cast<unsigned long long>(address));
        return make_error(ErrorKind::InvalidArgument, std::string("cannot decode instruction at ") +
                                                          where + ": " + hex_bytes(window));
    }

    DecodedInsn d;
    d.address = address;
    d.length = static_cast<uint8_t>(insn->size);
    std::copy_n(insn->bytes, insn->size, d.bytes.begin());
    d.text = insn->mnemonic;
    if (insn->op_str[0] != '\0') d.text += std::string(" ") + insn->op_str;

    if (const char* why = reject_reason_for(*insn)) {
        reject(d, why);
        return d;
    }

    Result<uint8_t> disp = rip_disp_offset(*insn);
    if (!disp) {
        reject(d, disp.error().message);
        return d;
    }

    const cs_x86& x = insn->detail->x86;
    // 66-prefixed near branches truncate RIP to 16 bits on AMD but ignore the
    // prefix on Intel, so no single emulation is right.
    const bool opsize_prefix = x.prefix[2] == X86_PREFIX_OPSIZE;
    if (in_group(*insn, X86_GRP_BRANCH_RELATIVE) && opsize_prefix) {
        reject(d, "operand-size prefix on a relative branch behaves differently on Intel and AMD");
        return d;
    }

    if (classify_simulated(*insn, d)) {
        d.strategy = Strategy::Simulate;
        return d;
    }
    if (in_group(*insn, X86_GRP_BRANCH_RELATIVE)) {
        reject(d, "relative branch that is not simulated");
        return d;
    }

    d.disp_offset = *disp;
    if (insn->id == X86_INS_CALL) {
        // call r/m pushes the slot's address as return address: step it and
        // patch the pushed value afterwards.
        d.strategy = Strategy::Stepped;
        d.indirect_call = true;
        return d;
    }
    d.strategy = Strategy::Boosted;
    d.no_fallthrough = insn->id == X86_INS_RET || insn->id == X86_INS_JMP;
    return d;
}

bool condition_holds(uint8_t cond, uint64_t eflags) {
    const bool cf = eflags & kFlagCF;
    const bool pf = eflags & kFlagPF;
    const bool zf = eflags & kFlagZF;
    const bool sf = eflags & kFlagSF;
    const bool of = eflags & kFlagOF;
    bool holds = false;
    // Odd tttn codes are the negation of the even code below them.
    switch ((cond & 0x0f) >> 1) {
    case 0: holds = of; break;
    case 1: holds = cf; break;
    case 2: holds = zf; break;
    case 3: holds = cf || zf; break;
    case 4: holds = sf; break;
    case 5: holds = pf; break;
    case 6: holds = sf != of; break;
    case 7: holds = zf || sf != of; break;
    }
    return (cond & 1) ? !holds : holds;
}

} // namespace probed::arch::x86
