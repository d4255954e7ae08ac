#include "arch/arm64/arm64_simulator.h"
#include "arm64_test_words.h"

#include <doctest/doctest.h>

#include <csignal>
#include <cstdint>
#include <cstring>
#include <map>

using namespace probed;
using namespace probed::arch;
using namespace probed::arch::arm64;
using arm64_test::kAddr;
using arm64_test::must_decode;

namespace {

constexpr uint64_t kStack = 0x7ffffffff000 - 0x3d0; // 16-byte aligned
// NZCV clear, BTYPE = 10 (the function was reached by blr), DAIF bits that
// are nothing to do with us: only BTYPE may change.
constexpr uint64_t kPstate = (kBtypeCall << kBtypeShift) | 0x3c0;

DecodedInsn must_sim(uint32_t word) {
    DecodedInsn d = must_decode(word);
    REQUIRE(d.strategy == Strategy::Simulate);
    return d;
}

// Distinct values in every register so a stray write shows up.
Regs sample_regs() {
    Regs r{};
    for (unsigned i = 0; i < 31; ++i)
        r.x[i] = 0x1111000000000000ull * (i % 15 + 1) + i;
    r.sp = kStack;
    r.pc = kAddr;
    r.pstate = kPstate;
    return r;
}

bool same_regs(const Regs& a, const Regs& b) {
    return std::memcmp(&a, &b, sizeof a) == 0;
}

// A fake tracee memory for literal loads: reads of unknown addresses fail.
struct FakeMemory {
    std::map<uint64_t, uint64_t> words; // address -> 8 bytes from there
    MemoryReader reader() const {
        return [this](uint64_t address, unsigned size) -> Result<uint64_t> {
            auto it = words.find(address);
            if (it == words.end())
                return make_error(ErrorKind::Io, "unmapped");
            return size == 8 ? it->second : (it->second & 0xffffffffull);
        };
    }
};

// Runs `word` at kAddr on sample registers and checks the full result.
void expect_effect(uint32_t word, const Regs& before, const Regs& want,
                   const MemoryReader& read = {}) {
    DecodedInsn d = must_sim(word);
    INFO(d.text);
    Regs regs = before;
    SimResult r = simulate(d, regs, read);
    CHECK(r.write_count == 0);
    CHECK(r.fault_signal == 0);
    CHECK(same_regs(regs, want));
}

Regs moved_to(Regs r, uint64_t pc, uint64_t btype = kBtypeNone) {
    r.pc = pc;
    r.pstate = (r.pstate & ~kBtypeMask) | (btype << kBtypeShift);
    return r;
}

} // namespace

TEST_CASE("nop, bti and prfm literal advance pc and clear BTYPE") {
    for (uint32_t w : {
             0xd503201fu, // nop
             0xd503245fu, // bti c
             0xd8000400u, // prfm pldl1keep, .+0x80
         }) {
        const Regs regs = sample_regs();
        expect_effect(w, regs, moved_to(regs, kAddr + 4));
    }
}

TEST_CASE("b and bl") {
    const Regs regs = sample_regs();
    expect_effect(0x14000010, regs, moved_to(regs, kAddr + 0x40)); // b .+0x40
    Regs want = moved_to(regs, kAddr - 0x1000);
    want.x[30] = kAddr + 4;
    expect_effect(0x97fffc00, regs, want); // bl .-0x1000
}

TEST_CASE("b.cond follows condition_holds for every condition") {
    for (uint32_t cond = 0; cond < 16; ++cond) {
        const uint32_t word =
            0x54000100 | cond; // b.<cond> .+0x20 (b.eq 0x54000100 ... b.nv 0x5400010f)
        for (uint64_t nzcv = 0; nzcv < 16; ++nzcv) {
            INFO("cond ", cond, " nzcv ", nzcv);
            Regs regs = sample_regs();
            regs.pstate = kPstate | nzcv << 28;
            const uint64_t pc =
                condition_holds(static_cast<uint8_t>(cond), regs.pstate) ? kAddr + 0x20 : kAddr + 4;
            expect_effect(word, regs, moved_to(regs, pc));
        }
    }
    // Spot checks that do not lean on condition_holds.
    Regs regs = sample_regs();
    regs.pstate = kPstate | kFlagZ;
    expect_effect(0x54000100, regs, moved_to(regs, kAddr + 0x20)); // b.eq, Z set: taken
    expect_effect(0x54000101, regs, moved_to(regs, kAddr + 4));    // b.ne, Z set: not taken
    regs.pstate = kPstate | kFlagN;
    expect_effect(0x5400010b, regs, moved_to(regs, kAddr + 0x20)); // b.lt, N != V: taken
    expect_effect(0x5400010c, regs, moved_to(regs, kAddr + 4));    // b.gt, N != V: not taken
}

