#pragma once
// Builds the code of an out-of-line slot for a displaced arm64 instruction and
// fixes up the registers after a stepped slot ran.
//
// No displaced instruction is PC-relative (the decoder simulates or rejects
// all of those), so the copy needs no relocation: only the way back does. A
// `b` reaches +-128 MiB; a slot further away is stepped instead, because an
// absolute jump back would need a scratch register (x16/x17 may be live
// anywhere but at a call).
#include "arch/arm64/arm64_decoder.h"
#include "arch/arm64/arm64_simulator.h"
#include "common/result.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace probed::arch::arm64 {

// Two words: the instruction, then `b` back or the guard `brk`.
constexpr size_t kSlotSize = 8;

// True when a boosted slot at `slot_addr` can jump back to the instruction
// after insn (always true when control never falls through).
bool slot_reachable(const DecodedInsn& insn, uint64_t slot_addr);

// How a Boosted or Stepped instruction runs from a slot at `slot_addr`:
// Boosted when the `b` back reaches, else Stepped. Other strategies are
// returned unchanged (they have no slot).
Strategy slot_strategy(const DecodedInsn& insn, uint64_t slot_addr);

// Boosted: the instruction, then `b insn.address + 4` (none when
// insn.no_fallthrough). Fails when the branch does not reach.
Result<std::vector<uint8_t>> build_boosted_slot(const DecodedInsn& insn, uint64_t slot_addr);

// Stepped: the instruction, then our brk as a guard: if the step somehow runs
// on, the thread traps instead of running whatever follows in the page.
Result<std::vector<uint8_t>> build_stepped_slot(const DecodedInsn& insn, uint64_t slot_addr);

// After one PTRACE_SINGLESTEP of a stepped slot: a pc right after the
// instruction moves to insn.address + 4, and a link_fixup instruction's x30
// (slot + 4) becomes insn.address + 4. The result never has memory writes;
// it has the SimResult type for symmetry with x86_64's fixup.
SimResult fixup_after_step(const DecodedInsn& insn, uint64_t slot_addr, Regs& regs);

} // namespace probed::arch::arm64
