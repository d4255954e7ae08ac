#include "arch/arm64/arm64_decoder.h"
#include "arch/arm64/arm64_machine.h"
#include "arm64_test_words.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

using namespace probed;
using namespace probed::arch;
using namespace probed::arch::arm64;
using arm64_test::kAddr;
using arm64_test::must_decode;
using arm64_test::to_bytes;

namespace {

DecodedInsn must_simulate(uint32_t word, SimOp op, uint64_t address = kAddr) {
    DecodedInsn d = must_decode(word, address);
    INFO(d.text, " ", d.reject_reason);
    CHECK(d.strategy == Strategy::Simulate);
    CHECK(d.sim == op);
    return d;
}

void check_rejected(uint32_t word, const std::string& reason_part) {
    DecodedInsn d = must_decode(word);
    INFO(d.text, ": ", d.reject_reason);
    CHECK(d.strategy == Strategy::Reject);
    CHECK(d.reject_reason.find(reason_part) != std::string::npos);
}

} // namespace

TEST_CASE("direct branches are simulated with absolute targets") {
    DecodedInsn b = must_simulate(0x14000010, SimOp::B); // b .+0x40
    CHECK(b.target == kAddr + 0x40);
    DecodedInsn bl = must_simulate(0x97fffc00, SimOp::Bl); // bl .-0x1000
    CHECK(bl.target == kAddr - 0x1000);
    DecodedInsn bne = must_simulate(0x54000101, SimOp::BCond); // b.ne .+0x20
    CHECK(bne.cond == 1);
    CHECK(bne.target == kAddr + 0x20);
    CHECK(bne.text == "b.ne #0x412364");
}

TEST_CASE("b and bl reach exactly +-128 MiB") {
    CHECK(must_simulate(0x15ffffff, SimOp::B).target == kAddr + 0x7fffffc);  // b .+0x7fffffc
    CHECK(must_simulate(0x16000000, SimOp::B).target == kAddr - 0x8000000);  // b .-0x8000000
    CHECK(must_simulate(0x95ffffff, SimOp::Bl).target == kAddr + 0x7fffffc); // bl .+0x7fffffc
    CHECK(must_simulate(0x96000000, SimOp::Bl).target == kAddr - 0x8000000); // bl .-0x8000000
    // Near address 0 the target wraps like the CPU's 64-bit PC arithmetic.
    CHECK(must_simulate(0x17ffffff, SimOp::B, 0x1000).target == 0xffc); // b .-4
    CHECK(must_simulate(0x16000000, SimOp::B, 0x1000).target ==
          0xfffffffff8001000ull); // b .-0x8000000
}

TEST_CASE("compare-and-branch keeps register and width") {
    DecodedInsn cbz = must_simulate(0x34000803, SimOp::Cbz); // cbz w3, .+0x100
    CHECK(cbz.reg == 3);
    CHECK_FALSE(cbz.is64);
    CHECK(cbz.target == kAddr + 0x100);
    DecodedInsn cbnz = must_simulate(0xb5ffffc4, SimOp::Cbnz); // cbnz x4, .-0x8
    CHECK(cbnz.reg == 4);
    CHECK(cbnz.is64);
    CHECK(cbnz.target == kAddr - 8);
    DecodedInsn zr = must_simulate(0xb400005f, SimOp::Cbz); // cbz xzr, .+8
    CHECK(zr.reg == 31);
}

TEST_CASE("test-bit-and-branch decodes bit numbers above 31 from b5") {
    DecodedInsn tbz = must_simulate(0xb6080083, SimOp::Tbz); // tbz x3, #33, .+0x10
    CHECK(tbz.reg == 3);
    CHECK(tbz.bit == 33);
    CHECK(tbz.target == kAddr + 0x10);
    DecodedInsn tbnz = must_simulate(0x373fff05, SimOp::Tbnz); // tbnz w5, #7, .-0x20
    CHECK(tbnz.bit == 7);
    CHECK(tbnz.target == kAddr - 0x20);
    DecodedInsn top = must_simulate(0xb7fc001e, SimOp::Tbnz); // tbnz x30, #63, .-0x8000
    CHECK(top.reg == 30);
    CHECK(top.bit == 63);
    CHECK(top.target == kAddr - 0x8000);
    CHECK(must_simulate(0x3603ffe0, SimOp::Tbz).target == kAddr + 0x7ffc); // tbz w0, #0, .+0x7ffc
}

