#include "arch/arm64/arm64_machine.h"
#include "arch/arm64/arm64_slot_builder.h"
#include "arm64_test_words.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

using namespace probed;
using namespace probed::arch;
using namespace probed::arch::arm64;
using arm64_test::kAddr;
using arm64_test::must_decode;
using arm64_test::to_bytes;

namespace {

constexpr uint64_t kSlotAbove = 0x413000;
constexpr uint64_t kSlotBelow = 0x400000;
constexpr uint64_t kFarSlot = 0x7f0000001000;

std::vector<uint8_t> must_build(Result<std::vector<uint8_t>> r) {
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
    CHECK(r->size() <= kSlotSize);
    return *r;
}

} // namespace

TEST_CASE("boosted slot: the instruction, then b back to the next one") {
    DecodedInsn d = must_decode(0x8b020020); // add x0, x1, x2
    CHECK(must_build(build_boosted_slot(d, kSlotAbove)) == to_bytes({
                                                               0x8b020020, // add x0, x1, x2
                                                               0x17fffcd1, // b 0x412348
                                                           }));
    CHECK(must_build(build_boosted_slot(d, kSlotBelow)) == to_bytes({
                                                               0x8b020020, // add x0, x1, x2
                                                               0x140048d1, // b 0x412348
                                                           }));
}

TEST_CASE("boosted slots of several instructions copy the word unchanged") {
    for (uint32_t w : {
             0xf94007e0u, // ldr x0, [sp, #8]
             0xd503233fu, // paciasp
             0xd53bd040u, // mrs x0, tpidr_el0
             0xc8a07c41u, // cas x0, x1, [x2]
         }) {
        DecodedInsn d = must_decode(w);
        REQUIRE(d.strategy == Strategy::Boosted);
        CHECK(must_build(build_boosted_slot(d, kSlotAbove)) ==
              to_bytes({w, 0x17fffcd1})); // ...; b 0x412348
    }
}

TEST_CASE("the b back reaches exactly -128 MiB .. +128 MiB - 4") {
    DecodedInsn d = must_decode(0x8b020020); // add x0, x1, x2 at 0x412344
    // b at slot + 4 = 0x8412348 back to 0x412348: -0x8000000, the limit.
    const uint64_t highest = kAddr + (1ull << 27);
    CHECK(slot_reachable(d, highest));
    CHECK(must_build(build_boosted_slot(d, highest)) == to_bytes({
                                                            0x8b020020, // add x0, x1, x2
                                                            0x16000000, // b .-0x8000000
                                                        }));
    CHECK_FALSE(slot_reachable(d, highest + 4));
    CHECK_FALSE(build_boosted_slot(d, highest + 4).ok());

    // Forward: insn at 0x10000000, b at 0x8000008 to 0x10000004 = +0x7fffffc.
    DecodedInsn hi = must_decode(0x8b020020, 0x10000000); // add x0, x1, x2
    CHECK(slot_reachable(hi, 0x8000004));
    CHECK(must_build(build_boosted_slot(hi, 0x8000004)) == to_bytes({
                                                               0x8b020020, // add x0, x1, x2
                                                               0x15ffffff, // b .+0x7fffffc
                                                           }));
    CHECK_FALSE(slot_reachable(hi, 0x8000000));
}

TEST_CASE("a far boosted slot becomes stepped") {
    DecodedInsn d = must_decode(0x8b020020); // add x0, x1, x2
    CHECK(slot_strategy(d, kSlotAbove) == Strategy::Boosted);
    CHECK(slot_strategy(d, kFarSlot) == Strategy::Stepped);
    Result<std::vector<uint8_t>> far = build_boosted_slot(d, kFarSlot);
    REQUIRE_FALSE(far.ok());
    CHECK(far.error().kind == ErrorKind::Unsupported);
    CHECK(must_build(build_stepped_slot(d, kFarSlot)) == to_bytes({
                                                             0x8b020020, // add x0, x1, x2
                                                             0xd4217a00, // brk #0xbd0
                                                         }));
}

TEST_CASE("an instruction that never falls through needs no way back") {
    DecodedInsn d = must_decode(0xd65f0bff); // retaa
    CHECK(slot_reachable(d, kFarSlot));
    CHECK(slot_strategy(d, kFarSlot) == Strategy::Boosted);
    CHECK(must_build(build_boosted_slot(d, kFarSlot)) == to_bytes({0xd65f0bff})); // retaa
}

