#pragma once
// Builds the code of an out-of-line slot for a displaced instruction and fixes
// up the registers after a stepped slot ran.
#include "arch/x86_64/x86_decoder.h"
#include "arch/x86_64/x86_simulator.h"
#include "common/result.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace probed::arch::x86 {

constexpr size_t kSlotSize = 32;

// True when a slot at `slot_addr` can hold `insn`: its RIP-relative operand (if
// any) still reaches the original target with a disp32 from there.
bool slot_reachable(const DecodedInsn& insn, uint64_t slot_addr);

// Boosted: the instruction, RIP-relative displacement re-targeted for
// `slot_addr`, then a jump back to insn.address + insn.length (jmp rel32 when it
// reaches, else jmp [rip+0] with an absolute address). No jump when
// insn.no_fallthrough. Result is at most kSlotSize bytes.
Result<std::vector<uint8_t>> build_boosted_slot(const DecodedInsn& insn, uint64_t slot_addr);

// A dedicated return trampoline (docs/hit_cost.md): int3 for the tracer's
// return stop, then a jump to `target` through the absolute address stored
// after it (or a jmp rel32 when that reaches), so the tracer resumes the
// thread without writing rip. At most kSlotSize bytes.
// `at` is where the trampoline will live.
std::vector<uint8_t> build_return_trampoline(uint64_t at, uint64_t target);

// Stepped: the re-targeted instruction followed by int3 as a guard.
Result<std::vector<uint8_t>> build_stepped_slot(const DecodedInsn& insn, uint64_t slot_addr);

// After one PTRACE_SINGLESTEP of a stepped slot: if rip is right after the
// instruction in the slot, move it to the original next instruction; an
// indirect call's pushed return address (slot + length) becomes
// insn.address + insn.length, returned as a memory write for the engine.
SimResult fixup_after_step(const DecodedInsn& insn, uint64_t slot_addr, Regs& regs);

} // namespace probed::arch::x86
