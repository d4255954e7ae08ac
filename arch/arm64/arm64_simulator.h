#pragma once
// Applies a Strategy::Simulate instruction to a register set, as the CPU would.
// One small function per class (the kernel's arm64 probes split it the same
// way); memory goes through the engine: stores come back as writes to
// perform, the one load (ldr literal) goes through a reader callback.
#include "arch/arm64/arm64_decoder.h"
#include "arch/arm64/arm64_regs.h"
#include "common/result.h"

#include <array>
#include <cstdint>
#include <functional>
#include <span>

namespace probed::arch::arm64 {

// One 8-byte store to tracee memory that the engine must perform.
struct MemoryWrite {
    uint64_t address = 0;
    uint64_t value = 0;
};

struct SimResult {
    // stp x29, x30 stores two adjacent words (lowest address first): the
    // engine may write them as one 16-byte block.
    std::array<MemoryWrite, 2> writes{};
    uint8_t write_count = 0;
    // Nonzero when the instruction would fault in place (unreadable literal,
    // misaligned sp): registers are left as they were, the engine delivers
    // this signal to the thread like the CPU's fault would.
    int fault_signal = 0;
    uint64_t fault_address = 0;

    std::span<const MemoryWrite> pending_writes() const { return {writes.data(), write_count}; }
    void add_write(uint64_t address, uint64_t value) { writes[write_count++] = {address, value}; }
};

// Reads `size` (4 or 8) bytes of tracee memory, little-endian, zero-extended.
using MemoryReader = std::function<Result<uint64_t>(uint64_t address, unsigned size)>;

// `regs.pc` must hold insn.address on entry; on return it holds the address of
// the next instruction to run (fall-through or branch target), and BTYPE is
// what the instruction leaves in PSTATE.
SimResult simulate(const DecodedInsn& insn, Regs& regs, const MemoryReader& read);

} // namespace probed::arch::arm64
