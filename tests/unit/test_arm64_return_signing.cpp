// The signing stub the engine runs in the tracee for the unwinder, and the
// prologue reading that picks its key (arch/arm64/arm64_return_signing.h).
// Its run on a real CPU is in test_arm64_cpu_agreement.cpp.
#include "arch/arm64/arm64_machine.h"
#include "arch/arm64/arm64_return_signing.h"
#include "arm64_test_words.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <vector>

using namespace probed::arch;
using namespace probed::arch::arm64;
using arm64_test::to_bytes;

namespace {

constexpr uint64_t kStub = 0xaaaab0c01230;

std::optional<PacKey> key_of(std::initializer_list<uint32_t> words) {
    return return_signing_key(to_bytes(words));
}

} // namespace

TEST_CASE("the stub: a loop over a table of pairs, or one value in registers") {
    CHECK(sign_stub_bytes() == to_bytes({
                                   0xa8c14410, // 0x00 ldp x16, x17, [x0], #16
                                   0xb5000062, // 0x04 cbnz x2, 0x10
                                   0xd503211f, // 0x08 pacia1716  x17 = sign(x17, x16)
                                   0x14000002, // 0x0c b 0x14
                                   0xd503215f, // 0x10 pacib1716  the same with the B key
                                   0xb4000080, // 0x14 cbz x0, 0x24
                                   0xf81f8011, // 0x18 stur x17, [x0, #-8]
                                   0xeb01001f, // 0x1c cmp x0, x1
                                   0x54ffff01, // 0x20 b.ne 0x00
                                   0xd4217a00, // 0x24 brk #0xbd0
                               }));
    // No larger than the single-frame stub it replaced: it goes over the
    // executable's entry point, whose dead bytes are few.
    CHECK(sign_stub_bytes().size() == 40);
    CHECK(kBreakpointWord == 0xd4217a00);
    CHECK(sign_stub_done_pc(kStub) == kStub + 0x24);
}

TEST_CASE("the table: {modifier, value} pairs, little-endian, the values read back") {
    const std::vector<PacSignInput> pairs = {
        {0xffffffffe100, 0xaaaab0c00840},
        {0xffffffffe100, 0xffff9e7d0000},
        {0xffffffffe0c0, 0x0000aaaab0c00a14},
    };
    const std::vector<uint8_t> table = sign_table_bytes(pairs);
    REQUIRE(table.size() == 3 * kSignPairBytes);
    CHECK(table == std::vector<uint8_t>{
                       0x00, 0xe1, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, // x16 of the first
                       0x40, 0x08, 0xc0, 0xb0, 0xaa, 0xaa, 0x00, 0x00, // x17 of the first
                       0x00, 0xe1, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, //
                       0x00, 0x00, 0x7d, 0x9e, 0xff, 0xff, 0x00, 0x00, //
                       0xc0, 0xe0, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, //
                       0x14, 0x0a, 0xc0, 0xb0, 0xaa, 0xaa, 0x00, 0x00, //
                   });
    // The stub stores each value signed over it (stur x17, [x0, #-8]).
    std::vector<uint8_t> after = table;
    after[8 + 6] = 0x33;
    after[16 + 8 + 7] = 0x51;
    CHECK(signed_table_values(after) ==
          std::vector<uint64_t>{0x0033aaaab0c00840, 0x5100ffff9e7d0000, 0x0000aaaab0c00a14});
    CHECK(signed_table_values({}).empty());
}

TEST_CASE("the table goes right below the stack pointer, 16-byte aligned") {
    Regs regs{};
    regs.sp = 0xffffffffe100;
    CHECK(sign_table_address(regs, 1) == 0xffffffffe0f0);
    CHECK(sign_table_address(regs, kSignTableMaxPairs) == 0xffffffffe100 - 128 * 16);
    regs.sp = 0xffffffffe108; // not aligned: the table stays below it
    CHECK(sign_table_address(regs, 2) == 0xffffffffe0e0);
}