TEST_CASE("stepped slot ends in our brk") {
    DecodedInsn d = must_decode(0xd73f0822); // blraa x1, x2
    REQUIRE(d.strategy == Strategy::Stepped);
    CHECK(must_build(build_stepped_slot(d, kSlotAbove)) == to_bytes({
                                                               0xd73f0822, // blraa x1, x2
                                                               0xd4217a00, // brk #0xbd0
                                                           }));
    // Its link register would hold the slot: never boosted.
    CHECK_FALSE(build_boosted_slot(d, kSlotAbove).ok());
}

TEST_CASE("simulated and rejected instructions get no slot") {
    DecodedInsn b = must_decode(0x14000010);   // b .+0x40
    DecodedInsn svc = must_decode(0xd4000001); // svc #0
    for (const DecodedInsn& d : {b, svc}) {
        CHECK_FALSE(build_boosted_slot(d, kSlotAbove).ok());
        CHECK_FALSE(build_stepped_slot(d, kSlotAbove).ok());
    }
    DecodedInsn add = must_decode(0x8b020020); // add x0, x1, x2
    CHECK_FALSE(build_boosted_slot(add, kSlotAbove + 2).ok());
}

TEST_CASE("fixup after a step moves the pc back to the original code") {
    DecodedInsn d = must_decode(0x8b020020); // add x0, x1, x2
    Regs regs{};
    regs.pc = kSlotAbove + 4;
    regs.x[30] = 0x1234;
    SimResult r = fixup_after_step(d, kSlotAbove, regs);
    CHECK(r.write_count == 0);
    CHECK(regs.pc == kAddr + 4);
    CHECK(regs.x[30] == 0x1234);
    // Still at the slot: the instruction did not retire (a signal came first).
    regs.pc = kSlotAbove;
    fixup_after_step(d, kSlotAbove, regs);
    CHECK(regs.pc == kSlotAbove);
}

TEST_CASE("fixup after an authenticated call repairs x30, not the pc") {
    DecodedInsn d = must_decode(0xd73f0822); // blraa x1, x2
    Regs regs{};
    regs.pc = 0x400800;          // the call target
    regs.x[30] = kSlotAbove + 4; // what blraa wrote from the slot
    fixup_after_step(d, kSlotAbove, regs);
    CHECK(regs.pc == 0x400800);
    CHECK(regs.x[30] == kAddr + 4);
}

TEST_CASE("machine: our brk, the syscall stub and its registers") {
    CHECK(breakpoint_bytes() == to_bytes({0xd4217a00})); // brk #0xbd0
    CHECK(trampoline_bytes() == to_bytes({0xd4217a00})); // brk #0xbd0
    CHECK(syscall_stub_bytes() == to_bytes({
                                      0xd4000001, // svc #0
                                      0xd4217a00, // brk #0xbd0
                                  }));
    CHECK(is_our_breakpoint(0xd4217a00));
    CHECK_FALSE(is_our_breakpoint(0xd4207d00)); // brk #0x3e8 (gcc's __builtin_trap)
    CHECK_FALSE(is_our_breakpoint(0xd42000a0)); // brk #0x5 (kernel uprobes)
    CHECK(breakpoint_address_from_pc(kAddr) == kAddr);
    CHECK(syscall_stub_done_pc(0x7f0000000000) == 0x7f0000000004);

    Regs regs{};
    for (unsigned i = 0; i < 31; ++i)
        regs.x[i] = 0xdead0000 + i;
    regs.pstate = (kBtypeCall << kBtypeShift) | kFlagZ;
    const uint64_t args[6] = {1, 2, 3, 4, 5, 6};
    prepare_syscall(regs, 0x7f0000000000, 222, args);
    CHECK(regs.x[8] == 222);
    for (int i = 0; i < 6; ++i)
        CHECK(regs.x[i] == args[i]);
    CHECK(regs.x[6] == 0xdead0006);
    CHECK(regs.pc == 0x7f0000000000);
    CHECK(regs.pstate == kFlagZ);
    regs.x[0] = static_cast<uint64_t>(-12);
    CHECK(syscall_result(regs) == -12);
    CHECK(entry_sp_from_return_sp(0x7ffffff0) == 0x7ffffff0);
}

TEST_CASE("register helpers: AAPCS64 arguments, return value, link register") {
    Regs regs{};
    for (unsigned i = 0; i < 31; ++i)
        regs.x[i] = 100 + i;
    for (int i = 0; i < kMaxIntArgs; ++i)
        CHECK(int_arg(regs, i) == 100u + i);
    CHECK(int_arg(regs, kMaxIntArgs) == 0);
    CHECK(return_value(regs) == 100);
    CHECK(return_address(regs) == 130);
    set_return_address(regs, 0x5000);
    CHECK(regs.x[30] == 0x5000);
    CHECK(xreg(regs, 31) == 0);
    set_xreg(regs, 31, 7); // xzr: discarded
    CHECK(xreg(regs, 31) == 0);
}
