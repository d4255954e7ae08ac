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

TEST_CASE("the stub: a run per key, each signing two values and ending on our brk") {
    CHECK(sign_stub_bytes() == to_bytes({
                                   0xd503211f, // 0x00 pacia1716   x17 = sign(value, x16)
                                   0xaa1103e9, // 0x04 mov x9, x17
                                   0xaa0a03f1, // 0x08 mov x17, x10
                                   0xd503211f, // 0x0c pacia1716   x17 = sign(check, x16)
                                   0xd4217a00, // 0x10 brk #0xbd0
                                   0xd503215f, // 0x14 pacib1716   the same with the B key
                                   0xaa1103e9, // 0x18 mov x9, x17
                                   0xaa0a03f1, // 0x1c mov x17, x10
                                   0xd503215f, // 0x20 pacib1716
                                   0xd4217a00, // 0x24 brk #0xbd0
                               }));
    CHECK(kBreakpointWord == 0xd4217a00);
    CHECK(sign_stub_entry(kStub, PacKey::A) == kStub);
    CHECK(sign_stub_done_pc(kStub, PacKey::A) == kStub + 0x10);
    CHECK(sign_stub_entry(kStub, PacKey::B) == kStub + 0x14);
    CHECK(sign_stub_done_pc(kStub, PacKey::B) == kStub + 0x24);
}

TEST_CASE("prepare_sign: value in x17, check in x10, modifier in x16, no branch type") {
    Regs regs{};
    for (unsigned i = 0; i < 31; ++i) regs.x[i] = 0x1111 * (i + 1);
    regs.pstate = kFlagZ | kBtypeCall << kBtypeShift;
    const Regs before = regs;
    prepare_sign(regs, kStub, PacKey::B, 0xffffffffe100, 0xaaaab0c00840, 0xffff9e7d0000);
    CHECK(regs.x[17] == 0xaaaab0c00840);
    CHECK(regs.x[16] == 0xffffffffe100);
    CHECK(regs.x[10] == 0xffff9e7d0000);
    CHECK(regs.pc == kStub + 0x14);
    // Started by setting the PC: BTYPE cleared, the flags kept.
    CHECK(regs.pstate == kFlagZ);
    for (unsigned i = 0; i < 31; ++i)
        if (i != 10 && i != 16 && i != 17) CHECK(regs.x[i] == before.x[i]);

    // After the run: the signed value in x9, the signed check in x17.
    regs.x[9] = 0x0033aaaab0c00840;
    regs.x[17] = 0x0051ffff9e7d0000;
    const SignedPair pair = sign_result(regs);
    CHECK(pair.value == 0x0033aaaab0c00840);
    CHECK(pair.check == 0x0051ffff9e7d0000);
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
