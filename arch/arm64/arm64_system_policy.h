#pragma once
// The verdict for instructions in the A64 system space (hints, barriers,
// PSTATE writes, SYS, MRS/MSR). Decided from the encoding because Capstone 4
// names most of these generically (`hint #0x19` for paciasp) or not at all
// (`msr ssbs, #1`), and because the question is not "which instruction" but
// "which register does it touch".
//
// The kernel's arm64 probes refuse every MSR, MRS of DAIF and most hints:
// kprobes step in EL1 with interrupts and debug exceptions masked, where those
// instructions would read or change the very state the stepping relies on. A
// user-space tracee is different: at EL0 a system-register access either works
// the same at any PC (NZCV, FPCR, TPIDR_EL0, the counters, the ID registers
// the kernel emulates) or traps, and a trap taken in a slot is reported at the
// probed address by the engine. We therefore run the EL0 set out of line and
// refuse the rest: DAIF (the exception mask the trap/step path owns, EL0
// access needs SCTLR_EL1.UMA which Linux never sets) and everything
// privileged, which the program cannot mean to run successfully anyway.
#include "arch/arm64/arm64_decoder.h"

#include <cstdint>
#include <optional>
#include <string>

namespace probed::arch::arm64 {

struct SystemVerdict {
    Strategy strategy = Strategy::Reject;
    SimOp sim = SimOp::None;   // Nop for the hints that only move the PC
    std::string name;          // the instruction, named even where Capstone 4 cannot
    std::string reject_reason; // set iff strategy == Reject
};

// nullopt when `word` is not in the system space (hint, barrier, msr #imm, sys,
// mrs/msr).
std::optional<SystemVerdict> classify_system(uint32_t word);

} // namespace probed::arch::arm64
