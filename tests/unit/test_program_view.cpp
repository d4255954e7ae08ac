#include "daemon/program_view.h"

#include "arch/x86_64/x86_decoder.h"
#include "arch/x86_64/x86_machine.h"
#include "arch/x86_64/x86_slot_builder.h"

#include <doctest/doctest.h>

#include <csignal>

using namespace probed;
namespace x86 = probed::arch::x86;

namespace {

constexpr uint64_t kPage = 0x7f0000000000;
constexpr uint64_t kTrampoline = kPage;
constexpr uint64_t kSite = 0x401000;
constexpr uint64_t kSlot = kPage + x86::kSlotSize;

// A process with the trampoline and one boosted site: `mov rax, [rip+0x10]`
// (7 bytes) displaced into the page's second slot.
ProcessState process_with_site() {
    ProcessState p;
    p.slots = std::make_unique<SlotAllocator>(4096, x86::kSlotSize);
    p.slots->add_page(kPage);
    p.trampolines.set_generic(kTrampoline);
    const uint8_t code[] = {0x48, 0x8b, 0x05, 0x10, 0x00, 0x00, 0x00};
    auto insn = x86::decode(code, kSite);
    REQUIRE(insn.ok());
    ProbeSite site;
    site.address = kSite;
    site.insn = *insn;
    site.slot = kSlot;
    p.sites.emplace(kSite, site);
    return p;
}

x86::Regs at(uint64_t pc, uint64_t sp = 0x7ffd0000) {
    x86::Regs r{};
    r.rip = pc;
    r.rsp = sp;
    return r;
}

} // namespace

TEST_CASE("a thread's own PC is kept") {
    ProcessState p = process_with_site();
    ThreadState t;
    auto v = program_view(p, t, at(0x401234), false);
    CHECK(v.regs.rip == 0x401234);
    CHECK_FALSE(v.pc_from_trampoline);
    CHECK(v.pending.pending().empty());
}

TEST_CASE("in a slot: the displaced instruction, or the one after it once it ran") {
    ProcessState p = process_with_site();
    ThreadState t;
    CHECK(program_view(p, t, at(kSlot), false).regs.rip == kSite);
    CHECK(program_view(p, t, at(kSlot + 7), false).regs.rip == kSite + 7);
}

TEST_CASE("on the trampoline: the true return address of the frame whose slot ret popped") {
    ProcessState p = process_with_site();
    ThreadState t;
    ShadowFrame f;
    f.return_address = 0x401500;
    f.entry_sp = 0x7ffd0000;
    t.shadow.push(f);
    uint64_t sp_after_ret = 0x7ffd0008;
    auto landed = program_view(p, t, at(kTrampoline, sp_after_ret), false);
    CHECK(landed.regs.rip == 0x401500);
    CHECK(landed.pc_from_trampoline);
    auto trapped = program_view(p, t, at(kTrampoline + 1, sp_after_ret), true);
    CHECK(trapped.regs.rip == 0x401500);
    CHECK(trapped.pc_from_trampoline);
}

TEST_CASE("on a dedicated trampoline: where it leads, before and after its return was handled") {
    ProcessState p = process_with_site();
    constexpr uint64_t kDedicated = kPage + 2 * x86::kSlotSize;
    p.trampolines.add(0x401500, kDedicated);
    ThreadState t;
    ShadowFrame f;
    f.return_address = 0x401500;
    f.entry_sp = 0x7ffd0000;
    f.trampoline = kDedicated;
    t.shadow.push(f);
    uint64_t sp_after_ret = 0x7ffd0008;
    // `ret` landed; its trap is pending; the return was reported and the
    // frame popped, the thread interrupted before the trampoline's jump.
    for (auto [pc, trap] : {std::pair{kDedicated, false}, {kDedicated + 1, true}}) {
        auto v = program_view(p, t, at(pc, sp_after_ret), trap);
        CHECK(v.regs.rip == 0x401500);
        CHECK(v.pc_from_trampoline);
    }
    t.shadow.take_all();
    auto after = program_view(p, t, at(kDedicated + 1, sp_after_ret), false);
    CHECK(after.regs.rip == 0x401500);
    CHECK(after.pc_from_trampoline);
}

TEST_CASE("in an entry stub: the call's first instruction with the stub's pushes undone") {
    ProcessState p = process_with_site();
    ProbeSite::Stub stub;
    stub.layout.start = kPage + 4 * x86::kSlotSize;
    stub.layout.displaced = stub.layout.start + 30;
    stub.layout.after_displaced = stub.layout.displaced + 7;
    stub.layout.miss = stub.layout.after_displaced + 5;
    stub.layout.miss_trap = stub.layout.miss + 2;
    stub.layout.end = stub.layout.miss + 16;
    p.sites.at(kSite).stub = stub;
    ThreadState t;
    const uint64_t sp = 0x7ffd0000;
    auto pushed = program_view(p, t, at(stub.layout.start + 2, sp - 16), false);
    CHECK(pushed.regs.rip == kSite);
    CHECK(pushed.regs.rsp == sp);
    auto stored = program_view(p, t, at(stub.layout.start + 29, sp - 8), false);
    CHECK(stored.regs.rip == kSite);
    CHECK(stored.regs.rsp == sp);
    auto ran = program_view(p, t, at(stub.layout.after_displaced, sp), false);
    CHECK(ran.regs.rip == kSite + 7);
    CHECK(ran.regs.rsp == sp);
    // A stub of a site dropped meanwhile is still ours.
    p.retired_stubs.push_back(p.sites.at(kSite));
    p.sites.at(kSite).stub.reset();
    CHECK(program_view(p, t, at(stub.layout.miss_trap + 1, sp), true).regs.rip == kSite);
}

TEST_CASE("an unhandled trap on a probe site: the site's address") {
    ProcessState p = process_with_site();
    ThreadState t;
    CHECK(program_view(p, t, at(kSite + 1), true).regs.rip == kSite);
    // Without a pending trap the same PC is just an instruction boundary
    // (e.g. after a simulated one-byte push).
    CHECK(program_view(p, t, at(kSite + 1), false).regs.rip == kSite + 1);
}

TEST_CASE("a finished step whose fixup is pending: the fixed-up registers") {
    ProcessState p = process_with_site();
    ThreadState t;
    t.run = ThreadState::Run::Stepping;
    t.step_slot = kSlot;
    t.step_insn = p.sites.at(kSite).insn;
    auto v = program_view(p, t, at(kSlot + 7), true);
    CHECK(v.regs.rip == kSite + 7);
}