TEST_CASE("cbz/cbnz test only the low 32 bits of a W register") {
    Regs regs = sample_regs();
    regs.x[3] = 0xffffffff00000000ull;                              // w3 == 0, x3 != 0
    expect_effect(0x34000803, regs, moved_to(regs, kAddr + 0x100)); // cbz w3, .+0x100: taken
    regs.x[4] = 0xffffffff00000000ull;
    expect_effect(0xb5ffffc4, regs, moved_to(regs, kAddr - 8)); // cbnz x4, .-8: taken
    regs.x[4] = 0;
    expect_effect(0xb5ffffc4, regs, moved_to(regs, kAddr + 4)); // cbnz x4, .-8: not taken
    expect_effect(0xb400005f, regs, moved_to(regs, kAddr + 8)); // cbz xzr, .+8: always taken
}

TEST_CASE("tbz/tbnz test the named bit, including bits 32..63") {
    Regs regs = sample_regs();
    regs.x[3] = 1ull << 33;
    expect_effect(0xb6080083, regs,
                  moved_to(regs, kAddr + 4)); // tbz x3, #33: bit set, falls through
    regs.x[3] = ~(1ull << 33);
    expect_effect(0xb6080083, regs, moved_to(regs, kAddr + 0x10)); // tbz x3, #33: bit clear, taken
    regs.x[30] = 1ull << 63;
    expect_effect(0xb7fc001e, regs,
                  moved_to(regs, kAddr - 0x8000)); // tbnz x30, #63, .-0x8000: taken
    regs.x[5] = 0x80;
    expect_effect(0x373fff05, regs, moved_to(regs, kAddr - 0x20)); // tbnz w5, #7, .-0x20: taken
    regs.x[5] = 0x7f;
    expect_effect(0x373fff05, regs, moved_to(regs, kAddr + 4)); // tbnz w5, #7: not taken
}

TEST_CASE("adr and adrp write the computed address") {
    const Regs regs = sample_regs();
    Regs want = moved_to(regs, kAddr + 4);
    want.x[1] = kAddr + 0x1234;
    expect_effect(0x100091a1, regs, want); // adr x1, .+0x1234
    want = moved_to(regs, kAddr + 4);
    want.x[9] = 0x40f000;
    expect_effect(0xb0ffffe9, regs, want); // adrp x9, 0x40f000
    // adr xzr discards the result.
    expect_effect(0x1000001f, regs, moved_to(regs, kAddr + 4)); // adr xzr, .
}

TEST_CASE("literal loads read through the reader with the right size and extension") {
    FakeMemory mem;
    mem.words[kAddr + 0x40] = 0xaaaaaaaa87654321ull;
    mem.words[kAddr - 0x40] = 0x0123456789abcdefull;
    mem.words[kAddr + 0x400] = 0x00000000fffffff0ull;
    const Regs regs = sample_regs();

    Regs want = moved_to(regs, kAddr + 4);
    want.x[6] = 0x87654321;                              // a W load zero-extends
    expect_effect(0x18000206, regs, want, mem.reader()); // ldr w6, .+0x40
    want = moved_to(regs, kAddr + 4);
    want.x[7] = 0x0123456789abcdefull;
    expect_effect(0x58fffe07, regs, want, mem.reader()); // ldr x7, .-0x40
    want = moved_to(regs, kAddr + 4);
    want.x[8] = static_cast<uint64_t>(-16);              // ldrsw sign-extends
    expect_effect(0x98002008, regs, want, mem.reader()); // ldrsw x8, .+0x400
}

TEST_CASE("an unreadable literal is a SIGSEGV at the literal, registers untouched") {
    DecodedInsn d = must_sim(0x58fffe07); // ldr x7, .-0x40
    FakeMemory empty;
    Regs regs = sample_regs();
    const Regs before = regs;
    SimResult r = simulate(d, regs, empty.reader());
    CHECK(r.fault_signal == SIGSEGV);
    CHECK(r.fault_address == kAddr - 0x40);
    CHECK(same_regs(regs, before));
    // No reader at all behaves the same rather than inventing a value.
    r = simulate(d, regs, MemoryReader{});
    CHECK(r.fault_signal == SIGSEGV);
    CHECK(same_regs(regs, before));
}

