#include "arch/x86_64/x86_decoder.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <span>

using namespace probed;
using namespace probed::arch;
using namespace probed::arch::x86;

namespace {

constexpr uint64_t kAddr = 0x401000;

template <size_t N> DecodedInsn must_decode(const uint8_t (&code)[N], uint64_t address = kAddr) {
    Result<DecodedInsn> r = decode(std::span<const uint8_t>(code, N), address);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
    return *r;
}

template <size_t N> DecodedInsn simulated(const uint8_t (&code)[N], SimOp op) {
    DecodedInsn d = must_decode(code);
    INFO(d.text);
    CHECK(d.strategy == Strategy::Simulate);
    CHECK(d.sim == op);
    CHECK(d.length == N);
    CHECK(d.reject_reason.empty());
    return d;
}

template <size_t N> void check_rejected(const uint8_t (&code)[N]) {
    DecodedInsn d = must_decode(code);
    INFO(d.text);
    CHECK(d.strategy == Strategy::Reject);
    CHECK_FALSE(d.reject_reason.empty());
}

template <size_t N> DecodedInsn boosted(const uint8_t (&code)[N]) {
    DecodedInsn d = must_decode(code);
    INFO(d.text);
    CHECK(d.strategy == Strategy::Boosted);
    CHECK(d.sim == SimOp::None);
    CHECK(d.length == N);
    CHECK_FALSE(d.indirect_call);
    return d;
}

} // namespace

TEST_CASE("decode fills address, length, bytes and text") {
    const uint8_t code[] = {
        0x48, 0x8b, 0x05, 0x10, 0x00, 0x00, 0x00, // mov rax, [rip+0x10]
        0xc3,                                     // ret (must not be consumed)
    };
    DecodedInsn d = must_decode(code);
    CHECK(d.address == kAddr);
    CHECK(d.length == 7);
    for (size_t i = 0; i < 7; ++i) CHECK(d.bytes[i] == code[i]);
    CHECK(d.bytes[7] == 0);
    CHECK(d.text == "mov rax, qword ptr [rip + 0x10]");

    const uint8_t ret[] = {
        0xc3, // ret
    };
    CHECK(must_decode(ret).text == "ret");
}

TEST_CASE("undecodable bytes are an error") {
    const uint8_t invalid[] = {
        0x06, // push es: invalid in 64-bit mode
    };
    Result<DecodedInsn> r = decode(invalid, kAddr);
    REQUIRE_FALSE(r.ok());
    CHECK_FALSE(r.error().message.empty());

    const uint8_t truncated[] = {
        0x48, 0x8b, 0x05, 0x10, // mov rax, [rip+...] cut short
    };
    CHECK_FALSE(decode(truncated, kAddr).ok());
    CHECK_FALSE(decode(std::span<const uint8_t>(), kAddr).ok());
}

TEST_CASE("nops and endbr64 are simulated as Nop") {
    const uint8_t nop1[] = {
        0x90, // nop
    };
    const uint8_t nop2[] = {
        0x66, 0x90, // xchg ax, ax (2-byte nop)
    };
    const uint8_t nop5[] = {
        0x0f, 0x1f, 0x44, 0x00, 0x00, // nop dword ptr [rax+rax]
    };
    const uint8_t nop10[] = {
        0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00, // nop word ptr cs:[rax+rax]
    };
    const uint8_t endbr[] = {
        0xf3, 0x0f, 0x1e, 0xfa, // endbr64
    };
    simulated(nop1, SimOp::Nop);
    simulated(nop2, SimOp::Nop);
    simulated(nop5, SimOp::Nop);
    simulated(nop10, SimOp::Nop);
    simulated(endbr, SimOp::Nop);
}

TEST_CASE("push r64 is simulated") {
    const uint8_t push_rbp[] = {
        0x55, // push rbp
    };
    const uint8_t push_r12[] = {
        0x41, 0x54, // push r12
    };
    const uint8_t push_rsp[] = {
        0x54, // push rsp
    };
    CHECK(simulated(push_rbp, SimOp::PushReg).reg == Reg::rbp);
    CHECK(simulated(push_r12, SimOp::PushReg).reg == Reg::r12);
    CHECK(simulated(push_rsp, SimOp::PushReg).reg == Reg::rsp);

    // A 16-bit push moves rsp by 2, which PushReg does not model.
    const uint8_t push_ax[] = {
        0x66, 0x50, // push ax
    };
    boosted(push_ax);
}

