#include "arch/x86_64/x86_slot_builder.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <span>
#include <vector>

using namespace probed;
using namespace probed::arch;
using namespace probed::arch::x86;

namespace {

constexpr uint64_t kAddr = 0x401000;
constexpr uint64_t kNearSlot = 0x402000;
constexpr uint64_t kFarSlot = 0x7f0000001000; // far beyond +-2 GiB of kAddr

template <size_t N> DecodedInsn must_decode(const uint8_t (&code)[N]) {
    Result<DecodedInsn> r = decode(std::span<const uint8_t>(code, N), kAddr);
    REQUIRE(r.ok());
    return *r;
}

std::vector<uint8_t> must_build(Result<std::vector<uint8_t>> r) {
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
    CHECK(r->size() <= kSlotSize);
    return *r;
}

const uint8_t kLoad[] = {
    0x48, 0x8b, 0x05, 0x10, 0x00, 0x00, 0x00, // mov rax, [rip+0x10]  (reads 0x401017)
};

} // namespace

TEST_CASE("boosted RIP-relative load in a near slot") {
    DecodedInsn d = must_decode(kLoad);
    CHECK(slot_reachable(d, kNearSlot));
    const std::vector<uint8_t> want = {
        0x48, 0x8b, 0x05, 0x10, 0xf0, 0xff, 0xff, // mov rax, [rip-0xff0]  (still 0x401017)
        0xe9, 0xfb, 0xef, 0xff, 0xff,             // jmp 0x401007
    };
    CHECK(must_build(build_boosted_slot(d, kNearSlot)) == want);
}

TEST_CASE("boosted instruction in a far slot jumps back through an absolute address") {
    const uint8_t xor_eax[] = {
        0x31, 0xc0, // xor eax, eax
    };
    DecodedInsn d = must_decode(xor_eax);
    CHECK(slot_reachable(d, kFarSlot));
    const std::vector<uint8_t> want = {
        0x31, 0xc0,                                     // xor eax, eax
        0xff, 0x25, 0x00, 0x00, 0x00, 0x00,             // jmp [rip+0]
        0x02, 0x10, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, // .quad 0x401002
    };
    CHECK(must_build(build_boosted_slot(d, kFarSlot)) == want);
}

TEST_CASE("the longest boosted slot still fits") {
    const uint8_t store[] = {
        0x64, 0x48, 0xc7, 0x84, 0x24,   // mov qword fs:[rsp+...], ...
        0x00, 0x01, 0x00, 0x00,         // ... disp32 0x100 ...
        0x2a, 0x00, 0x00, 0x00,         // ... imm32 0x2a
    };
    DecodedInsn d = must_decode(store);
    REQUIRE(d.strategy == Strategy::Boosted);
    CHECK(must_build(build_boosted_slot(d, kFarSlot)).size() == 13 + 14);
}

TEST_CASE("RIP-relative instruction whose slot is out of disp32 range") {
    DecodedInsn d = must_decode(kLoad);
    CHECK_FALSE(slot_reachable(d, kFarSlot));
    Result<std::vector<uint8_t>> r = build_boosted_slot(d, kFarSlot);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::Unsupported);
    CHECK_FALSE(build_stepped_slot(d, kFarSlot).ok());
}

TEST_CASE("disp32 reach is exact at the negative limit") {
    DecodedInsn d = must_decode(kLoad);
    // slot + 7 - 2^31 == 0x401017: the new disp is exactly INT32_MIN.
    const uint64_t last = 0x401017 + 0x80000000ull - 7;
    CHECK(slot_reachable(d, last));
    const std::vector<uint8_t> code = must_build(build_boosted_slot(d, last));
    CHECK(code[3] == 0x00);
    CHECK(code[4] == 0x00);
    CHECK(code[5] == 0x00);
    CHECK(code[6] == 0x80);
    CHECK_FALSE(slot_reachable(d, last + 1));
    CHECK_FALSE(build_boosted_slot(d, last + 1).ok());
}

TEST_CASE("no jump back after ret or jmp r/m") {
    const uint8_t ret[] = {
        0xc3, // ret
    };
    const uint8_t jmp_rax[] = {
        0xff, 0xe0, // jmp rax
    };
    CHECK(must_build(build_boosted_slot(must_decode(ret), kFarSlot)) ==
          std::vector<uint8_t>{0xc3});
    CHECK(must_build(build_boosted_slot(must_decode(jmp_rax), kNearSlot)) ==
          std::vector<uint8_t>{0xff, 0xe0});
}