TEST_CASE("prepare_sign_table: table in x0, its end in x1, the key in x2, no branch type") {
    Regs regs{};
    for (unsigned i = 0; i < 31; ++i) regs.x[i] = 0x1111 * (i + 1);
    regs.pstate = kFlagZ | kBtypeCall << kBtypeShift;
    const Regs before = regs;
    prepare_sign_table(regs, kStub, PacKey::B, 0xffffffffe000, 5);
    CHECK(regs.x[0] == 0xffffffffe000);
    CHECK(regs.x[1] == 0xffffffffe000 + 5 * 16);
    CHECK(regs.x[2] == 1);
    CHECK(regs.pc == kStub);
    // Started by setting the PC: BTYPE cleared, the flags kept.
    CHECK(regs.pstate == kFlagZ);
    for (unsigned i = 3; i < 31; ++i) CHECK(regs.x[i] == before.x[i]);
    prepare_sign_table(regs, kStub, PacKey::A, 0xffffffffe000, 5);
    CHECK(regs.x[2] == 0);
}

TEST_CASE("prepare_sign_one: value in x17, modifier in x16, no table (x0 = 0), past the load") {
    Regs regs{};
    for (unsigned i = 0; i < 31; ++i) regs.x[i] = 0x1111 * (i + 1);
    regs.pstate = kFlagZ | kBtypeCall << kBtypeShift;
    const Regs before = regs;
    prepare_sign_one(regs, kStub, PacKey::A, {0xffffffffe100, 0xaaaab0c00840});
    CHECK(regs.x[17] == 0xaaaab0c00840);
    CHECK(regs.x[16] == 0xffffffffe100);
    CHECK(regs.x[0] == 0);
    CHECK(regs.x[2] == 0);
    CHECK(regs.pc == kStub + 0x04);
    CHECK(regs.pstate == kFlagZ);
    for (unsigned i = 0; i < 31; ++i)
        if (i != 0 && i != 2 && i != 16 && i != 17) CHECK(regs.x[i] == before.x[i]);

    // After the run: the signed value in x17.
    regs.x[17] = 0x0033aaaab0c00840;
    CHECK(signed_one(regs) == 0x0033aaaab0c00840);
}

TEST_CASE("the key comes from the prologue: paciasp, pacibsp, after a landing pad or not") {
    CHECK(key_of({
              0xd503233f, // paciasp
              0xa9bf7bfd, // stp x29, x30, [sp, #-16]!
          }) == PacKey::A);
    CHECK(key_of({
              0xd503237f, // pacibsp
              0xa9bf7bfd, // stp x29, x30, [sp, #-16]!
          }) == PacKey::B);
    CHECK(key_of({
              0xd503245f, // bti c
              0xd503233f, // paciasp
          }) == PacKey::A);
    CHECK(key_of({
              0xd50324df, // bti jc
              0xd503237f, // pacibsp
          }) == PacKey::B);
    // One word only: the first instruction decides alone.
    CHECK(key_of({
              0xd503237f, // pacibsp
          }) == PacKey::B);
}

TEST_CASE("no key where the prologue does not sign with sp at its start") {
    CHECK(key_of({}) == std::nullopt);
    CHECK(key_of({
              0xa9bf7bfd, // stp x29, x30, [sp, #-16]!
              0xd503233f, // paciasp       (not after a landing pad: not the entry)
          }) == std::nullopt);
    CHECK(key_of({
              0xd503245f, // bti c
              0x11000400, // add w0, w0, #1 (GCC schedules a leaf's paciasp later)
          }) == std::nullopt);
    CHECK(key_of({
              0xd503231f, // paciaz        (zero modifier, not sp)
              0xa9bf7bfd, // stp x29, x30, [sp, #-16]!
          }) == std::nullopt);
    CHECK(key_of({
              0xd503211f, // pacia1716     (x17, not x30)
          }) == std::nullopt);
    CHECK(key_of({
              0xd503245f, // bti c         (the only word read)
          }) == std::nullopt);
    CHECK(key_of({
              0xd503249f, // bti j         (not a call's landing pad)
              0xd503233f, // paciasp
          }) == std::nullopt);
}
