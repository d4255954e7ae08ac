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
constexpr unsigned kDwarfFramePointer = 6; // rbp
constexpr unsigned kDwarfStackPointer = 7; // rsp

std::array<uint64_t, kDwarfGprCount> dwarf_gprs(const Regs& regs);

// A frame-pointer frame: rbp points at the saved caller rbp, the return
// address is the word above it, and the caller's stack pointer is above that.
constexpr uint64_t kSavedFramePointerOffset = 0;
constexpr uint64_t kFrameReturnAddressOffset = 8;
constexpr uint64_t kFrameCallerSpOffset = 16;

} // namespace probed::arch::x86
