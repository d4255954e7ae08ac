#pragma once
// Applies a Strategy::Simulate instruction to a register set, as the CPU would.
#include "arch/x86_64/x86_decoder.h"
#include "arch/x86_64/x86_regs.h"

#include <cstdint>
#include <optional>

namespace probed::arch::x86 {

// One 8-byte store to tracee memory that the engine must perform (push, call).
struct MemoryWrite {
    uint64_t address = 0;
    uint64_t value = 0;
};

struct SimResult {
    std::optional<MemoryWrite> write;
};

// `regs.rip` must hold insn.address on entry; on return it holds the address
// of the next instruction to run (fall-through or branch target).
SimResult simulate(const DecodedInsn& insn, Regs& regs);

} // namespace probed::arch::x86