TEST_CASE("mov rbp, rsp is simulated in both encodings") {
    const uint8_t mov_89[] = {
        0x48, 0x89, 0xe5, // mov rbp, rsp
    };
    const uint8_t mov_8b[] = {
        0x48, 0x8b, 0xec, // mov rbp, rsp
    };
    simulated(mov_89, SimOp::MovRbpRsp);
    simulated(mov_8b, SimOp::MovRbpRsp);

    const uint8_t mov_rsp_rbp[] = {
        0x48, 0x89, 0xec, // mov rsp, rbp
    };
    boosted(mov_rsp_rbp);
}

TEST_CASE("add/sub rsp, imm is simulated with a signed delta") {
    const uint8_t sub8[] = {
        0x48, 0x83, 0xec, 0x18, // sub rsp, 0x18
    };
    const uint8_t sub32[] = {
        0x48, 0x81, 0xec, 0x00, 0x01, 0x00, 0x00, // sub rsp, 0x100
    };
    const uint8_t add8[] = {
        0x48, 0x83, 0xc4, 0x18, // add rsp, 0x18
    };
    const uint8_t add32[] = {
        0x48, 0x81, 0xc4, 0x00, 0x02, 0x00, 0x00, // add rsp, 0x200
    };
    const uint8_t sub_neg[] = {
        0x48, 0x83, 0xec, 0x80, // sub rsp, -0x80
    };
    CHECK(simulated(sub8, SimOp::AddRsp).imm == -0x18);
    CHECK(simulated(sub32, SimOp::AddRsp).imm == -0x100);
    CHECK(simulated(add8, SimOp::AddRsp).imm == 0x18);
    CHECK(simulated(add32, SimOp::AddRsp).imm == 0x200);
    CHECK(simulated(sub_neg, SimOp::AddRsp).imm == 0x80);

    const uint8_t sub_esp[] = {
        0x83, 0xec, 0x18, // sub esp, 0x18 (zero-extends: not an rsp delta)
    };
    boosted(sub_esp);
}

TEST_CASE("jmp rel8/rel32 is simulated with an absolute target") {
    const uint8_t fwd8[] = {
        0xeb, 0x10, // jmp +0x10
    };
    const uint8_t back8[] = {
        0xeb, 0xfe, // jmp $ (to itself)
    };
    const uint8_t fwd32[] = {
        0xe9, 0x00, 0x01, 0x00, 0x00, // jmp +0x100
    };
    const uint8_t back32[] = {
        0xe9, 0xfb, 0xef, 0xff, 0xff, // jmp -0x1005
    };
    CHECK(simulated(fwd8, SimOp::JmpRel).target == kAddr + 2 + 0x10);
    CHECK(simulated(back8, SimOp::JmpRel).target == kAddr);
    CHECK(simulated(fwd32, SimOp::JmpRel).target == kAddr + 5 + 0x100);
    CHECK(simulated(back32, SimOp::JmpRel).target == kAddr - 0x1000);
}

TEST_CASE("call rel32 is simulated") {
    const uint8_t fwd[] = {
        0xe8, 0x20, 0x00, 0x00, 0x00, // call +0x20
    };
    const uint8_t back[] = {
        0xe8, 0xf0, 0xff, 0xff, 0xff, // call -0x10
    };
    CHECK(simulated(fwd, SimOp::CallRel).target == kAddr + 5 + 0x20);
    CHECK(simulated(back, SimOp::CallRel).target == kAddr + 5 - 0x10);
}

TEST_CASE("jcc rel8/rel32 is simulated with its tttn condition") {
    struct Case {
        uint8_t bytes[6];
        uint8_t length;
        uint8_t cond;
        uint64_t target;
    };
    const Case cases[] = {
        {{0x70, 0x05}, 2, 0x0, kAddr + 7},                          // jo +5
        {{0x74, 0x10}, 2, 0x4, kAddr + 0x12},                       // je +0x10
        {{0x75, 0xf0}, 2, 0x5, kAddr + 2 - 0x10},                   // jne -0x10
        {{0x7f, 0x7f}, 2, 0xf, kAddr + 2 + 0x7f},                   // jg +0x7f
        {{0x0f, 0x82, 0x00, 0x10, 0x00, 0x00}, 6, 0x2, kAddr + 6 + 0x1000}, // jb +0x1000
        {{0x0f, 0x87, 0xfa, 0xff, 0xff, 0xff}, 6, 0x7, kAddr},      // ja -6 (to itself)
        {{0x0f, 0x8c, 0x00, 0x00, 0x00, 0x80}, 6, 0xc, kAddr + 6 - 0x80000000}, // jl -2^31
        {{0x0f, 0x8e, 0x44, 0x33, 0x22, 0x11}, 6, 0xe, kAddr + 6 + 0x11223344}, // jle
    };
    for (const Case& c : cases) {
        Result<DecodedInsn> r = decode(std::span<const uint8_t>(c.bytes, c.length), kAddr);
        REQUIRE(r.ok());
        INFO(r->text);
        CHECK(r->strategy == Strategy::Simulate);
        CHECK(r->sim == SimOp::Jcc);
        CHECK(r->length == c.length);
        CHECK(r->cond == c.cond);
        CHECK(r->target == c.target);
    }
}

