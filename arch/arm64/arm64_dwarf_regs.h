#pragma once
// The arm64 register set in DWARF numbering (DWARF for the Arm 64-bit
// Architecture, "DWARF register names"), for unwinders that speak DWARF
// register numbers (libdwfl).
#include "arch/arm64/arm64_regs.h"

#include <array>
#include <cstdint>

namespace probed::arch::arm64 {

// DWARF registers 0..31: x0..x30, then sp. The PC has no column of its own
// that unwinders read from a register set: they take it separately.
constexpr unsigned kDwarfGprCount = 32;
constexpr unsigned kDwarfStackPointer = 31;
constexpr unsigned kDwarfLinkRegister = 30;

std::array<uint64_t, kDwarfGprCount> dwarf_gprs(const Regs& regs);

} // namespace probed::arch::arm64