TEST_CASE("br, blr and ret set the pc and BTYPE as the CPU does") {
    Regs regs = sample_regs();
    regs.x[16] = 0x7f0000001000;
    expect_effect(0xd61f0200, regs, moved_to(regs, 0x7f0000001000, kBtypeJump)); // br x16
    regs.x[1] = 0x400800;
    Regs want = moved_to(regs, 0x400800, kBtypeCall);
    want.x[30] = kAddr + 4;
    expect_effect(0xd63f0020, regs, want); // blr x1
    // blr x30 jumps to the old x30 and then overwrites it.
    regs.x[30] = 0x400900;
    want = moved_to(regs, 0x400900, kBtypeCall);
    want.x[30] = kAddr + 4;
    expect_effect(0xd63f03c0, regs, want);                     // blr x30
    expect_effect(0xd65f03c0, regs, moved_to(regs, 0x400900)); // ret
    regs.x[2] = 0x400a00;
    expect_effect(0xd65f0040, regs, moved_to(regs, 0x400a00)); // ret x2
}

TEST_CASE("a register branch drops the top byte of a user address like the CPU with TBI0") {
    // Values measured on the emulated CPU under Linux: bit 55 clear (the user
    // half, TBI0 on) clears bits 63:56; bit 55 set (TBI1 off) keeps them.
    Regs regs = sample_regs();
    regs.x[16] = 0xe7296f6dfe816a30ull;
    expect_effect(0xd61f0200, regs, moved_to(regs, 0x00296f6dfe816a30ull, kBtypeJump)); // br x16
    regs.x[30] = 0x8000000000000000ull;
    expect_effect(0xd65f03c0, regs, moved_to(regs, 0)); // ret
    regs.x[2] = 0x6f7f227c5d5dbe46ull;
    expect_effect(0xd65f0040, regs, moved_to(regs, 0x007f227c5d5dbe46ull)); // ret x2
    regs.x[1] = 0x7ec9d6cbfcf1bc47ull;
    Regs want = moved_to(regs, 0x7ec9d6cbfcf1bc47ull, kBtypeCall);
    want.x[30] = kAddr + 4;
    expect_effect(0xd63f0020, regs, want); // blr x1
}

TEST_CASE("stp x29, x30, [sp, #-N]! pushes the frame record") {
    DecodedInsn d = must_sim(0xa9bd7bfd); // stp x29, x30, [sp, #-48]!
    Regs regs = sample_regs();
    const Regs before = regs;
    SimResult r = simulate(d, regs, {});
    REQUIRE(r.write_count == 2);
    CHECK(r.writes[0].address == kStack - 48);
    CHECK(r.writes[0].value == before.x[29]);
    CHECK(r.writes[1].address == kStack - 40);
    CHECK(r.writes[1].value == before.x[30]);
    CHECK(r.pending_writes().size() == 2);
    CHECK(r.fault_signal == 0);
    Regs want = moved_to(before, kAddr + 4);
    want.sp = kStack - 48;
    CHECK(same_regs(regs, want));
}

TEST_CASE("stp with a misaligned sp faults like the CPU's SP alignment check") {
    DecodedInsn d = must_sim(0xa9bf7bfd); // stp x29, x30, [sp, #-16]!
    Regs regs = sample_regs();
    regs.sp = kStack - 8;
    const Regs before = regs;
    SimResult r = simulate(d, regs, {});
    CHECK(r.fault_signal == SIGBUS);
    CHECK(r.write_count == 0);
    CHECK(same_regs(regs, before));
}

TEST_CASE("mov x29, sp") {
    const Regs regs = sample_regs();
    Regs want = moved_to(regs, kAddr + 4);
    want.x[29] = kStack;
    expect_effect(0x910003fd, regs, want); // mov x29, sp
}

TEST_CASE("a non-simulated instruction changes nothing") {
    DecodedInsn d = must_decode(0x8b020020); // add x0, x1, x2
    REQUIRE(d.strategy == Strategy::Boosted);
    Regs regs = sample_regs();
    const Regs before = regs;
    SimResult r = simulate(d, regs, {});
    CHECK(r.write_count == 0);
    CHECK(same_regs(regs, before));
}