TEST_CASE("trapping, privileged and unsimulated RIP-dependent instructions are rejected") {
    const uint8_t int3[] = {
        0xcc, // int3
    };
    const uint8_t int80[] = {
        0xcd, 0x80, // int 0x80
    };
    const uint8_t int1[] = {
        0xf1, // int1
    };
    const uint8_t ud2[] = {
        0x0f, 0x0b, // ud2
    };
    const uint8_t hlt[] = {
        0xf4, // hlt
    };
    const uint8_t loop[] = {
        0xe2, 0xfe, // loop $
    };
    const uint8_t jrcxz[] = {
        0xe3, 0x10, // jrcxz +0x10
    };
    const uint8_t xbegin[] = {
        0xc7, 0xf8, 0x00, 0x00, 0x00, 0x00, // xbegin +0
    };
    const uint8_t xend[] = {
        0x0f, 0x01, 0xd5, // xend
    };
    const uint8_t cli[] = {
        0xfa, // cli
    };
    const uint8_t mov_cr0[] = {
        0x0f, 0x22, 0xc0, // mov cr0, rax
    };
    const uint8_t iretq[] = {
        0x48, 0xcf, // iretq
    };
    const uint8_t retf[] = {
        0xcb, // retf
    };
    const uint8_t lcall[] = {
        0xff, 0x18, // lcall [rax]
    };
    const uint8_t jmp_rel16[] = {
        0x66, 0xe9, 0x10, 0x00, // jmp rel16 (Intel and AMD disagree)
    };
    const uint8_t eip_relative[] = {
        0x67, 0x48, 0x8b, 0x05, 0x10, 0x00, 0x00, 0x00, // mov rax, [eip+0x10]
    };
    check_rejected(int3);
    check_rejected(int80);
    check_rejected(int1);
    check_rejected(ud2);
    check_rejected(hlt);
    check_rejected(loop);
    check_rejected(jrcxz);
    check_rejected(xbegin);
    check_rejected(xend);
    check_rejected(cli);
    check_rejected(mov_cr0);
    check_rejected(iretq);
    check_rejected(retf);
    check_rejected(lcall);
    check_rejected(jmp_rel16);
    check_rejected(eip_relative);
}

TEST_CASE("RIP-relative instructions are boosted with the disp32 offset") {
    const uint8_t load[] = {
        0x48, 0x8b, 0x05, 0x10, 0x00, 0x00, 0x00, // mov rax, [rip+0x10]
    };
    const uint8_t lea[] = {
        0x48, 0x8d, 0x3d, 0x00, 0x20, 0x00, 0x00, // lea rdi, [rip+0x2000]
    };
    const uint8_t store[] = {
        0x48, 0x89, 0x05, 0xf0, 0xff, 0xff, 0xff, // mov [rip-0x10], rax
    };
    const uint8_t store_imm[] = {
        0x48, 0xc7, 0x05, 0x10, 0x00, 0x00, 0x00, // mov qword [rip+0x10], ...
        0x2a, 0x00, 0x00, 0x00,                   // ... 0x2a (imm32 after the disp)
    };
    const uint8_t lock_add[] = {
        0xf0, 0x48, 0x83, 0x05, 0x01, 0x00, 0x00, 0x00, 0x01, // lock add qword [rip+1], 1
    };
    const uint8_t vex[] = {
        0xc4, 0xe2, 0x79, 0x18, 0x05, 0x01, 0x00, 0x00, 0x00, // vbroadcastss xmm0, [rip+1]
    };
    CHECK(boosted(load).disp_offset == 3);
    CHECK(boosted(lea).disp_offset == 3);
    CHECK(boosted(store).disp_offset == 3);
    DecodedInsn imm = boosted(store_imm);
    CHECK(imm.disp_offset == 3);
    CHECK(imm.length == 11);
    CHECK(boosted(lock_add).disp_offset == 4);
    CHECK(boosted(vex).disp_offset == 5);
    CHECK_FALSE(boosted(load).no_fallthrough);
}

TEST_CASE("other instructions are boosted") {
    const uint8_t xor_eax[] = {
        0x31, 0xc0, // xor eax, eax
    };
    const uint8_t fs_load[] = {
        0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0x00, 0x00, 0x00, // mov rax, fs:[0x28]
    };
    const uint8_t syscall[] = {
        0x0f, 0x05, // syscall
    };
    const uint8_t pause[] = {
        0xf3, 0x90, // pause
    };
    const uint8_t rdtscp[] = {
        0x0f, 0x01, 0xf9, // rdtscp (Capstone calls it privileged; it is not)
    };
    for (const DecodedInsn& d : {boosted(xor_eax), boosted(fs_load), boosted(syscall),
                                 boosted(pause), boosted(rdtscp)}) {
        CHECK(d.disp_offset == 0);
        CHECK_FALSE(d.no_fallthrough);
    }
}

