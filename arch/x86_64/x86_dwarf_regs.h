#pragma once
// The x86_64 register set in DWARF numbering (System V psABI, figure 3.36),
// for unwinders that speak DWARF register numbers (libdwfl).
#include "arch/x86_64/x86_regs.h"

#include <array>
#include <cstdint>

namespace probed::arch::x86 {

// DWARF registers 0..15: rax rdx rcx rbx rsi rdi rbp rsp r8..r15. Column 16
// is the return address (rip), which unwinders take separately as the PC.
constexpr unsigned kDwarfGprCount = 16;
constexpr unsigned kDwarfStackPointer = 7; // rsp

std::array<uint64_t, kDwarfGprCount> dwarf_gprs(const Regs& regs);

} // namespace probed::arch::x86
