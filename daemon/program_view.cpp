#include "daemon/program_view.h"

namespace probed {

namespace host = arch::host;

namespace {

// The original address a PC inside a slot stands for: the displaced
// instruction itself until it ran, the instruction after it once it did.
std::optional<uint64_t> original_for_slot_pc(uint64_t pc, uint64_t slot,
                                             const host::DecodedInsn& insn) {
    if (slot == 0 || pc < slot || pc >= slot + host::kSlotSize) return std::nullopt;
    return pc == slot ? insn.address : insn.address + insn.length;
}

} // namespace

ProgramView program_view(const ProcessState& proc, const ThreadState& t, const host::Regs& regs,
                         bool trap_pending) {
    ProgramView v;
    v.regs = regs;
    uint64_t pc = host::pc_of(regs);

    if (t.run == ThreadState::Run::Stepping && trap_pending && t.step_slot != 0 &&
        pc != t.step_slot) {
        // The step ran and its trap waits: apply the fixup we are about to do.
        v.pending = host::fixup_step(t.step_insn, t.step_slot, v.regs);
        return v;
    }
    if (auto dedicated = proc.trampolines.dedicated_holding(pc, host::kSlotSize)) {
        // Landed on, trapped at, or (the return reported, its frame gone)
        // about to jump from a trampoline that knows where it leads.
        host::set_pc_of(v.regs, *proc.trampolines.target_of(*dedicated));
        v.pc_from_trampoline = true;
        return v;
    }
    if (proc.trampolines.any()) {
        const uint64_t generic = proc.trampolines.generic();
        bool at_trampoline = pc == generic; // `ret` landed, trap not run
        bool trapped = trap_pending && host::breakpoint_address_from_pc(pc) == generic;
        if (at_trampoline || trapped) {
            // `ret` is done: the frame that returned is keyed as it was at entry.
            if (auto real = t.shadow.return_address_for(host::entry_sp_at_return(regs))) {
                host::set_pc_of(v.regs, *real);
                v.pc_from_trampoline = true;
            }
            return v;
        }
    }
    if (trap_pending) {
        uint64_t bp = host::breakpoint_address_from_pc(pc);
        if (proc.sites.count(bp) || proc.retired_sites.count(bp)) {
            host::set_pc_of(v.regs, bp);
            return v;
        }
    }
    if (const ProbeSite* site =
            find_stub_site(proc, [pc](const ProbeSite::Stub& s) { return stub_holds(s, pc); })) {
        // In an entry stub: the program is at the call's first instruction
        // (or past it), with the stub's own pushes undone.
        arch::EntryStubExit exit = host::leave_entry_stub(site->stub->layout, pc);
        host::set_stack_pointer_of(v.regs, host::stack_pointer_of(regs) + exit.sp_add);
        const bool ran = exit.resume == arch::EntryStubExit::Resume::After;
        host::set_pc_of(v.regs, site->address + (ran ? site->insn.length : 0));
        return v;
    }
    if (proc.slots && proc.slots->owns(pc)) {
        std::optional<uint64_t> orig;
        if (t.run == ThreadState::Run::Stepping)
            orig = original_for_slot_pc(pc, t.step_slot, t.step_insn);
        for (auto it = proc.sites.begin(); !orig && it != proc.sites.end(); ++it)
            orig = original_for_slot_pc(pc, it->second.slot, it->second.insn);
        if (orig) host::set_pc_of(v.regs, *orig);
    }
    return v;
}

} // namespace probed