TEST_CASE("ret and jmp r/m never fall through") {
    const uint8_t ret[] = {
        0xc3, // ret
    };
    const uint8_t ret_imm[] = {
        0xc2, 0x08, 0x00, // ret 8
    };
    const uint8_t jmp_rax[] = {
        0xff, 0xe0, // jmp rax
    };
    const uint8_t jmp_mem[] = {
        0xff, 0x25, 0x00, 0x10, 0x00, 0x00, // jmp [rip+0x1000]
    };
    CHECK(boosted(ret).no_fallthrough);
    CHECK(boosted(ret_imm).no_fallthrough);
    CHECK(boosted(jmp_rax).no_fallthrough);
    DecodedInsn jm = boosted(jmp_mem);
    CHECK(jm.no_fallthrough);
    CHECK(jm.disp_offset == 2);
}

TEST_CASE("call r/m is stepped as an indirect call") {
    const uint8_t call_rax[] = {
        0xff, 0xd0, // call rax
    };
    const uint8_t call_r11[] = {
        0x41, 0xff, 0xd3, // call r11
    };
    const uint8_t call_mem[] = {
        0xff, 0x15, 0x00, 0x10, 0x00, 0x00, // call [rip+0x1000]
    };
    for (const DecodedInsn& d : {must_decode(call_rax), must_decode(call_r11)}) {
        CHECK(d.strategy == Strategy::Stepped);
        CHECK(d.indirect_call);
        CHECK(d.disp_offset == 0);
        CHECK_FALSE(d.no_fallthrough);
    }
    DecodedInsn d = must_decode(call_mem);
    CHECK(d.strategy == Strategy::Stepped);
    CHECK(d.indirect_call);
    CHECK(d.disp_offset == 2);
    CHECK(d.length == 6);
}

TEST_CASE("condition_holds follows the tttn table") {
    const uint64_t none = 0x202; // reserved bit 1 and IF: no condition flag set
    const uint64_t zf = none | kFlagZF;
    const uint64_t cf = none | kFlagCF;
    const uint64_t sf = none | kFlagSF;
    const uint64_t of = none | kFlagOF;
    const uint64_t pf = none | kFlagPF;
    const uint64_t sf_of = none | kFlagSF | kFlagOF;

    struct Row {
        uint8_t cond;
        bool none, zf, cf, sf, of, pf, sf_of;
    };
    const Row rows[] = {
        //                none   zf     cf     sf     of     pf     sf_of
        {0x0, /* jo  */ false, false, false, false, true, false, true},
        {0x1, /* jno */ true, true, true, true, false, true, false},
        {0x2, /* jb  */ false, false, true, false, false, false, false},
        {0x3, /* jae */ true, true, false, true, true, true, true},
        {0x4, /* je  */ false, true, false, false, false, false, false},
        {0x5, /* jne */ true, false, true, true, true, true, true},
        {0x6, /* jbe */ false, true, true, false, false, false, false},
        {0x7, /* ja  */ true, false, false, true, true, true, true},
        {0x8, /* js  */ false, false, false, true, false, false, true},
        {0x9, /* jns */ true, true, true, false, true, true, false},
        {0xa, /* jp  */ false, false, false, false, false, true, false},
        {0xb, /* jnp */ true, true, true, true, true, false, true},
        {0xc, /* jl  */ false, false, false, true, true, false, false},
        {0xd, /* jge */ true, true, true, false, false, true, true},
        {0xe, /* jle */ false, true, false, true, true, false, false},
        {0xf, /* jg  */ true, false, true, false, false, true, true},
    };
    for (const Row& r : rows) {
        INFO("cond " << int(r.cond));
        CHECK(condition_holds(r.cond, none) == r.none);
        CHECK(condition_holds(r.cond, zf) == r.zf);
        CHECK(condition_holds(r.cond, cf) == r.cf);
        CHECK(condition_holds(r.cond, sf) == r.sf);
        CHECK(condition_holds(r.cond, of) == r.of);
        CHECK(condition_holds(r.cond, pf) == r.pf);
        CHECK(condition_holds(r.cond, sf_of) == r.sf_of);
    }
    // jle also holds on ZF when SF == OF.
    CHECK(condition_holds(0xe, zf | kFlagSF | kFlagOF));
    CHECK_FALSE(condition_holds(0xf, zf | kFlagSF | kFlagOF));
}
