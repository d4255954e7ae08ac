#include "arch/arm64/arm64_slot_builder.h"

#include "arch/arm64/arm64_encoding.h"
#include "arch/arm64/arm64_machine.h"
#include "common/remote_ptr.h"

#include <cstdio>
#include <string>

namespace probed::arch::arm64 {

namespace {

std::optional<uint32_t> branch_back(const DecodedInsn& insn, uint64_t slot_addr) {
    return encode_b(slot_addr + kInsnSize, insn.address + insn.length);
}

Result<void> check_slot_insn(const DecodedInsn& insn, uint64_t slot_addr, Strategy want_a,
                             Strategy want_b, const char* kind) {
    if (insn.strategy != want_a && insn.strategy != want_b)
        return make_error(ErrorKind::InvalidArgument, std::string(kind) + " slot requested for a " +
                                                          strategy_name(insn.strategy) +
                                                          " instruction: " + insn.text);
    if (slot_addr % kInsnSize != 0)
        return make_error(ErrorKind::InvalidArgument,
                          "slot at " + hex_address(slot_addr) + " is not 4-aligned");
    return {};
}

} // namespace

bool slot_reachable(const DecodedInsn& insn, uint64_t slot_addr) {
    return insn.no_fallthrough || branch_back(insn, slot_addr).has_value();
}

Strategy slot_strategy(const DecodedInsn& insn, uint64_t slot_addr) {
    if (insn.strategy == Strategy::Boosted && !slot_reachable(insn, slot_addr))
        return Strategy::Stepped;
    return insn.strategy;
}

Result<std::vector<uint8_t>> build_boosted_slot(const DecodedInsn& insn, uint64_t slot_addr) {
    // Only Boosted: a link_fixup (Stepped) instruction would leave the slot's
    // address in x30.
    PROBED_TRY(check_slot_insn(insn, slot_addr, Strategy::Boosted, Strategy::Boosted, "boosted"));
    std::vector<uint8_t> code;
    append_le32(code, insn.word);
    if (!insn.no_fallthrough) {
        const std::optional<uint32_t> b = branch_back(insn, slot_addr);
        if (!b)
            return make_error(ErrorKind::Unsupported,
                              "slot at " + hex_address(slot_addr) + " is beyond +-128 MiB of " +
                                  hex_address(insn.address) + ": no b back; step it instead");
        append_le32(code, *b);
    }
    return code;
}

Result<std::vector<uint8_t>> build_stepped_slot(const DecodedInsn& insn, uint64_t slot_addr) {
    // A boosted instruction may also be stepped (a far slot); simulated and
    // rejected ones may not.
    PROBED_TRY(check_slot_insn(insn, slot_addr, Strategy::Stepped, Strategy::Boosted, "stepped"));
    std::vector<uint8_t> code;
    append_le32(code, insn.word);
    append_le32(code, kBreakpointWord);
    return code;
}

SimResult fixup_after_step(const DecodedInsn& insn, uint64_t slot_addr, Regs& regs) {
    SimResult out;
    // pc still at the slot: the instruction faulted or was interrupted before
    // retiring, so nothing happened that needs fixing.
    if (regs.pc == slot_addr)
        return out;
    if (insn.link_fixup) {
        // pc is already the call target; only the return address is wrong.
        if (regs.x[kLinkReg] == slot_addr + kInsnSize)
            regs.x[kLinkReg] = insn.address + insn.length;
        return out;
    }
    if (regs.pc == slot_addr + kInsnSize)
        regs.pc = insn.address + insn.length;
    return out;
}

} // namespace probed::arch::arm64
