#pragma once
// The few A64 encodings the arm64 ptrace checks write into a tracee. The
// arm64 backend (arch/arm64) owns the real encoders; these stay small on
// purpose so the check does not depend on the code it is meant to vouch for.
#include <cstdint>

namespace probed_test::arm64 {

// Placeholder immediate for "our" BRK until arch/arm64/arm64_machine.h
// defines probed's: not the kernel's uprobes 0x005, not GCC's trap 0x3e8,
// not LLVM's 0xf000 or its sanitizer ranges (0x55xx, 0x8xxx).
constexpr uint16_t kCheckBrkImmediate = 0x0b0d;

// BRK #imm16
constexpr uint32_t brk(uint16_t imm) { return 0xd4200000u | (uint32_t{imm} << 5); }
constexpr bool is_brk(uint32_t insn) { return (insn & 0xffe0001fu) == 0xd4200000u; }
constexpr uint16_t brk_immediate(uint32_t insn) { return static_cast<uint16_t>((insn >> 5) & 0xffffu); }

// SVC #0: the system call instruction, number in x8, arguments x0-x5.
constexpr uint32_t kSvc0 = 0xd4000001u;

// B <label>: a 26-bit word offset, so the target must be within +-128 MiB.
constexpr bool b_reaches(uint64_t from, uint64_t to) {
    const int64_t delta = static_cast<int64_t>(to - from);
    return delta % 4 == 0 && delta >= -(int64_t{1} << 27) && delta < (int64_t{1} << 27);
}
constexpr uint32_t b(uint64_t from, uint64_t to) {
    const int64_t words = static_cast<int64_t>(to - from) / 4;
    return 0x14000000u | (static_cast<uint32_t>(words) & 0x03ffffffu);
}

// The instructions of check_targets.S the checks rely on.
constexpr uint32_t kAddX0X0Imm7 = 0x91001c00u; // add x0, x0, #7
constexpr uint32_t kAddX0X0Imm9 = 0x91002400u; // add x0, x0, #9
constexpr uint16_t kGccTrapImmediate = 0x3e8;  // brk #0x3e8 (__builtin_trap)

static_assert(brk(0) == 0xd4200000u);
static_assert(brk(0x3e8) == 0xd4207d00u);
static_assert(is_brk(brk(kCheckBrkImmediate)) && brk_immediate(brk(kCheckBrkImmediate)) == kCheckBrkImmediate);
static_assert(b(0x1000, 0x1008) == 0x14000002u);  // b .+8
static_assert(b(0x1008, 0x1000) == 0x17fffffeu);  // b .-8
static_assert(b_reaches(0, (1u << 27) - 4) && !b_reaches(0, 1u << 27));

} // namespace probed_test::arm64
