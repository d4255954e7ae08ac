#include "arch/arm64/arm64_return_signing.h"

#include "arch/arm64/arm64_encoding.h"
#include "arch/arm64/arm64_machine.h"

namespace probed::arch::arm64 {

namespace {

// The registers of a run: x16 and x17 are fixed by the 1716 forms (the
// modifier, and the value signed in place); x0 walks the table and x1 is
// its end (x0 = 0: one value in registers); x2 picks the key (0: A).
constexpr uint32_t kModifier = 16;
constexpr uint32_t kValue = 17;
constexpr uint32_t kCursor = 0;
constexpr uint32_t kEnd = 1;
constexpr uint32_t kKeyB = 2;

// Where a run starts: at the table's next pair, or past the load with one
// value in registers.
constexpr uint64_t kTableEntry = 0x00;
constexpr uint64_t kOneEntry = 0x04;
constexpr uint64_t kDone = 0x24;

uint64_t u64_at(std::span<const uint8_t> bytes, size_t offset) {
    uint64_t v = 0;
    for (size_t i = 0; i < 8; ++i)
        v |= uint64_t{bytes[offset + i]} << (8 * i);
    return v;
}

void append_le64(std::vector<uint8_t>& out, uint64_t v) {
    for (int i = 0; i < 8; ++i)
        out.push_back(static_cast<uint8_t>(v >> (8 * i)));
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

void start_at(Regs& regs, uint64_t pc, PacKey key) {
    regs.x[kKeyB] = key == PacKey::B ? 1 : 0;
    regs.pc = pc;
    // Reached by setting the PC, not by a branch.
    regs.pstate &= ~kBtypeMask;
}

} // namespace

std::optional<PacKey> return_signing_key(std::span<const uint8_t> entry_code) {
    if (entry_code.size() < kInsnSize) return std::nullopt;
    const uint32_t first = load_le32(entry_code, 0);
    if (auto key = key_of(first)) return key;
    if (is_landing_pad(first) && entry_code.size() >= 2 * kInsnSize)
        return key_of(load_le32(entry_code, kInsnSize));
    return std::nullopt;
}

std::vector<uint8_t> sign_stub_bytes() {
    // Only direct branches: the executable's text may be BTI-guarded, and
    // none of these words is a landing pad. The registers are the run's
    // own: the thread gets its own back afterwards.
    std::vector<uint8_t> code;
    append_le32(code, 0xa8c14410);                       // 0x00 ldp x16, x17, [x0], #16
    append_le32(code, 0xb5000062);                       // 0x04 cbnz x2, 0x10
    append_le32(code, encode_hint(kHintPacia1716));      // 0x08 pacia1716  x17 = signed x17
    append_le32(code, 0x14000002);                       // 0x0c b 0x14
    append_le32(code, encode_hint(kHintPacib1716));      // 0x10 pacib1716
    append_le32(code, 0xb4000080);                       // 0x14 cbz x0, 0x24  (one value)
    append_le32(code, 0xf81f8011);                       // 0x18 stur x17, [x0, #-8]
    append_le32(code, 0xeb01001f);                       // 0x1c cmp x0, x1
    append_le32(code, 0x54ffff01);                       // 0x20 b.ne 0x00
    append_le32(code, kBreakpointWord);                  // 0x24 brk
    return code;
}

uint64_t sign_stub_done_pc(uint64_t stub) {
    return stub + kDone;
}

std::vector<uint8_t> sign_table_bytes(std::span<const PacSignInput> pairs) {
    std::vector<uint8_t> out;
    out.reserve(pairs.size() * kSignPairBytes);
    for (const PacSignInput& p : pairs) {
        append_le64(out, p.modifier); // x16, loaded first
        append_le64(out, p.value);    // x17, stored back signed
    }
    return out;
}

std::vector<uint64_t> signed_table_values(std::span<const uint8_t> table) {
    std::vector<uint64_t> values;
    for (size_t at = 0; at + kSignPairBytes <= table.size(); at += kSignPairBytes)
        values.push_back(u64_at(table, at + 8));
    return values;
}

uint64_t sign_table_address(const Regs& regs, size_t pairs) {
    return (regs.sp - pairs * kSignPairBytes) & ~uint64_t{15};
}

void prepare_sign_table(Regs& regs, uint64_t stub, PacKey key, uint64_t table, size_t pairs) {
    regs.x[kCursor] = table;
    regs.x[kEnd] = table + pairs * kSignPairBytes;
    start_at(regs, stub + kTableEntry, key);
}

void prepare_sign_one(Regs& regs, uint64_t stub, PacKey key, PacSignInput input) {
    regs.x[kCursor] = 0;
    regs.x[kModifier] = input.modifier;
    regs.x[kValue] = input.value;
    start_at(regs, stub + kOneEntry, key);
}

uint64_t signed_one(const Regs& regs) {
    return regs.x[kValue];
}

} // namespace probed::arch::arm64
