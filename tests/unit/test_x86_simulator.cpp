#include "arch/x86_64/x86_simulator.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <span>

using namespace probed;
using namespace probed::arch;
using namespace probed::arch::x86;

namespace {

constexpr uint64_t kAddr = 0x401000;
constexpr uint64_t kStack = 0x7fffffffe3d0;
constexpr uint64_t kFlagAF = 1u << 4;
constexpr uint64_t kArith = kFlagCF | kFlagPF | kFlagAF | kFlagZF | kFlagSF | kFlagOF;
// Reserved bit 1, IF and DF: must survive every simulated instruction.
constexpr uint64_t kOtherFlags = 0x602;

template <size_t N> DecodedInsn must_decode(const uint8_t (&code)[N]) {
    Result<DecodedInsn> r = decode(std::span<const uint8_t>(code, N), kAddr);
    REQUIRE(r.ok());
    REQUIRE(r->strategy == Strategy::Simulate);
    return *r;
}

// Distinct values in every register so a stray write shows up.
Regs sample_regs() {
    Regs r{};
    uint64_t v = 0x1111000000000000;
    for (uint64_t* p : {&r.r15, &r.r14, &r.r13, &r.r12, &r.rbp, &r.rbx, &r.r11, &r.r10, &r.r9,
                        &r.r8, &r.rax, &r.rcx, &r.rdx, &r.rsi, &r.rdi}) {
        *p = v;
        v += 0x0000111100000000;
    }
    r.rip = kAddr;
    r.rsp = kStack;
    r.eflags = kOtherFlags;
    return r;
}

bool same_regs(const Regs& a, const Regs& b) {
    return a.r15 == b.r15 && a.r14 == b.r14 && a.r13 == b.r13 && a.r12 == b.r12 &&
           a.rbp == b.rbp && a.rbx == b.rbx && a.r11 == b.r11 && a.r10 == b.r10 && a.r9 == b.r9 &&
           a.r8 == b.r8 && a.rax == b.rax && a.rcx == b.rcx && a.rdx == b.rdx && a.rsi == b.rsi &&
           a.rdi == b.rdi && a.rip == b.rip && a.eflags == b.eflags && a.rsp == b.rsp;
}

} // namespace

TEST_CASE("nop and endbr64 only advance rip") {
    const uint8_t nop5[] = {
        0x0f, 0x1f, 0x44, 0x00, 0x00, // nop dword ptr [rax+rax]
    };
    const uint8_t endbr[] = {
        0xf3, 0x0f, 0x1e, 0xfa, // endbr64
    };
    for (const DecodedInsn& d : {must_decode(nop5), must_decode(endbr)}) {
        Regs regs = sample_regs();
        Regs want = regs;
        want.rip = kAddr + d.length;
        SimResult r = simulate(d, regs);
        CHECK_FALSE(r.write.has_value());
        CHECK(same_regs(regs, want));
    }
}

TEST_CASE("push r64 stores the register below rsp") {
    const uint8_t push_rbp[] = {
        0x55, // push rbp
    };
    const uint8_t push_r12[] = {
        0x41, 0x54, // push r12
    };
    for (const DecodedInsn& d : {must_decode(push_rbp), must_decode(push_r12)}) {
        Regs regs = sample_regs();
        Regs want = regs;
        want.rsp = kStack - 8;
        want.rip = kAddr + d.length;
        SimResult r = simulate(d, regs);
        REQUIRE(r.write.has_value());
        CHECK(r.write->address == kStack - 8);
        CHECK(r.write->value == reg_value(want, d.reg));
        CHECK(same_regs(regs, want));
    }
}

TEST_CASE("push rsp stores the old rsp") {
    const uint8_t push_rsp[] = {
        0x54, // push rsp
    };
    Regs regs = sample_regs();
    SimResult r = simulate(must_decode(push_rsp), regs);
    REQUIRE(r.write.has_value());
    CHECK(r.write->address == kStack - 8);
    CHECK(r.write->value == kStack);
    CHECK(regs.rsp == kStack - 8);
    CHECK(regs.rip == kAddr + 1);
}

TEST_CASE("mov rbp, rsp copies rsp and leaves flags alone") {
    const uint8_t mov[] = {
        0x48, 0x89, 0xe5, // mov rbp, rsp
    };
    Regs regs = sample_regs();
    regs.eflags |= kArith;
    Regs want = regs;
    want.rbp = kStack;
    want.rip = kAddr + 3;
    SimResult r = simulate(must_decode(mov), regs);
    CHECK_FALSE(r.write.has_value());
    CHECK(same_regs(regs, want));
}

