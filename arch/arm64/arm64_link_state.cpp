#include "arch/arm64/arm64_link_state.h"

#include "arch/arm64/arm64_encoding.h"
#include "arch/capstone_handle.h"

#include <set>
#include <vector>

namespace probed::arch::arm64 {

namespace {

constexpr uint32_t kLinkRegister = 30;

// retaa, retab: authenticate x30 and return through it.
constexpr bool is_ret_authenticated(uint32_t w) {
    return matches(w, 0xfffffbff, 0xd65f0bff);
}

// What one instruction tells about x30's form.
enum class Step : uint8_t {
    Next,    // nothing: go on to the next instruction
    Branch,  // b: go on at the target only
    Fork,    // a conditional branch: go on at both
    Plain,   // x30 is used (or about to be signed) as a plain address
    Signed,  // x30 is authenticated
    Silent,  // the path ends without telling (x30 overwritten, left, unknown)
};

struct Decoded {
    Step step = Step::Next;
    uint64_t target = 0; // Branch, Fork
};

bool writes_link_register(uint32_t word, uint64_t address, bool& decoded) {
    thread_local CapstoneHandle cs(CS_ARCH_ARM64, CS_MODE_LITTLE_ENDIAN);
    decoded = false;
    if (cs.get() == 0) return false;
    uint8_t code[kInsnSize];
    for (unsigned i = 0; i < kInsnSize; ++i) code[i] = static_cast<uint8_t>(word >> (8 * i));
    cs_insn* raw = nullptr;
    const size_t count = cs_disasm(cs.get(), code, kInsnSize, address, 1, &raw);
    CapstoneInsn insn(count == 1 ? raw : nullptr);
    if (!insn || insn->detail == nullptr) return false;
    cs_regs read{}, written{};
    uint8_t nread = 0, nwritten = 0;
    if (cs_regs_access(cs.get(), insn.get(), read, &nread, written, &nwritten) != CS_ERR_OK)
        return false;
    decoded = true;
    for (uint8_t i = 0; i < nwritten; ++i)
        if (written[i] == ARM64_REG_X30 || written[i] == ARM64_REG_W30) return true;
    return false;
}

Decoded decode_step(uint32_t w, uint64_t address) {
    if (is_hint(w)) {
        const uint32_t n = hint_number(w);
        // paciaz, paciasp, pacibz, pacibsp; then autiaz ... autibsp.
        if (n >= kHintPaciaz && n < kHintAutiaz) return {Step::Plain};
        if (n >= kHintAutiaz && n <= kHintAutibsp) return {Step::Signed};
        return {Step::Next}; // nop, bti, the 1716 forms (x17, not x30)...
    }
    if (is_ret_authenticated(w)) return {Step::Signed};
    if (is_ret(w)) return {field(w, 9, 5) == kLinkRegister ? Step::Plain : Step::Silent};
    if (is_b(w)) return {Step::Branch, address + static_cast<uint64_t>(branch26_offset(w))};
    if (is_bcond(w) || is_cbz_cbnz(w))
        return {Step::Fork, address + static_cast<uint64_t>(imm19_offset(w))};
    if (is_tbz_tbnz(w)) return {Step::Fork, address + static_cast<uint64_t>(imm14_offset(w))};
    // bl, blr and the authenticated blraa... write x30 (a call returns with
    // it holding the call's own return address).
    if (is_bl(w) || is_blr(w)) return {Step::Silent};
    // br, the other authenticated branches, eret: control goes where the
    // scan cannot follow. brk, hlt, udf: not past here either. svc returns
    // to the next instruction.
    if (is_br(w) || matches(w, 0xfe000000, 0xd6000000)) return {Step::Silent};
    if (is_exception(w)) return {exception_opc(w) == 0 ? Step::Next : Step::Silent};
    if (is_udf(w)) return {Step::Silent};
    bool decoded = false;
    if (writes_link_register(w, address, decoded)) return {Step::Silent};
    // What Capstone 4 cannot decode (newer extensions) may write x30 only
    // with Rd/Rt = 30; anything else it leaves alone.
    if (!decoded && field(w, 4, 0) == kLinkRegister) return {Step::Silent};
    return {Step::Next};
}

} // namespace

LinkState link_register_state(uint64_t pc, const CodeWordReader& read_word) {
    bool plain = false, signed_ = false;
    std::set<uint64_t> seen;
    std::vector<uint64_t> paths{pc};
    unsigned budget = kLinkScanWords;
    while (!paths.empty() && budget > 0) {
        uint64_t at = paths.back();
        paths.pop_back();
        // One path, instruction by instruction, until it tells or ends; a
        // conditional branch leaves its target for later.
        while (budget > 0 && seen.insert(at).second) {
            --budget;
            const auto bytes = read_word(at);
            if (!bytes) break;
            const Decoded d = decode_step(load_le32(*bytes, 0), at);
            if (d.step == Step::Plain) plain = true;
            if (d.step == Step::Signed) signed_ = true;
            if (d.step == Step::Plain || d.step == Step::Signed || d.step == Step::Silent) break;
            if (d.step == Step::Fork) paths.push_back(d.target);
            at = d.step == Step::Branch ? d.target : at + kInsnSize;
        }
    }
    if (plain == signed_) return LinkState::Unknown;
    return plain ? LinkState::Plain : LinkState::Signed;
}

} // namespace probed::arch::arm64
