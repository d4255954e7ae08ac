#include "arch/arm64/arm64_host.h"

#include "arch/arm64/arm64_simulator.h"

namespace probed::arch::arm64 {

namespace {

SimOutcome outcome_of(const SimResult& r) {
    SimOutcome out;
    for (const MemoryWrite& w : r.pending_writes()) out.add({w.address, w.value});
    out.fault_signal = r.fault_signal;
    out.fault_address = r.fault_address;
    return out;
}

} // namespace

Result<DecodedInsn> decode_site(std::span<const uint8_t> code, uint64_t address,
                                std::span<const uint8_t> preceding) {
    return decode(code, address, preceding);
}

Result<uint64_t> boundary_at_or_after(std::span<const uint8_t>, uint64_t, uint64_t offset) {
    return (offset + kInsnSize - 1) / kInsnSize * kInsnSize;
}

Result<Strategy> strategy_in_slot(const DecodedInsn& insn, uint64_t slot) {
    return slot_strategy(insn, slot);
}

Result<std::vector<uint8_t>> build_slot(const DecodedInsn& insn, uint64_t slot) {
    return insn.strategy == Strategy::Stepped ? build_stepped_slot(insn, slot)
                                              : build_boosted_slot(insn, slot);
}

SimOutcome simulate_insn(const DecodedInsn& insn, Regs& regs, const WordReader& read) {
    return outcome_of(simulate(insn, regs, read));
}

SimOutcome fixup_step(const DecodedInsn& insn, uint64_t slot, Regs& regs) {
    return outcome_of(fixup_after_step(insn, slot, regs));
}

Result<ReturnHijack> hijack_return(Regs& regs, const TrampolineFor& trampoline_for,
                                   const WordReader&) {
    ReturnHijack h;
    h.true_return = return_address(regs);
    h.entry_sp = stack_pointer(regs);
    set_return_address(regs, trampoline_for(h.true_return));
    return h;
}

} // namespace probed::arch::arm64
