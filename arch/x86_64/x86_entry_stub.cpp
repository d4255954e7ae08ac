#include "arch/x86_64/x86_entry_stub.h"

#include "arch/x86_64/x86_slot_builder.h"

#include <cstring>

namespace probed::arch::x86 {

namespace {

// Offsets of the fixed part (see build_entry_stub).
constexpr uint64_t kAfterPushRax = 1;
constexpr uint64_t kAfterPushFlags = 2;
constexpr uint64_t kStoreDone = 28; // at the popfq after `mov [rsp+16], rax`
constexpr uint64_t kFlagsPopped = 29;
constexpr uint64_t kDisplaced = 30;
constexpr size_t kCellAlign = 8;

void put_disp32(std::vector<uint8_t>& code, size_t at, int64_t disp) {
    const auto d = static_cast<int32_t>(disp);
    std::memcpy(code.data() + at, &d, sizeof d);
}

} // namespace

bool entry_stub_can_run(const DecodedInsn& insn) {
    if (insn.strategy == Strategy::Boosted) return !insn.no_fallthrough;
    if (insn.strategy != Strategy::Simulate) return false;
    switch (insn.sim) {
    case SimOp::Nop:
    case SimOp::PushReg:
    case SimOp::MovRbpRsp:
    case SimOp::AddRsp:
        return insn.disp_offset == 0;
    default:
        return false; // relative branches would need re-targeting
    }
}

Result<EntryStub> build_entry_stub(const DecodedInsn& insn, uint64_t start, uint64_t ret,
                                   uint64_t trampoline) {
    if (!entry_stub_can_run(insn))
        return make_error(ErrorKind::Unsupported, "'" + insn.text + "' cannot run in an entry stub");
    // The displaced instruction and its jump back, as a boosted slot there.
    DecodedInsn displaced = insn;
    displaced.strategy = Strategy::Boosted;
    auto tail = build_boosted_slot(displaced, start + kDisplaced);
    if (!tail) return std::move(tail).error();

    EntryStub stub;
    std::vector<uint8_t>& c = stub.code;
    c = {
        0x50,                               // +0  push rax
        0x9c,                               // +1  pushfq
        0x48, 0x8b, 0x05, 0, 0, 0, 0,       // +2  mov rax, [rip + cell_ret]
        0x48, 0x3b, 0x44, 0x24, 0x10,       // +9  cmp rax, [rsp + 16]
        0x75, 0,                            // +14 jne miss
        0x48, 0x8b, 0x05, 0, 0, 0, 0,       // +16 mov rax, [rip + cell_trampoline]
        0x48, 0x89, 0x44, 0x24, 0x10,       // +23 mov [rsp + 16], rax
        0x9d,                               // +28 popfq
        0x58,                               // +29 pop rax
    };
    c.insert(c.end(), tail->begin(), tail->end()); // +30 displaced; jmp back
    const size_t miss = c.size();
    c.insert(c.end(), {
                          0x9d, // miss: popfq
                          0x58, //       pop rax
                          0xcc, //       int3
                      });
    while (c.size() % kCellAlign) c.push_back(0xcc);
    const size_t cell_ret = c.size();
    const size_t cell_trampoline = cell_ret + 8;
    c.resize(cell_trampoline + 8);
    std::memcpy(c.data() + cell_ret, &ret, 8);
    std::memcpy(c.data() + cell_trampoline, &trampoline, 8);
    if (c.size() > kEntryStubSize)
        return make_error(ErrorKind::Internal, "entry stub exceeds kEntryStubSize");
    put_disp32(c, 5, static_cast<int64_t>(cell_ret) - 9);
    c[15] = static_cast<uint8_t>(miss - 16);
    put_disp32(c, 19, static_cast<int64_t>(cell_trampoline) - 23);

    stub.layout.start = start;
    stub.layout.displaced = start + kDisplaced;
    stub.layout.after_displaced = start + kDisplaced + insn.length;
    stub.layout.miss = start + miss;
    stub.layout.miss_trap = start + miss + 2;
    stub.layout.end = start + c.size();
    return stub;
}

EntryStubExit leave_entry_stub(const EntryStubLayout& l, uint64_t pc) {
    using Resume = EntryStubExit::Resume;
    EntryStubExit e;
    const uint64_t off = pc - l.start;
    if (pc >= l.miss) {
        // Restoring before the miss trap: undo what is left, start over.
        if (pc == l.miss) e = {Resume::Start, 8, 0, 16};
        else if (pc == l.miss + 1) e = {Resume::Start, 0, -1, 8};
        return e;
    }
    if (pc >= l.after_displaced) return {Resume::After, -1, -1, 0};
    if (pc >= l.displaced) return {Resume::Displaced, -1, -1, 0};
    if (off == kFlagsPopped) return {Resume::Displaced, 0, -1, 8};
    if (off == kStoreDone) return {Resume::Displaced, 8, 0, 16};
    if (off >= kAfterPushFlags) return {Resume::Start, 8, 0, 16};
    if (off == kAfterPushRax) return {Resume::Start, -1, -1, 8};
    return e;
}

} // namespace probed::arch::x86