TEST_CASE("adr computes a byte address, adrp a 4 KiB page of the instruction's page") {
    DecodedInsn adr = must_simulate(0x100091a1, SimOp::Adr); // adr x1, .+0x1234
    CHECK(adr.reg == 1);
    CHECK(adr.target == kAddr + 0x1234);
    CHECK(must_simulate(0x10ffff82, SimOp::Adr).target == kAddr - 0x10);     // adr x2, .-0x10
    CHECK(must_simulate(0x707fffe0, SimOp::Adr).target == kAddr + 0xfffff);  // adr x0, .+0xfffff
    CHECK(must_simulate(0x10800003, SimOp::Adr).target == kAddr - 0x100000); // adr x3, .-0x100000

    // kAddr's page is 0x412000.
    DecodedInsn up = must_simulate(0xb0000020, SimOp::Adrp); // adrp x0, 0x417000 (+5 pages)
    CHECK(up.reg == 0);
    CHECK(up.target == 0x417000);
    DecodedInsn down = must_simulate(0xb0ffffe9, SimOp::Adrp); // adrp x9, 0x40f000 (-3 pages)
    CHECK(down.reg == 9);
    CHECK(down.target == 0x40f000);
    CHECK(must_simulate(0x90000000, SimOp::Adrp).target == 0x412000); // adrp x0, 0x412000 (+0)
    // From the last word of a page, +1 page is the next page, not 4 KiB on.
    CHECK(must_simulate(0xb0000000, SimOp::Adrp, 0x412ffc).target == 0x413000); // adrp x0, +1 page
}

TEST_CASE("literal loads record address, size and signedness") {
    DecodedInsn w = must_simulate(0x18000206, SimOp::LdrLiteral); // ldr w6, .+0x40
    CHECK(w.reg == 6);
    CHECK(w.target == kAddr + 0x40);
    CHECK(w.literal_size == 4);
    CHECK_FALSE(w.is64);
    CHECK_FALSE(w.literal_signed);
    DecodedInsn x = must_simulate(0x58fffe07, SimOp::LdrLiteral); // ldr x7, .-0x40
    CHECK(x.target == kAddr - 0x40);
    CHECK(x.literal_size == 8);
    CHECK(x.is64);
    DecodedInsn sw = must_simulate(0x98002008, SimOp::LdrLiteral); // ldrsw x8, .+0x400
    CHECK(sw.target == kAddr + 0x400);
    CHECK(sw.literal_size == 4);
    CHECK(sw.literal_signed);
    CHECK(must_simulate(0x587fffe0, SimOp::LdrLiteral).target ==
          kAddr + 0xffffc); // ldr x0, .+0xffffc
    CHECK(must_simulate(0x18800001, SimOp::LdrLiteral).target ==
          kAddr - 0x100000); // ldr w1, .-0x100000
    // prfm (literal) is a hint with no effect: only the PC moves.
    must_simulate(0xd8000400, SimOp::Nop); // prfm pldl1keep, .+0x80
}

TEST_CASE("register branches, nop, bti and the frame-record idiom are simulated") {
    CHECK(must_simulate(0xd61f0200, SimOp::Br).reg == 16);         // br x16
    CHECK(must_simulate(0xd63f0020, SimOp::Blr).reg == 1);         // blr x1
    CHECK(must_simulate(0xd65f03c0, SimOp::Ret).reg == 30);        // ret
    CHECK(must_simulate(0xd65f0040, SimOp::Ret).reg == 2);         // ret x2
    must_simulate(0xd503201f, SimOp::Nop);                         // nop
    CHECK(must_simulate(0xd503245f, SimOp::Nop).text == "bti c");  // bti c
    CHECK(must_simulate(0xd503249f, SimOp::Nop).text == "bti j");  // bti j
    CHECK(must_simulate(0xa9bd7bfd, SimOp::PushFrame).imm == -48); // stp x29, x30, [sp, #-48]!
    CHECK(must_simulate(0xa9bf7bfd, SimOp::PushFrame).imm == -16); // stp x29, x30, [sp, #-16]!
    must_simulate(0x910003fd, SimOp::MovFpSp);                     // mov x29, sp
}

