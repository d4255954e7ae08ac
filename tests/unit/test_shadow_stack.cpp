#include "daemon/shadow_stack.h"

#include <doctest/doctest.h>

using namespace probed;

namespace {

ShadowFrame frame(uint64_t ret, uint64_t sp) {
    ShadowFrame f;
    f.return_address = ret;
    f.entry_sp = sp;
    return f;
}

} // namespace

TEST_CASE("returns match frames by stack pointer, not position") {
    ShadowStack s;
    s.push(frame(0x1000, 0x7f00)); // outer
    s.push(frame(0x2000, 0x7e00)); // inner
    std::vector<ShadowFrame> abandoned;
    auto inner = s.pop_returning(0x7e00, abandoned);
    REQUIRE(inner);
    CHECK(inner->return_address == 0x2000);
    CHECK(abandoned.empty());
    auto outer = s.pop_returning(0x7f00, abandoned);
    REQUIRE(outer);
    CHECK(outer->return_address == 0x1000);
    CHECK(s.empty());
}

TEST_CASE("frames above the returning one were skipped by longjmp") {
    ShadowStack s;
    s.push(frame(0x1000, 0x7f00));
    s.push(frame(0x2000, 0x7e00));
    s.push(frame(0x3000, 0x7d00));
    std::vector<ShadowFrame> abandoned;
    auto outer = s.pop_returning(0x7f00, abandoned);
    REQUIRE(outer);
    CHECK(outer->return_address == 0x1000);
    REQUIRE(abandoned.size() == 2);
    CHECK(abandoned[0].return_address == 0x3000); // newest first
    CHECK(abandoned[1].return_address == 0x2000);
    CHECK(s.empty());
}

TEST_CASE("no matching frame leaves the stack untouched") {
    ShadowStack s;
    s.push(frame(0x1000, 0x7f00));
    std::vector<ShadowFrame> abandoned;
    CHECK_FALSE(s.pop_returning(0x7a00, abandoned));
    CHECK(s.size() == 1);
    CHECK(abandoned.empty());
}

TEST_CASE("recursion: equal return addresses, distinct stack pointers") {
    ShadowStack s;
    for (uint64_t depth = 0; depth < 1000; ++depth) s.push(frame(0x4000, 0x80000 - depth * 32));
    std::vector<ShadowFrame> abandoned;
    for (uint64_t depth = 1000; depth-- > 0;) {
        auto f = s.pop_returning(0x80000 - depth * 32, abandoned);
        REQUIRE(f);
        CHECK(f->entry_sp == 0x80000 - depth * 32);
    }
    CHECK(abandoned.empty());
}

TEST_CASE("a new call at or above a frame's slot proves the frame dead") {
    ShadowStack s;
    s.push(frame(0x1000, 0x7f00)); // live caller
    s.push(frame(0x2000, 0x7e00)); // unwound by longjmp
    s.push(frame(0x3000, 0x7d00)); // unwound by longjmp
    std::vector<ShadowFrame> dead;
    s.pop_dead(0x7e00, 16 << 20, true, dead); // new call with its return address at 0x7e00
    REQUIRE(dead.size() == 2);
    CHECK(dead[0].return_address == 0x3000);
    CHECK(dead[1].return_address == 0x2000);
    REQUIRE(s.size() == 1);
    CHECK(s.frames()[0].return_address == 0x1000);
}

TEST_CASE("a hit inside a function at its own frame's entry sp kills nothing") {
    ShadowStack s;
    s.push(frame(0x1000, 0x7f00));
    s.push(frame(0x2000, 0x7e00)); // the function being run, its sp not moved yet
    std::vector<ShadowFrame> dead;
    s.pop_dead(0x7e00, 16 << 20, false, dead); // an instruction after its first
    CHECK(dead.empty());
    CHECK(s.size() == 2);
    s.pop_dead(0x7e08, 16 << 20, false, dead); // above it: it has been left
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].return_address == 0x2000);
    CHECK(s.size() == 1);
}

TEST_CASE("a call on a distant stack (sigaltstack) kills nothing") {
    ShadowStack s;
    s.push(frame(0x1000, 0x10000));
    std::vector<ShadowFrame> dead;
    s.pop_dead(0x10000 + (64ull << 20), 16 << 20, true, dead);
    CHECK(dead.empty());
    CHECK(s.size() == 1);
    s.pop_dead(0x9000, 16 << 20, true, dead); // deeper: the frame is alive
    CHECK(dead.empty());
}

TEST_CASE("siglongjmp out of a sigaltstack handler: frames on both stacks are dead") {
    constexpr uint64_t kSpan = 16 << 20;
    constexpr uint64_t kAlt = 0x10000;                   // the handler's stack, far below
    constexpr uint64_t kMain = 0x7ff000000000;           // the thread's stack
    ShadowStack s;
    s.push(frame(0x1000, kMain - 0x100)); // sig_outer
    s.push(frame(0x2000, kMain - 0x200)); // sig_middle, interrupted by the signal
    s.push(frame(0x3000, kAlt - 0x80));   // jump_from_handler, on the altstack
    std::vector<ShadowFrame> dead;
    // Inside the handler: a call on the altstack leaves the main stack alone.
    s.pop_dead(kAlt - 0x40, kSpan, true, dead);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].return_address == 0x3000);
    s.push(frame(0x3000, kAlt - 0x80));
    dead.clear();
    // Back in main() after the jump, the next call sits where sig_outer's
    // return address was: all three are gone, the altstack frame included.
    s.pop_dead(kMain - 0x100, kSpan, true, dead);
    REQUIRE(dead.size() == 3);
    CHECK(dead[0].return_address == 0x3000); // newest first
    CHECK(dead[1].return_address == 0x2000);
    CHECK(dead[2].return_address == 0x1000);
    CHECK(s.empty());
}

TEST_CASE("frames on another stack above live frames of this one stay") {
    constexpr uint64_t kSpan = 16 << 20;
    ShadowStack s;
    s.push(frame(0x1000, 0x7ff000000000)); // main stack, alive
    s.push(frame(0x2000, 0x20000));        // a handler's frame on the altstack
    std::vector<ShadowFrame> dead;
    s.pop_dead(0x7ff000000000 - 0x400, kSpan, true, dead); // deeper on the main stack
    CHECK(dead.empty());
    CHECK(s.size() == 2);
}

TEST_CASE("return_address_for translates a trampoline slot back") {
    ShadowStack s;
    s.push(frame(0x1000, 0x7f00));
    s.push(frame(0x2000, 0x7e00));
    CHECK(s.return_address_for(0x7e00) == 0x2000u);
    CHECK(s.return_address_for(0x7f00) == 0x1000u);
    CHECK_FALSE(s.return_address_for(0x7000));
}
