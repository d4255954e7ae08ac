#include "daemon/return_address_fixup.h"

#include <doctest/doctest.h>

using namespace probed;

namespace {

constexpr uint64_t kTrampoline = 0x7f0000001000;
constexpr uint64_t kOuterEntrySp = 0x7ffd0100;
constexpr uint64_t kInnerEntrySp = 0x7ffd0040;
constexpr uint64_t kSp = 0x7ffd0000; // the thread's stack pointer, in the inner frame's callee

ReturnTrampolines generic(uint64_t address) {
    ReturnTrampolines t;
    t.set_generic(address);
    return t;
}

ShadowStack two_hijacked_frames() {
    ShadowStack s;
    ShadowFrame outer;
    outer.return_address = 0x401234;
    outer.entry_sp = kOuterEntrySp;
    s.push(outer);
    ShadowFrame inner;
    inner.return_address = 0x401300;
    inner.entry_sp = kInnerEntrySp;
    s.push(inner);
    return s;
}

} // namespace

#if defined(__x86_64__)

TEST_CASE("x86_64: the trampoline in a hijacked slot reads as that slot's true return address") {
    ShadowStack s = two_hijacked_frames();
    const ReturnTrampolines tramps = generic(kTrampoline);
    ReturnAddressFixup fix(tramps, s, kSp);
    // The slot is the word `call` pushed, at the entry stack pointer; matched
    // by address, whichever order the unwinder reads them in.
    CHECK(fix.apply(kOuterEntrySp, kTrampoline) == 0x401234);
    CHECK(fix.apply(kInnerEntrySp, kTrampoline) == 0x401300);
}

TEST_CASE("x86_64: other words, and the trampoline outside hijacked slots, are left alone") {
    ShadowStack s = two_hijacked_frames();
    const ReturnTrampolines tramps = generic(kTrampoline);
    ReturnAddressFixup fix(tramps, s, kSp);
    CHECK(fix.apply(kOuterEntrySp, 0x401234) == 0x401234); // already restored
    CHECK(fix.apply(0x7ffd0080, kTrampoline) == kTrampoline); // a stale copy elsewhere
    CHECK(fix.apply(kInnerEntrySp + 8, kTrampoline) == kTrampoline);
    CHECK(fix.apply(kInnerEntrySp, 0x12345) == 0x12345);
    // No link register: a register holding the trampoline is not a slot.
    CHECK(fix.apply_link_register(kTrampoline) == kTrampoline);
}

TEST_CASE("x86_64: a dedicated trampoline in a hijacked slot reads as that slot's true return address") {
    constexpr uint64_t kDedicated = kTrampoline + 0x20;
    ShadowStack s = two_hijacked_frames();
    ReturnTrampolines tramps = generic(kTrampoline);
    tramps.add(0x401300, kDedicated);
    ReturnAddressFixup fix(tramps, s, kSp);
    CHECK(fix.apply(kInnerEntrySp, kDedicated) == 0x401300);
    CHECK(fix.apply(kOuterEntrySp, kTrampoline) == 0x401234); // the generic one still works
    CHECK(fix.apply(0x7ffd0080, kDedicated) == kDedicated);   // not a hijacked slot
    CHECK(fix.apply(kInnerEntrySp, kDedicated + 1) == kDedicated + 1); // not a trampoline
}

#elif defined(__aarch64__)

TEST_CASE("arm64: a spilled x30 holding the trampoline reads as its frame's true return address") {
    ShadowStack s = two_hijacked_frames();
    const ReturnTrampolines tramps = generic(kTrampoline);
    ReturnAddressFixup fix(tramps, s, kSp);
    // `stp x29, x30, [sp, #-16]!` at entry puts x30 at entry_sp - 8; any
    // spill lands in the callee's own frame: below its entry sp, above the
    // next newer frame's (or the thread's) sp.
    CHECK(fix.apply(kOuterEntrySp - 8, kTrampoline) == 0x401234);
    CHECK(fix.apply(kInnerEntrySp + 0x10, kTrampoline) == 0x401234);
    CHECK(fix.apply(kInnerEntrySp - 8, kTrampoline) == 0x401300);
    CHECK(fix.apply(kSp, kTrampoline) == 0x401300);
}

TEST_CASE("arm64: the trampoline outside the hijacked frames, or another word, is left alone") {
    ShadowStack s = two_hijacked_frames();
    const ReturnTrampolines tramps = generic(kTrampoline);
    ReturnAddressFixup fix(tramps, s, kSp);
    CHECK(fix.apply(kSp - 8, kTrampoline) == kTrampoline);          // below sp: dead
    CHECK(fix.apply(kOuterEntrySp, kTrampoline) == kTrampoline);    // the outer's caller's frame
    CHECK(fix.apply(kOuterEntrySp - 8, 0x401234) == 0x401234);      // already restored
}

TEST_CASE("arm64: x30 holding the trampoline is the newest frame's, signed or not") {
    ShadowStack s = two_hijacked_frames();
    constexpr uint64_t kPacMask = 0xff7f000000000000;
    const ReturnTrampolines tramps = generic(kTrampoline);
    ReturnAddressFixup fix(tramps, s, kSp, kPacMask);
    CHECK(fix.apply_link_register(kTrampoline) == 0x401300);
    // paciasp signed the hijacked x30 before the callee spilled it.
    CHECK(fix.apply(kOuterEntrySp - 8, kTrampoline | 0x002a000000000000) == 0x401234);
    CHECK(fix.apply_link_register(0x401300) == 0x401300);
}

#endif

TEST_CASE("at a function's first instruction the frame is keyed by its entry stack pointer") {
    ShadowStack s = two_hijacked_frames();
    const ReturnTrampolines tramps = generic(kTrampoline);
    ReturnAddressFixup fix(tramps, s, kInnerEntrySp);
    CHECK(fix.apply_at_entry(kInnerEntrySp, kTrampoline) == 0x401300);
    CHECK(fix.apply_at_entry(kInnerEntrySp - 16, kTrampoline) == kTrampoline);
    CHECK(fix.apply_at_entry(kOuterEntrySp, 0x5555) == 0x5555);
}

TEST_CASE("a process without a trampoline translates nothing") {
    ShadowStack s = two_hijacked_frames();
    const ReturnTrampolines tramps;
    ReturnAddressFixup fix(tramps, s, kSp);
    CHECK(fix.apply(kOuterEntrySp, 0) == 0);
    CHECK(fix.apply_link_register(0) == 0);
    CHECK(fix.apply_at_entry(kInnerEntrySp, 0) == 0);
}
