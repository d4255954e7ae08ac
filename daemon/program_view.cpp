#include "daemon/program_view.h"

#include "arch/x86_64/x86_machine.h"
#include "arch/x86_64/x86_slot_builder.h"

namespace probed {

namespace x86 = arch::x86;

namespace {

// The original address a PC inside a slot stands for: the displaced
// instruction itself until it ran, the instruction after it once it did.
std::optional<uint64_t> original_for_slot_pc(uint64_t pc, uint64_t slot,
                                             const x86::DecodedInsn& insn) {
    if (slot == 0 || pc < slot || pc >= slot + x86::kSlotSize) return std::nullopt;
    return pc == slot ? insn.address : insn.address + insn.length;
}

} // namespace

ProgramView program_view(const ProcessState& proc, const ThreadState& t, const x86::Regs& regs,
                         bool trap_pending) {
    ProgramView v;
    v.regs = regs;
    uint64_t pc = x86::program_counter(regs);

    if (t.run == ThreadState::Run::Stepping && trap_pending && t.step_slot != 0 &&
        pc != t.step_slot) {
        // The step ran and its trap waits: apply the fixup we are about to do.
        x86::SimResult r = x86::fixup_after_step(t.step_insn, t.step_slot, v.regs);
        v.pending_write = r.write;
        return v;
    }
    if (proc.trampoline != 0) {
        bool at_trampoline = pc == proc.trampoline; // `ret` landed, trap not run
        bool trapped = trap_pending && x86::breakpoint_address_from_pc(pc) == proc.trampoline;
        if (at_trampoline || trapped) {
            // `ret` already popped the hijacked slot.
            uint64_t slot = x86::entry_sp_from_return_sp(x86::stack_pointer(regs));
            if (auto real = t.shadow.return_address_for(slot)) {
                x86::set_program_counter(v.regs, *real);
                v.pc_from_trampoline = true;
            }
            return v;
        }
    }
    if (trap_pending) {
        uint64_t bp = x86::breakpoint_address_from_pc(pc);
        if (proc.sites.count(bp) || proc.retired_sites.count(bp)) {
            x86::set_program_counter(v.regs, bp);
            return v;
        }
    }
    if (proc.slots && proc.slots->owns(pc)) {
        std::optional<uint64_t> orig;
        if (t.run == ThreadState::Run::Stepping)
            orig = original_for_slot_pc(pc, t.step_slot, t.step_insn);
        for (auto it = proc.sites.begin(); !orig && it != proc.sites.end(); ++it)
            orig = original_for_slot_pc(pc, it->second.slot, it->second.insn);
        if (orig) x86::set_program_counter(v.regs, *orig);
    }
    return v;
}

} // namespace probed
