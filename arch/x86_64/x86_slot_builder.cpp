#include "arch/x86_64/x86_slot_builder.h"

#include "arch/x86_64/x86_machine.h"

#include <cstdio>
#include <cstring>
#include <iterator>
#include <string>

namespace probed::arch::x86 {

namespace {

constexpr size_t kJmpRel32Size = 5;

bool fits_int32(uint64_t v) {
    const auto s = static_cast<int64_t>(v);
    return s >= INT32_MIN && s <= INT32_MAX;
}

std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
    return buf;
}

// The displacement that makes the copy at `slot_addr` address the same byte as
// the original. Computed modulo 2^64 like the CPU does, so the only question
// is whether the result is representable as a sign-extended disp32.
uint64_t retargeted_disp(const DecodedInsn& insn, int32_t old_disp, uint64_t slot_addr) {
    const uint64_t target = insn.address + insn.length + static_cast<uint64_t>(int64_t{old_disp});
    return target - (slot_addr + insn.length);
}

int32_t read_disp(const DecodedInsn& insn) {
    int32_t disp = 0;
    std::memcpy(&disp, insn.bytes.data() + insn.disp_offset, sizeof disp);
    return disp;
}

Result<void> check_insn(const DecodedInsn& insn) {
    if (insn.length == 0 || insn.length > insn.bytes.size())
        return make_error(ErrorKind::InvalidArgument, "instruction has no valid length");
    if (insn.disp_offset != 0 && insn.disp_offset + 4u > insn.length)
        return make_error(ErrorKind::InvalidArgument, "disp32 offset lies outside the instruction");
    return {};
}

// The instruction bytes, with the RIP-relative displacement re-targeted.
Result<std::vector<uint8_t>> copy_insn(const DecodedInsn& insn, uint64_t slot_addr) {
    PROBED_TRY(check_insn(insn));
    std::vector<uint8_t> code(insn.bytes.begin(), insn.bytes.begin() + insn.length);
    if (insn.disp_offset == 0) return code;

    const uint64_t disp = retargeted_disp(insn, read_disp(insn), slot_addr);
    if (!fits_int32(disp))
        return make_error(ErrorKind::Unsupported, "slot at " + hex(slot_addr) +
                                                      " is out of disp32 range of the operand of '" +
                                                      insn.text + "' at " + hex(insn.address));
    const auto new_disp = static_cast<int32_t>(static_cast<int64_t>(disp));
    std::memcpy(code.data() + insn.disp_offset, &new_disp, sizeof new_disp);
    return code;
}

// Appends a jump from `from` (the address the jump will live at) to `to`.
void append_jump(std::vector<uint8_t>& code, uint64_t from, uint64_t to) {
    const uint64_t rel = to - (from + kJmpRel32Size);
    if (fits_int32(rel)) {
        const auto rel32 = static_cast<int32_t>(static_cast<int64_t>(rel));
        code.push_back(0xe9);
        const size_t at = code.size();
        code.resize(at + sizeof rel32);
        std::memcpy(code.data() + at, &rel32, sizeof rel32);
        return;
    }
    // jmp [rip+0] reads its target from the 8 bytes right after it, which
    // reaches anywhere and clobbers no register.
    const uint8_t jmp_indirect[] = {0xff, 0x25, 0x00, 0x00, 0x00, 0x00};
    code.insert(code.end(), std::begin(jmp_indirect), std::end(jmp_indirect));
    const size_t at = code.size();
    code.resize(at + sizeof to);
    std::memcpy(code.data() + at, &to, sizeof to);
}

} // namespace

std::vector<uint8_t> build_return_trampoline(uint64_t at, uint64_t target) {
    std::vector<uint8_t> code = breakpoint_bytes();
    append_jump(code, at + code.size(), target);
    return code;
}

bool slot_reachable(const DecodedInsn& insn, uint64_t slot_addr) {
    if (!check_insn(insn)) return false;
    if (insn.disp_offset == 0) return true;
    return fits_int32(retargeted_disp(insn, read_disp(insn), slot_addr));
}

Result<std::vector<uint8_t>> build_boosted_slot(const DecodedInsn& insn, uint64_t slot_addr) {
    // Anything else here is a caller bug: a simulated branch copied verbatim
    // would jump relative to the slot, and a call r/m would push the slot's
    // address as return address.
    if (insn.strategy != Strategy::Boosted)
        return make_error(ErrorKind::InvalidArgument,
                          std::string("boosted slot requested for a ") +
                              strategy_name(insn.strategy) + " instruction: " + insn.text);
    Result<std::vector<uint8_t>> code = copy_insn(insn, slot_addr);
    if (!code) return code;
    if (!insn.no_fallthrough)
        append_jump(*code, slot_addr + insn.length, insn.address + insn.length);
    if (code->size() > kSlotSize)
        return make_error(ErrorKind::Internal, "boosted slot exceeds kSlotSize");
    return code;
}

Result<std::vector<uint8_t>> build_stepped_slot(const DecodedInsn& insn, uint64_t slot_addr) {
    // A boosted instruction may also be stepped (it is position-independent
    // once re-targeted); simulated and rejected ones may not.
    if (insn.strategy != Strategy::Stepped && insn.strategy != Strategy::Boosted)
        return make_error(ErrorKind::InvalidArgument,
                          std::string("stepped slot requested for a ") +
                              strategy_name(insn.strategy) + " instruction: " + insn.text);
    Result<std::vector<uint8_t>> code = copy_insn(insn, slot_addr);
    if (!code) return code;
    // Guard: if the step somehow runs on, the tracee traps instead of
    // executing whatever follows in the slot page.
    code->push_back(0xcc);
    return code;
}

SimResult fixup_after_step(const DecodedInsn& insn, uint64_t slot_addr, Regs& regs) {
    SimResult out;
    // rip still at the slot start: the instruction faulted or was interrupted
    // before retiring, so nothing happened that needs fixing.
    if (regs.rip == slot_addr) return out;
    if (insn.indirect_call) {
        // rip is already the call target; only the return address is wrong.
        out.write = MemoryWrite{regs.rsp, insn.address + insn.length};
        return out;
    }
    if (regs.rip == slot_addr + insn.length) regs.rip = insn.address + insn.length;
    return out;
}

} // namespace probed::arch::x86