TEST_CASE("slots are refused for instructions of the wrong strategy") {
    const uint8_t push_rbp[] = {
        0x55, // push rbp (simulated)
    };
    const uint8_t call_rax[] = {
        0xff, 0xd0, // call rax (stepped)
    };
    const uint8_t int3[] = {
        0xcc, // int3 (rejected)
    };
    CHECK_FALSE(build_boosted_slot(must_decode(push_rbp), kNearSlot).ok());
    CHECK_FALSE(build_stepped_slot(must_decode(push_rbp), kNearSlot).ok());
    CHECK_FALSE(build_boosted_slot(must_decode(call_rax), kNearSlot).ok());
    CHECK_FALSE(build_boosted_slot(must_decode(int3), kNearSlot).ok());
    CHECK_FALSE(build_stepped_slot(must_decode(int3), kNearSlot).ok());
}

TEST_CASE("stepped indirect call through memory is re-targeted and guarded") {
    const uint8_t call_mem[] = {
        0xff, 0x15, 0x00, 0x10, 0x00, 0x00, // call [rip+0x1000]  (reads 0x402006)
    };
    DecodedInsn d = must_decode(call_mem);
    REQUIRE(d.strategy == Strategy::Stepped);
    const uint64_t slot = 0x400000;
    const std::vector<uint8_t> want = {
        0xff, 0x15, 0x00, 0x20, 0x00, 0x00, // call [rip+0x2000]  (still 0x402006)
        0xcc,                               // int3
    };
    CHECK(must_build(build_stepped_slot(d, slot)) == want);
}

TEST_CASE("a boosted instruction may also be stepped") {
    DecodedInsn d = must_decode(kLoad);
    const std::vector<uint8_t> want = {
        0x48, 0x8b, 0x05, 0x10, 0xf0, 0xff, 0xff, // mov rax, [rip-0xff0]
        0xcc,                                     // int3
    };
    CHECK(must_build(build_stepped_slot(d, kNearSlot)) == want);
}

TEST_CASE("fixup_after_step moves rip back after a fall-through") {
    DecodedInsn d = must_decode(kLoad);
    Regs regs{};
    regs.rip = kNearSlot + 7;
    regs.rsp = 0x7fffffffe000;
    SimResult r = fixup_after_step(d, kNearSlot, regs);
    CHECK_FALSE(r.write.has_value());
    CHECK(regs.rip == kAddr + 7);
    CHECK(regs.rsp == 0x7fffffffe000);
}

TEST_CASE("fixup_after_step leaves a branch target alone") {
    const uint8_t jmp_rax[] = {
        0xff, 0xe0, // jmp rax
    };
    DecodedInsn d = must_decode(jmp_rax);
    Regs regs{};
    regs.rip = 0x500000;
    SimResult r = fixup_after_step(d, kNearSlot, regs);
    CHECK_FALSE(r.write.has_value());
    CHECK(regs.rip == 0x500000);
}

TEST_CASE("a dedicated return trampoline traps, then jumps to its target") {
    // Near: int3; jmp rel32.
    const uint64_t at = 0x401000;
    auto near = build_return_trampoline(at, 0x402000);
    const std::vector<uint8_t> want_near = {
        0xcc,                         // int3
        0xe9, 0xfa, 0x0f, 0x00, 0x00, // jmp 0x402000 (from at+1, 5 bytes: rel 0xffa)
    };
    CHECK(near == want_near);
    // Far: int3; jmp [rip+0]; the 8-byte target.
    auto far = build_return_trampoline(0x7f0000001000, 0x401234);
    const std::vector<uint8_t> want_far = {
        0xcc,                               // int3
        0xff, 0x25, 0x00, 0x00, 0x00, 0x00, // jmp qword ptr [rip + 0]
        0x34, 0x12, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, // .quad 0x401234
    };
    CHECK(far == want_far);
    CHECK(far.size() <= kSlotSize);
}

TEST_CASE("fixup_after_step rewrites an indirect call's return address") {
    const uint8_t call_mem[] = {
        0xff, 0x15, 0x00, 0x10, 0x00, 0x00, // call [rip+0x1000]
    };
    DecodedInsn d = must_decode(call_mem);
    Regs regs{};
    regs.rip = 0x7f1234560000; // the callee
    regs.rsp = 0x7fffffffe000 - 8;
    SimResult r = fixup_after_step(d, kNearSlot, regs);
    REQUIRE(r.write.has_value());
    CHECK(r.write->address == 0x7fffffffe000 - 8);
    CHECK(r.write->value == kAddr + 6);
    CHECK(regs.rip == 0x7f1234560000);
    CHECK(regs.rsp == 0x7fffffffe000 - 8);

    // The call faulted before retiring: nothing was pushed, so nothing to patch.
    regs.rip = kNearSlot;
    regs.rsp = 0x7fffffffe000;
    r = fixup_after_step(d, kNearSlot, regs);
    CHECK_FALSE(r.write.has_value());
    CHECK(regs.rip == kNearSlot);
}
