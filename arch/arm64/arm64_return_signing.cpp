#include "arch/arm64/arm64_return_signing.h"

#include "arch/arm64/arm64_encoding.h"
#include "arch/arm64/arm64_machine.h"

namespace probed::arch::arm64 {

namespace {

// The registers of a run: x17 and x16 are fixed by the 1716 forms; x10
// carries the check in, x9 the signed value out.
constexpr uint32_t kValueIn = 17;
constexpr uint32_t kModifier = 16;
constexpr uint32_t kCheckIn = 10;
constexpr uint32_t kValueOut = 9;

// One run: five words, the brk last.
constexpr uint64_t kRunBytes = 5 * kInsnSize;

// mov xd, xm (orr xd, xzr, xm)
constexpr uint32_t mov_reg(uint32_t rd, uint32_t rm) {
    return 0xaa0003e0u | rm << 16 | rd;
}

void append_run(std::vector<uint8_t>& code, uint32_t pac1716) {
    append_le32(code, pac1716);                      // paci[ab]1716  x17 = signed value
    append_le32(code, mov_reg(kValueOut, kValueIn)); // mov x9, x17
    append_le32(code, mov_reg(kValueIn, kCheckIn));  // mov x17, x10
    append_le32(code, pac1716);                      // paci[ab]1716  x17 = signed check
    append_le32(code, kBreakpointWord);              // brk
}

uint32_t word_at(std::span<const uint8_t> code, size_t offset) {
    uint32_t w = 0;
    for (size_t i = 0; i < kInsnSize; ++i)
        w |= uint32_t{code[offset + i]} << (8 * i);
    return w;
}

std::optional<PacKey> key_of(uint32_t word) {
    if (!is_hint(word)) return std::nullopt;
    if (hint_number(word) == kHintPaciasp) return PacKey::A;
    if (hint_number(word) == kHintPacibsp) return PacKey::B;
    return std::nullopt;
}

bool is_landing_pad(uint32_t word) {
    return is_hint(word) && (hint_number(word) == kHintBtiC || hint_number(word) == kHintBtiJc);
}

} // namespace

std::optional<PacKey> return_signing_key(std::span<const uint8_t> entry_code) {
    if (entry_code.size() < kInsnSize) return std::nullopt;
    const uint32_t first = word_at(entry_code, 0);
    if (auto key = key_of(first)) return key;
    if (is_landing_pad(first) && entry_code.size() >= 2 * kInsnSize)
        return key_of(word_at(entry_code, kInsnSize));
    return std::nullopt;
}

std::vector<uint8_t> sign_stub_bytes() {
    std::vector<uint8_t> code;
    append_run(code, encode_hint(kHintPacia1716)); // 0x00: the A key
    append_run(code, encode_hint(kHintPacib1716)); // 0x14: the B key
    return code;
}

uint64_t sign_stub_entry(uint64_t stub, PacKey key) {
    return key == PacKey::A ? stub : stub + kRunBytes;
}

uint64_t sign_stub_done_pc(uint64_t stub, PacKey key) {
    return sign_stub_entry(stub, key) + kRunBytes - kInsnSize;
}

void prepare_sign(Regs& regs, uint64_t stub, PacKey key, uint64_t modifier, uint64_t value,
                  uint64_t check) {
    regs.x[kValueIn] = value;
    regs.x[kModifier] = modifier;
    regs.x[kCheckIn] = check;
    regs.pc = sign_stub_entry(stub, key);
    // Reached by setting the PC, not by a branch.
    regs.pstate &= ~kBtypeMask;
}

SignedPair sign_result(const Regs& regs) {
    return {regs.x[kValueOut], regs.x[kValueIn]};
}

} // namespace probed::arch::arm64
