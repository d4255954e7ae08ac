#include "daemon/return_trampolines.h"

#include <doctest/doctest.h>

using namespace probed;

TEST_CASE("a process without trampolines knows none") {
    ReturnTrampolines t;
    CHECK_FALSE(t.any());
    CHECK_FALSE(t.is_trampoline(0));
    CHECK(t.for_return(0x401000) == 0);
}

TEST_CASE("calls returning where no dedicated trampoline leads get the generic one") {
    ReturnTrampolines t;
    t.set_generic(0x7f0000000000);
    CHECK(t.any());
    CHECK(t.for_return(0x401000) == 0x7f0000000000);
    CHECK(t.is_trampoline(0x7f0000000000));
    CHECK_FALSE(t.target_of(0x7f0000000000).has_value()); // the generic one leads nowhere itself
}

TEST_CASE("a dedicated trampoline is found by its target and leads back to it") {
    ReturnTrampolines t;
    t.set_generic(0x7f0000000000);
    t.add(0x401000, 0x7f0000000020);
    t.add(0x401100, 0x7f0000000040);
    CHECK(t.dedicated_count() == 2);
    CHECK(t.for_return(0x401000) == 0x7f0000000020);
    CHECK(t.for_return(0x401100) == 0x7f0000000040);
    CHECK(t.target_of(0x7f0000000040) == 0x401100);
    CHECK(t.is_trampoline(0x7f0000000020));
    CHECK_FALSE(t.is_trampoline(0x7f0000000021)); // inside, not at its start
    // Any PC within its code: a thread between the trap and the jump.
    CHECK(t.dedicated_holding(0x7f0000000021, 32) == 0x7f0000000020);
    CHECK(t.dedicated_holding(0x7f0000000040 + 31, 32) == 0x7f0000000040);
    CHECK_FALSE(t.dedicated_holding(0x7f0000000060, 32).has_value());
    CHECK_FALSE(t.dedicated_holding(0x7f0000000010, 32).has_value()); // the generic one's slot
    t.clear();
    CHECK_FALSE(t.any());
    CHECK(t.dedicated_count() == 0);
    CHECK_FALSE(t.is_trampoline(0x7f0000000020));
}