TEST_CASE("ordinary instructions are boosted") {
    const uint32_t words[] = {
        0x8b020020, // add x0, x1, x2
        0xf94007e0, // ldr x0, [sp, #8]
        0xb8004441, // str w1, [x2], #4
        0xd10103ff, // sub sp, sp, #0x40
        0xa9017bfd, // stp x29, x30, [sp, #16]      (no writeback: not the idiom)
        0xa9be53f3, // stp x19, x20, [sp, #-32]!    (other registers)
        0x910043fd, // add x29, sp, #0x10           (not mov x29, sp)
        0xf8627820, // ldr x0, [x1, x2, lsl #3]
        0xc8dffc20, // ldar x0, [x1]                (ordered, not exclusive)
        0x1e620820, // fmul d0, d1, d2
        0xd5033bbf, // dmb ish
        0xd503203f, // yield
        0xd503229f, // csdb
    };
    for (uint32_t w : words) {
        DecodedInsn d = must_decode(w);
        INFO(d.text, " ", d.reject_reason);
        CHECK(d.strategy == Strategy::Boosted);
        CHECK(d.sim == SimOp::None);
        CHECK_FALSE(d.no_fallthrough);
        CHECK_FALSE(d.link_fixup);
    }
}

TEST_CASE("pointer-authentication hints run in a slot and are named") {
    // They sign/authenticate with a key only the CPU holds: not simulated.
    const std::pair<uint32_t, const char*> hints[] = {
        {0xd503233f, "paciasp"}, // paciasp
        {0xd503237f, "pacibsp"}, // pacibsp
        {0xd50323bf, "autiasp"}, // autiasp
        {0xd50320ff, "xpaclri"}, // xpaclri
    };
    for (const auto& [w, name] : hints) {
        DecodedInsn d = must_decode(w);
        CHECK(d.strategy == Strategy::Boosted);
        CHECK(d.text == name);
    }
}

TEST_CASE("EL0 system-register and cache instructions are boosted") {
    const uint32_t words[] = {
        0xd53bd040, // mrs x0, tpidr_el0
        0xd51b4401, // msr fpcr, x1
        0xd5380002, // mrs x2, midr_el1   (emulated by the kernel)
        0xd53be043, // mrs x3, cntvct_el0
        0xd53b4200, // mrs x0, nzcv
        0xd50b7420, // dc zva, x0
        0xd503413f, // msr ssbs, #1       (Capstone 4 cannot decode it)
        0xd503415f, // msr dit, #1
    };
    for (uint32_t w : words) {
        DecodedInsn d = must_decode(w);
        INFO(d.text, " ", d.reject_reason);
        CHECK(d.strategy == Strategy::Boosted);
    }
}

TEST_CASE("encodings newer than Capstone 4 get a verdict from the encoding") {
    for (uint32_t w : {
             0xc8a07c41u, // cas x0, x1, [x2]
             0x48207c82u, // casp x0, x1, x2, x3, [x4]
             0xb8200041u, // ldadd w0, w1, [x2]
             0xf8bfc020u, // ldapr x0, [x1]
             0xf8201420u, // ldraa x0, [x1, #8]
         }) {
        DecodedInsn d = must_decode(w);
        INFO(d.text);
        CHECK(d.strategy == Strategy::Boosted);
        CHECK_FALSE(d.no_fallthrough);
    }
    for (uint32_t w : {
             0xd65f0bffu, // retaa
             0xd61f087fu, // braaz x3
             0xd71f0822u, // braa x1, x2
         }) {
        DecodedInsn d = must_decode(w);
        CHECK(d.strategy == Strategy::Boosted);
        CHECK(d.no_fallthrough);
    }
    for (uint32_t w : {
             0xd73f0822u, // blraa x1, x2
             0xd63f08bfu, // blraaz x5
         }) {
        DecodedInsn d = must_decode(w);
        CHECK(d.strategy == Strategy::Stepped);
        CHECK(d.link_fixup);
    }
    // bc.ne .+0x20 (FEAT_HBC): simulated like b.ne.
    DecodedInsn bc = must_decode(0x54000111);
    CHECK(bc.strategy == Strategy::Simulate);
    CHECK(bc.sim == SimOp::BCond);
    CHECK(bc.cond == 1);
    CHECK(bc.target == kAddr + 0x20);
}

