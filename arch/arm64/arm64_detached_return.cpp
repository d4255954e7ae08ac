#include "arch/arm64/arm64_detached_return.h"

#include "arch/arm64/arm64_encoding.h"
#include "arch/arm64/arm64_machine.h"

namespace probed::arch::arm64 {

namespace {

// The registers the stub may clobber at a return (AAPCS64: x9-x15 are
// temporaries, x16/x17 the intra-procedure-call scratch registers).
constexpr uint32_t kCursor = 16; // x16: the entry being looked at
constexpr uint32_t kEnd = 9;     // x9: one past the last entry
constexpr uint32_t kSp = 10;     // x10: the sp to find
constexpr uint32_t kKey = 11;    // x11: an entry's sp
constexpr uint32_t kTarget = 17; // x17: an entry's return address
constexpr uint32_t kSpRegister = 31;
constexpr uint32_t kZeroRegister = 31;

constexpr uint32_t kCondNe = 0x1;
constexpr uint32_t kCondHs = 0x2;

// ldr xt, <pc + offset>
constexpr uint32_t ldr_literal(uint32_t rt, int64_t offset) {
    return 0x58000000u | (static_cast<uint32_t>(offset / 4) & 0x7ffffu) << 5 | rt;
}
// mov xd, sp (add xd, sp, #0)
constexpr uint32_t mov_from_sp(uint32_t rd) {
    return 0x91000000u | kSpRegister << 5 | rd;
}
// cmp xn, xm (subs xzr, xn, xm)
constexpr uint32_t cmp(uint32_t rn, uint32_t rm) {
    return 0xeb000000u | rm << 16 | rn << 5 | kZeroRegister;
}
// b.cond <pc + offset>
constexpr uint32_t b_cond(uint32_t cond, int64_t offset) {
    return 0x54000000u | (static_cast<uint32_t>(offset / 4) & 0x7ffffu) << 5 | cond;
}
// ldp xt1, xt2, [xn], #16
constexpr uint32_t ldp_post16(uint32_t rt1, uint32_t rt2, uint32_t rn) {
    return 0xa8c00000u | 2u << 15 | rt2 << 10 | rn << 5 | rt1;
}
// ret xn
constexpr uint32_t ret(uint32_t rn) {
    return 0xd65f0000u | rn << 5;
}

void append_le64(std::vector<uint8_t>& out, uint64_t v) {
    for (int i = 0; i < 8; ++i)
        out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

} // namespace

std::vector<uint8_t> detached_return_stub(uint64_t table, uint64_t count) {
    // Offsets in the stub: the loop starts at 0x0c, the miss is at 0x24,
    // the literals at 0x28 and 0x30.
    std::vector<uint8_t> code;
    append_le32(code, ldr_literal(kCursor, 0x28 - 0x00));  // 0x00 ldr x16, table
    append_le32(code, ldr_literal(kEnd, 0x30 - 0x04));     // 0x04 ldr x9, table end
    append_le32(code, mov_from_sp(kSp));                   // 0x08 mov x10, sp
    append_le32(code, cmp(kCursor, kEnd));                 // 0x0c cmp x16, x9
    append_le32(code, b_cond(kCondHs, 0x24 - 0x10));       // 0x10 b.hs miss
    append_le32(code, ldp_post16(kKey, kTarget, kCursor)); // 0x14 ldp x11, x17, [x16], #16
    append_le32(code, cmp(kKey, kSp));                     // 0x18 cmp x11, x10
    append_le32(code, b_cond(kCondNe, 0x0c - 0x1c));       // 0x1c b.ne loop
    append_le32(code, ret(kTarget));                       // 0x20 ret x17
    append_le32(code, kBreakpointWord);                    // 0x24 miss: brk
    append_le64(code, table);                              // 0x28
    append_le64(code, table + 16 * count);                 // 0x30
    return code;
}

std::vector<uint8_t> detached_return_table(std::span<const DetachedReturn> entries) {
    std::vector<uint8_t> out;
    out.reserve(entries.size() * 16);
    for (const DetachedReturn& e : entries) {
        append_le64(out, e.entry_sp);
        append_le64(out, e.return_address);
    }
    return out;
}

} // namespace probed::arch::arm64