// Expected flags were taken from the real add/sub on an x86-64 CPU.
TEST_CASE("add/sub rsp sets the arithmetic flags exactly") {
    const uint8_t sub_18[] = {
        0x48, 0x83, 0xec, 0x18, // sub rsp, 0x18
    };
    const uint8_t add_18[] = {
        0x48, 0x83, 0xc4, 0x18, // add rsp, 0x18
    };
    const uint8_t sub_imm32[] = {
        0x48, 0x81, 0xec, 0x18, 0x00, 0x00, 0x00, // sub rsp, 0x18 (imm32 form)
    };
    const uint8_t sub_m128[] = {
        0x48, 0x83, 0xec, 0x80, // sub rsp, -0x80 (GCC's short add rsp, 0x80)
    };
    const uint8_t add_m8[] = {
        0x48, 0x83, 0xc4, 0xf8, // add rsp, -8
    };
    const uint8_t add_8[] = {
        0x48, 0x83, 0xc4, 0x08, // add rsp, 8
    };
    struct Case {
        const char* what;
        DecodedInsn insn;
        uint64_t rsp_before, rsp_after, flags;
    };
    const Case cases[] = {
        {"sub 0x18", must_decode(sub_18), kStack, kStack - 0x18, kFlagPF | kFlagAF},
        {"add 0x18", must_decode(add_18), kStack - 0x18, kStack, kFlagAF},
        {"sub imm32", must_decode(sub_imm32), kStack, kStack - 0x18, kFlagPF | kFlagAF},
        {"sub borrows across zero", must_decode(sub_18), 0x10, 0xfffffffffffffff8,
         kFlagCF | kFlagSF | kFlagAF},
        {"sub to zero", must_decode(sub_18), 0x18, 0, kFlagZF | kFlagPF},
        {"sub -0x80 borrows", must_decode(sub_m128), 0x7fffffffe380, 0x7fffffffe400,
         kFlagCF | kFlagPF},
        {"add -8 carries", must_decode(add_m8), 0x100, 0xf8, kFlagCF},
        {"add overflows", must_decode(add_8), 0x7ffffffffffffff8, 0x8000000000000000,
         kFlagOF | kFlagSF | kFlagAF | kFlagPF},
    };
    for (const Case& c : cases) {
        INFO(c.what);
        // Once with every arithmetic flag clear and once with all set, so
        // stale flags cannot leak through.
        for (uint64_t stale : {uint64_t{0}, kArith}) {
            Regs regs = sample_regs();
            regs.rsp = c.rsp_before;
            regs.eflags |= stale;
            Regs want = regs;
            want.rsp = c.rsp_after;
            want.rip = kAddr + c.insn.length;
            want.eflags = kOtherFlags | c.flags;
            SimResult r = simulate(c.insn, regs);
            CHECK_FALSE(r.write.has_value());
            CHECK(regs.eflags == want.eflags);
            CHECK(same_regs(regs, want));
        }
    }
}

TEST_CASE("jmp rel sets rip to the target") {
    const uint8_t fwd8[] = {
        0xeb, 0x10, // jmp +0x10
    };
    const uint8_t back32[] = {
        0xe9, 0xfb, 0xef, 0xff, 0xff, // jmp -0x1005
    };
    Regs regs = sample_regs();
    Regs want = regs;
    want.rip = kAddr + 0x12;
    CHECK_FALSE(simulate(must_decode(fwd8), regs).write.has_value());
    CHECK(same_regs(regs, want));

    regs = sample_regs();
    simulate(must_decode(back32), regs);
    CHECK(regs.rip == kAddr - 0x1000);
}

TEST_CASE("call rel pushes the return address and jumps") {
    const uint8_t call[] = {
        0xe8, 0x20, 0x00, 0x00, 0x00, // call +0x20
    };
    Regs regs = sample_regs();
    Regs want = regs;
    want.rsp = kStack - 8;
    want.rip = kAddr + 5 + 0x20;
    SimResult r = simulate(must_decode(call), regs);
    REQUIRE(r.write.has_value());
    CHECK(r.write->address == kStack - 8);
    CHECK(r.write->value == kAddr + 5);
    CHECK(same_regs(regs, want));
}

TEST_CASE("jcc takes the branch only when the condition holds") {
    const uint8_t je[] = {
        0x74, 0x10, // je +0x10
    };
    const uint8_t jl32[] = {
        0x0f, 0x8c, 0x00, 0x01, 0x00, 0x00, // jl +0x100
    };
    DecodedInsn d = must_decode(je);
    Regs regs = sample_regs();
    regs.eflags |= kFlagZF;
    CHECK_FALSE(simulate(d, regs).write.has_value());
    CHECK(regs.rip == kAddr + 0x12);
    CHECK(regs.eflags == (kOtherFlags | kFlagZF));

    regs = sample_regs();
    simulate(d, regs);
    CHECK(regs.rip == kAddr + 2);

    d = must_decode(jl32);
    regs = sample_regs();
    regs.eflags |= kFlagSF;
    simulate(d, regs);
    CHECK(regs.rip == kAddr + 6 + 0x100);

    regs = sample_regs();
    regs.eflags |= kFlagSF | kFlagOF;
    simulate(d, regs);
    CHECK(regs.rip == kAddr + 6);
}