TEST_CASE("every reject carries its reason") {
    check_rejected(0xc85f7c20, "exclusive load/store");              // ldxr x0, [x1]
    check_rejected(0xc8027c20, "exclusive load/store");              // stxr w2, x0, [x1]
    check_rejected(0xc87f8440, "exclusive load/store");              // ldaxp x0, x1, [x2]
    check_rejected(0xc8238440, "exclusive load/store");              // stlxp w3, x0, x1, [x2]
    check_rejected(0x085f7c20, "exclusive load/store");              // ldxrb w0, [x1]
    check_rejected(0x4802fc20, "exclusive load/store");              // stlxrh w2, w0, [x1]
    check_rejected(0xd4000001, "system call (svc)");                 // svc #0
    check_rejected(0xd4000022, "hvc/smc");                           // hvc #1
    check_rejected(0xd4000043, "hvc/smc");                           // smc #2
    check_rejected(0xd4207d00, "breakpoint instruction (brk)");      // brk #0x3e8
    check_rejected(kBreakpointWord, "breakpoint instruction (brk)"); // brk #0xbd0 (ours)
    check_rejected(0xd45e0000, "halting breakpoint (hlt)");          // hlt #0xf000
    check_rejected(0xd4a00001, "debug state change (dcps)");         // dcps1
    check_rejected(0xd4a00003, "debug state change (dcps)");         // dcps3
    check_rejected(0x00001234, "permanently undefined");             // udf #0x1234
    check_rejected(0xd69f03e0, "exception return");                  // eret
    check_rejected(0xd6bf03e0, "exception return");                  // drps
    check_rejected(0xd69f0bff, "exception return");                  // eretaa
    check_rejected(0xd50342df, "DAIF");                              // msr daifset, #2
    check_rejected(0xd50342ff, "DAIF");                              // msr daifclr, #2
    check_rejected(0xd53b4220, "DAIF");                              // mrs x0, daif
    check_rejected(0xd50041bf, "privileged PSTATE field");           // msr spsel, #1
    check_rejected(0xd5300240, "not accessible at EL0");             // mrs x0, mdscr_el1
    check_rejected(0xd51b0020, "read-only at EL0");                  // msr ctr_el0, x0
    check_rejected(0xd51bd060, "read-only at EL0");                  // msr tpidrro_el0, x0
    check_rejected(0xd508871f, "privileged system operation");       // tlbi vmalle1
    check_rejected(0xd508751f, "privileged system operation");       // ic iallu
    check_rejected(0x9c000080, "SIMD&FP register");                  // ldr q0, .+16
    check_rejected(0x5c000081, "SIMD&FP register");                  // ldr d1, .+16
}

