// Whether x30 is signed at a PC, from the code ahead
// (arch/arm64/arm64_link_state.h): the decision a detach needs when a
// hijacked x30 reads as the plain trampoline address.
#include "arch/arm64/arm64_link_state.h"

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <map>

using namespace probed::arch;
using namespace probed::arch::arm64;

namespace {

constexpr uint64_t kCode = 0x400100;

// Code laid out from kCode, a word per instruction; nothing readable elsewhere.
class Code {
public:
    Code(std::initializer_list<uint32_t> words, uint64_t at = kCode) { add(words, at); }
    void add(std::initializer_list<uint32_t> words, uint64_t at) {
        for (uint32_t w : words) {
            words_[at] = w;
            at += 4;
        }
    }
    LinkState at(uint64_t pc) const {
        return link_register_state(pc, [this](uint64_t a) -> std::optional<std::array<uint8_t, 4>> {
            auto it = words_.find(a);
            if (it == words_.end()) return std::nullopt;
            const uint32_t w = it->second;
            return std::array<uint8_t, 4>{static_cast<uint8_t>(w), static_cast<uint8_t>(w >> 8),
                                          static_cast<uint8_t>(w >> 16),
                                          static_cast<uint8_t>(w >> 24)};
        });
    }

private:
    std::map<uint64_t, uint32_t> words_;
};

uint64_t insn(unsigned n) {
    return kCode + 4ull * n;
}

} // namespace

TEST_CASE("a leaf signed with pac-ret+leaf: plain at the entry, signed inside, plain at the ret") {
    const Code leaf({
        0xd503233f, // 0  paciasp
        0x91000400, // 1  add x0, x0, #1
        0xd50323bf, // 2  autiasp
        0xd65f03c0, // 3  ret
    });
    CHECK(leaf.at(insn(0)) == LinkState::Plain);  // paciasp has not run
    CHECK(leaf.at(insn(1)) == LinkState::Signed); // autiasp comes first
    CHECK(leaf.at(insn(2)) == LinkState::Signed);
    CHECK(leaf.at(insn(3)) == LinkState::Plain);  // autiasp has run
}

TEST_CASE("the B key, the zero-modifier forms and retaa/retab") {
    CHECK(Code({0xd503237f, 0xd50323ff, 0xd65f03c0}).at(insn(0)) == LinkState::Plain);  // pacibsp; autibsp; ret
    CHECK(Code({0xd503237f, 0xd50323ff, 0xd65f03c0}).at(insn(1)) == LinkState::Signed);
    CHECK(Code({0xd503231f}).at(insn(0)) == LinkState::Plain);                          // paciaz
    CHECK(Code({0xd503239f, 0xd65f03c0}).at(insn(0)) == LinkState::Signed);             // autiaz; ret
    CHECK(Code({0xd50323df, 0xd65f03c0}).at(insn(0)) == LinkState::Signed);             // autibz; ret
    CHECK(Code({0x91000400, 0xd65f0bff}).at(insn(0)) == LinkState::Signed);             // add; retaa
    CHECK(Code({0x91000400, 0xd65f0fff}).at(insn(0)) == LinkState::Signed);             // add; retab
}

TEST_CASE("a leaf that waits in a loop and a system call: every path reaches autiasp") {
    const Code leaf({
        0xd503233f, // 0  paciasp
        0xb9400001, // 1  ldr w1, [x0]
        0x35000061, // 2  cbnz w1, 5
        0xd4000001, // 3  svc #0           (returns to the next instruction)
        0x17fffffd, // 4  b 1
        0xd50323bf, // 5  autiasp
        0xd65f03c0, // 6  ret
    });
    for (unsigned i = 1; i <= 5; ++i) {
        CAPTURE(i);
        CHECK(leaf.at(insn(i)) == LinkState::Signed);
    }
}

TEST_CASE("a frame record and a call: x30 is overwritten before any use") {
    const Code fn({
        0xd503233f, // 0  paciasp
        0xa9bf7bfd, // 1  stp x29, x30, [sp, #-16]!   (a store: x30 unchanged)
        0x910003fd, // 2  mov x29, sp
        0x94000040, // 3  bl +0x100
        0xa8c17bfd, // 4  ldp x29, x30, [sp], #16
        0xd50323bf, // 5  autiasp
        0xd65f03c0, // 6  ret
    });
    CHECK(fn.at(insn(1)) == LinkState::Unknown); // bl overwrites it: nothing to tell
    CHECK(fn.at(insn(4)) == LinkState::Unknown); // ldp replaces it
    CHECK(fn.at(insn(5)) == LinkState::Signed);  // the reloaded copy is signed
    CHECK(Code({0xaa0003fe, 0xd65f03c0}).at(insn(0)) == LinkState::Unknown); // mov x30, x0; ret
    CHECK(Code({0xd63f0200, 0xd65f03c0}).at(insn(0)) == LinkState::Unknown); // blr x16; ret
}

TEST_CASE("a tail call after autiasp reaches a callee that signs again: plain") {
    Code code({
        0xd50323bf, // 0  autiasp
        0x14000040, // 1  b +0x100
    });
    code.add({
                 0xd503233f, // paciasp   (the callee's entry)
                 0xd50323bf, // autiasp
                 0xd65f03c0, // ret
             },
             insn(1) + 0x100);
    CHECK(code.at(insn(1)) == LinkState::Plain);
    CHECK(code.at(insn(0)) == LinkState::Signed);
}

TEST_CASE("paths that disagree, leave through a register, or cannot be read say nothing") {
    const Code split({
        0x34000041, // 0  cbz w1, 2
        0xd65f03c0, // 1  ret
        0xd50323bf, // 2  autiasp
        0xd65f03c0, // 3  ret
    });
    CHECK(split.at(insn(0)) == LinkState::Unknown);
    CHECK(Code({0xd61f0200}).at(insn(0)) == LinkState::Unknown);             // br x16
    CHECK(Code({0xd65f0020}).at(insn(0)) == LinkState::Unknown);             // ret x1
    CHECK(Code({0x91000400}).at(insn(0)) == LinkState::Unknown);             // add; then nothing readable
    CHECK(Code({0xd4200000, 0xd65f03c0}).at(insn(0)) == LinkState::Unknown); // brk #0; ret
}

TEST_CASE("a path that agrees with one that says nothing decides") {
    const Code code({
        0x34000041, // 0  cbz w1, 2
        0xd61f0200, // 1  br x16
        0xd50323bf, // 2  autiasp
        0xd65f03c0, // 3  ret
    });
    CHECK(code.at(insn(0)) == LinkState::Signed);
}

TEST_CASE("a loop with no way out ends the scan") {
    CHECK(Code({0x14000000}).at(insn(0)) == LinkState::Unknown); // b .
    // A long straight run: the scan stops at its bound before the autiasp.
    Code longrun({});
    for (unsigned i = 0; i < kLinkScanWords; ++i) longrun.add({0x91000400}, insn(i));
    longrun.add({0xd50323bf, 0xd65f03c0}, insn(kLinkScanWords));
    CHECK(longrun.at(insn(0)) == LinkState::Unknown);
    CHECK(longrun.at(insn(2)) == LinkState::Signed);
}
