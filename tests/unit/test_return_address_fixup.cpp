#include "daemon/return_address_fixup.h"

#include <doctest/doctest.h>

using namespace probed;

namespace {

constexpr uint64_t kTrampoline = 0x7f0000001000;

ShadowStack two_hijacked_frames() {
    ShadowStack s;
    ShadowFrame outer;
    outer.return_address = 0x401234;
    outer.entry_sp = 0x7ffd0100;
    s.push(outer);
    ShadowFrame inner;
    inner.return_address = 0x401300;
    inner.entry_sp = 0x7ffd0040;
    s.push(inner);
    return s;
}

} // namespace

TEST_CASE("the trampoline in a hijacked slot reads as that slot's true return address") {
    ShadowStack s = two_hijacked_frames();
    ReturnAddressFixup fix(kTrampoline, s);
    // Matched by slot address, whichever order the unwinder reads them in.
    CHECK(fix.apply(0x7ffd0100, kTrampoline) == 0x401234);
    CHECK(fix.apply(0x7ffd0040, kTrampoline) == 0x401300);
    CHECK(fix.translated(0x7ffd0100));
    CHECK(fix.translated(0x7ffd0040));
}

TEST_CASE("other words, and the trampoline outside hijacked slots, are left alone") {
    ShadowStack s = two_hijacked_frames();
    ReturnAddressFixup fix(kTrampoline, s);
    CHECK(fix.apply(0x7ffd0100, 0x401234) == 0x401234); // already restored
    CHECK(fix.apply(0x7ffd0080, kTrampoline) == kTrampoline); // a stale copy elsewhere
    CHECK(fix.apply(0x7ffd0040, 0x12345) == 0x12345);
    CHECK_FALSE(fix.translated(0x7ffd0100));
    CHECK_FALSE(fix.translated(0x7ffd0080));
    CHECK_FALSE(fix.translated(0x7ffd0040));
}

TEST_CASE("a process without a trampoline translates nothing") {
    ShadowStack s = two_hijacked_frames();
    ReturnAddressFixup fix(0, s);
    CHECK(fix.apply(0x7ffd0100, 0) == 0);
    CHECK_FALSE(fix.translated(0x7ffd0100));
}