TEST_CASE("a probe inside an LDXR...STXR window is refused") {
    // A typical atomic increment loop; each probe site sees the words before it.
    const std::vector<uint8_t> fn = to_bytes({
        0x885ffc01, // 0x00 loop: ldaxr w1, [x0]
        0x11000421, // 0x04 add w1, w1, #1
        0x8802fc01, // 0x08 stlxr w2, w1, [x0]
        0x35ffffa2, // 0x0c cbnz w2, loop
        0xd65f03c0, // 0x10 ret
    });
    const auto site = [&](size_t off) {
        return must_decode(fn[off] | fn[off + 1] << 8 | fn[off + 2] << 16 |
                               uint32_t{fn[off + 3]} << 24,
                           kAddr + off, std::span<const uint8_t>(fn.data(), off));
    };
    DecodedInsn inside = site(0x04);
    CHECK(inside.strategy == Strategy::Reject);
    CHECK(inside.reject_reason.find(
              "inside an exclusive load/store sequence (load-exclusive at 0x412344)") !=
          std::string::npos);
    CHECK(site(0x00).strategy == Strategy::Reject); // the ldaxr itself
    CHECK(site(0x08).strategy == Strategy::Reject); // the stlxr itself
    // After the store-exclusive the window is closed.
    CHECK(site(0x0c).strategy == Strategy::Simulate);
    CHECK(site(0x10).strategy == Strategy::Simulate);
    CHECK(exclusive_window_start(std::span<const uint8_t>(fn.data(), 4), kAddr + 4) == kAddr);
    CHECK(exclusive_window_start(std::span<const uint8_t>(fn.data(), 0x0c), kAddr + 0x0c) == 0);
}

TEST_CASE("the exclusive-window scan stops after kExclusiveScanWords words") {
    std::vector<uint8_t> fn = to_bytes({0xc85f7c20}); // ldxr x0, [x1]
    for (size_t i = 0; i < kExclusiveScanWords; ++i) {
        const std::vector<uint8_t> add = to_bytes({0x91000400}); // add x0, x0, #1
        fn.insert(fn.end(), add.begin(), add.end());
    }
    // The last add is 16 words after the ldxr: still inside the scan.
    const uint64_t last = kAddr + 4 * kExclusiveScanWords;
    CHECK(must_decode(0x91000400, last, std::span<const uint8_t>(fn.data(), fn.size() - 4))
              .strategy == Strategy::Reject);
    // One word further the ldxr is out of reach, as in the kernel.
    CHECK(must_decode(0x91000400, last + 4, fn).strategy == Strategy::Boosted);
    // No preceding code: nothing to scan.
    CHECK(must_decode(0x91000400).strategy == Strategy::Boosted);
}

TEST_CASE("decode errors: misaligned, short, unknown") {
    const std::vector<uint8_t> add = to_bytes({0x91000400}); // add x0, x0, #1
    CHECK_FALSE(decode(add, kAddr + 2).ok());
    CHECK_FALSE(decode(std::span<const uint8_t>(add.data(), 3), kAddr).ok());
    const std::vector<uint8_t> sve = to_bytes({0x2518e3e0}); // ptrue p0.b (SVE)
    Result<DecodedInsn> r = decode(sve, kAddr);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("2518e3e0") != std::string::npos);
}

TEST_CASE("condition_holds matches the Arm ARM for every condition and NZCV") {
    // Bit v of each mask: does the condition hold when NZCV (N = 8, Z = 4,
    // C = 2, V = 1) equals v?
    const uint16_t holds_for[16] = {
        0xf0f0, // eq: Z
        0x0f0f, // ne: !Z
        0xcccc, // cs: C
        0x3333, // cc: !C
        0xff00, // mi: N
        0x00ff, // pl: !N
        0xaaaa, // vs: V
        0x5555, // vc: !V
        0x0c0c, // hi: C && !Z
        0xf3f3, // ls: !C || Z
        0xaa55, // ge: N == V
        0x55aa, // lt: N != V
        0x0a05, // gt: !Z && N == V
        0xf5fa, // le: Z || N != V
        0xffff, // al
        0xffff, // nv: behaves as al in A64
    };
    for (uint8_t cond = 0; cond < 16; ++cond) {
        for (uint64_t nzcv = 0; nzcv < 16; ++nzcv) {
            INFO("cond ", int(cond), " nzcv ", nzcv);
            // Other PSTATE bits (BTYPE, DAIF) must not matter.
            const uint64_t pstate = nzcv << 28 | 0xc00 | 0x3c0;
            CHECK(condition_holds(cond, pstate) == bool((holds_for[cond] >> nzcv) & 1));
        }
    }
}
