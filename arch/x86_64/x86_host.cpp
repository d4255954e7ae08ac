#include "arch/x86_64/x86_host.h"

#include "arch/x86_64/x86_simulator.h"
#include "common/remote_ptr.h"

namespace probed::arch::x86 {

namespace {

SimOutcome outcome_of(const SimResult& r) {
    SimOutcome out;
    if (r.write) out.add({r.write->address, r.write->value});
    return out;
}

} // namespace

Result<DecodedInsn> decode_site(std::span<const uint8_t> code, uint64_t address,
                                std::span<const uint8_t>) {
    return decode(code, address);
}

Result<uint64_t> boundary_at_or_after(std::span<const uint8_t> code, uint64_t start,
                                      uint64_t offset) {
    uint64_t pos = 0;
    while (pos < offset) {
        if (pos >= code.size())
            return make_error(ErrorKind::InvalidArgument, "at +" + hex_address(pos));
        auto insn = decode(code.subspan(pos), start + pos);
        if (!insn)
            return make_error(ErrorKind::InvalidArgument, "at +" + hex_address(pos));
        pos += insn->length;
    }
    return pos;
}

Result<Strategy> strategy_in_slot(const DecodedInsn& insn, uint64_t slot) {
    if (!slot_reachable(insn, slot))
        return make_error(ErrorKind::Unsupported,
                          "no slot within reach of the RIP-relative operand of '" + insn.text + "'");
    return insn.strategy;
}

Result<std::vector<uint8_t>> build_slot(const DecodedInsn& insn, uint64_t slot) {
    return insn.strategy == Strategy::Stepped ? build_stepped_slot(insn, slot)
                                              : build_boosted_slot(insn, slot);
}

SimOutcome simulate_insn(const DecodedInsn& insn, Regs& regs, const WordReader&) {
    return outcome_of(simulate(insn, regs));
}

SimOutcome fixup_step(const DecodedInsn& insn, uint64_t slot, Regs& regs) {
    return outcome_of(fixup_after_step(insn, slot, regs));
}

Result<EntryStubExit> apply_entry_stub_exit(const EntryStubLayout& layout, Regs& regs,
                                            const WordReader& read) {
    EntryStubExit e = leave_entry_stub(layout, regs.rip);
    if (e.scratch_at >= 0) {
        auto rax = read(regs.rsp + static_cast<uint64_t>(e.scratch_at), 8);
        if (!rax) return std::move(rax).error();
        regs.rax = *rax;
    }
    if (e.flags_at >= 0) {
        auto flags = read(regs.rsp + static_cast<uint64_t>(e.flags_at), 8);
        if (!flags) return std::move(flags).error();
        regs.eflags = *flags;
    }
    regs.rsp += e.sp_add;
    return e;
}

Result<uint64_t> return_address_at_entry(const Regs& regs, const WordReader& read) {
    return read(return_address_slot(regs), 8);
}

Result<ReturnHijack> hijack_return(Regs& regs, const TrampolineFor& trampoline_for,
                                   const WordReader& read) {
    uint64_t slot = return_address_slot(regs);
    auto ret = read(slot, 8);
    if (!ret) return std::move(ret).error();
    ReturnHijack h;
    h.true_return = *ret;
    h.entry_sp = slot;
    h.store = MemoryStore{slot, trampoline_for(*ret)};
    return h;
}

} // namespace probed::arch::x86
