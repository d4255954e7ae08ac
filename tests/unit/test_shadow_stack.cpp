#include "daemon/shadow_stack.h"
#include "tests/unit/map_entries.h"

#include <doctest/doctest.h>

using namespace probed;
using probed::testing::mapping;

namespace {

ShadowFrame frame(uint64_t ret, uint64_t sp) {
    ShadowFrame f;
    f.return_address = ret;
    f.entry_sp = sp;
    return f;
}

// One thread stack mapped at [0x1000, 0x10000): the frames of the simple cases.
MappedStackBounds one_stack() { return MappedStackBounds({mapping(0x1000, 0x10000)}); }

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
    auto stacks = one_stack();
    s.pop_dead(0x7e00, stacks, true, dead); // new call with its return address at 0x7e00
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
    auto stacks = one_stack();
    s.pop_dead(0x7e00, stacks, false, dead); // an instruction after its first
    CHECK(dead.empty());
    CHECK(s.size() == 2);
    s.pop_dead(0x7e08, stacks, false, dead); // above it: it has been left
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].return_address == 0x2000);
    CHECK(s.size() == 1);
}

// Counts the questions (each could cost a read of /proc/PID/maps).
struct CountingBounds : StackBounds {
    int asked = 0;
    bool same_stack(uint64_t, uint64_t) override { return ++asked, true; }
};

TEST_CASE("a call deeper than every pending frame asks nothing about stacks") {
    // The common hit: no frame can be dead, so the maps are never read.
    CountingBounds stacks;
    ShadowStack s;
    s.push(frame(0x1000, 0x7f00));
    s.push(frame(0x2000, 0x7e00));
    std::vector<ShadowFrame> dead;
    s.pop_dead(0x7d00, stacks, true, dead);
    s.pop_dead(0x7e00, stacks, false, dead);
    CHECK(stacks.asked == 0);
    CHECK(dead.empty());
    s.pop_dead(0x7e00, stacks, true, dead); // now one could be: asked
    CHECK(stacks.asked > 0);
    CHECK(dead.size() == 1);
}

TEST_CASE("a frame removed out of order: the quick check follows") {
    ShadowStack s;
    s.push(frame(0x1000, 0x7f00));
    s.push(frame(0x2000, 0x7000)); // lowest, removed below
    s.push(frame(0x3000, 0x7e00)); // on another stack, say
    std::vector<ShadowFrame> dead;
    CountingBounds stacks;
    s.pop_dead(0x7d00, stacks, true, dead); // 0x7000 could be dead: asked
    CHECK(stacks.asked > 0);
    CHECK(s.remove(1).return_address == 0x2000);
    REQUIRE(s.size() == 2);
    CHECK(s.frames()[1].return_address == 0x3000);
    stacks.asked = 0;
    s.pop_dead(0x7d00, stacks, true, dead);
    CHECK(stacks.asked == 0);
    s.pop_newest();
    s.pop_dead(0x7e00, stacks, true, dead); // only 0x7f00 left, above
    CHECK(stacks.asked == 0);
    CHECK(dead.empty());
}

TEST_CASE("a call on another stack mapping (sigaltstack) kills nothing") {
    MappedStackBounds stacks({mapping(0x1000, 0x11000), mapping(0x4000000, 0x4010000)});
    ShadowStack s;
    s.push(frame(0x1000, 0x10000));
    std::vector<ShadowFrame> dead;
    s.pop_dead(0x4008000, stacks, true, dead);
    CHECK(dead.empty());
    CHECK(s.size() == 1);
    s.pop_dead(0x9000, stacks, true, dead); // deeper: the frame is alive
    CHECK(dead.empty());
}

TEST_CASE("a sigaltstack mapped just above the thread's stack is another stack") {
    // Thread stack [0x100000, 0x140000), a PROT_NONE guard page, the
    // altstack right above: a handler's call there is above the interrupted
    // frames and a few KiB away, yet kills none of them.
    MappedStackBounds stacks({mapping(0x100000, 0x140000), mapping(0x140000, 0x141000, "---p"),
                              mapping(0x141000, 0x151000)});
    ShadowStack s;
    s.push(frame(0x1000, 0x13ff00)); // sig_outer
    s.push(frame(0x2000, 0x13fe00)); // sig_middle, interrupted
    std::vector<ShadowFrame> dead;
    s.pop_dead(0x150f00, stacks, true, dead); // handler_work on the altstack
    CHECK(dead.empty());
    s.push(frame(0x3000, 0x150f00));
    // The handler's frame is left by siglongjmp; the next call back on the
    // thread's stack at sig_outer's slot proves all three dead, the newer
    // altstack frame (higher, but another mapping) included.
    s.pop_dead(0x13ff00, stacks, true, dead);
    REQUIRE(dead.size() == 3);
    CHECK(dead[0].return_address == 0x3000);
    CHECK(dead[1].return_address == 0x2000);
    CHECK(dead[2].return_address == 0x1000);
    // The distance rule took the altstack for the thread's stack.
    StackSpanBounds span(kFallbackStackSpan);
    CHECK(span.same_stack(0x150f00, 0x13ff00));
}

TEST_CASE("the main thread's stack grows down: below [stack] is still on it") {
    std::vector<MapEntry> maps = {mapping(0x100000, 0x200000), mapping(0x7f0000, 0x800000, "rw-p", "[stack]")};
    MappedStackBounds stacks(maps);
    CHECK(stacks.same_stack(0x7ef000, 0x7fff00)); // not mapped yet, but where [stack] grows
    CHECK_FALSE(stacks.same_stack(0x1ff000, 0x7fff00));
    CHECK_FALSE(stacks.same_stack(0x80, 0x90)); // nothing mapped and not below [stack]
    CHECK(stack_region(maps, 0x7ef000) == StackRegion{0x7f0000, 0x800000});
    CHECK_FALSE(stack_region(maps, 0x50));
}

TEST_CASE("a live process's bounds: its maps read once, the distance rule without them") {
    int reads = 0;
    ProcessStackBounds mapped([&reads]() -> Result<std::vector<MapEntry>> {
        ++reads;
        return std::vector<MapEntry>{mapping(0x100000, 0x140000), mapping(0x141000, 0x151000)};
    });
    CHECK(reads == 0); // the common hit path never asks
    CHECK_FALSE(mapped.same_stack(0x13ff00, 0x150f00));
    CHECK(mapped.same_stack(0x13ff00, 0x13fe00));
    CHECK(reads == 1);
    // No mappings (a main thread that has just left shows none) and none
    // readable (the process is gone): the distance rule, not "never the same".
    ProcessStackBounds empty([]() -> Result<std::vector<MapEntry>> {
        return std::vector<MapEntry>{};
    });
    CHECK(empty.same_stack(0x13ff00, 0x150f00));
    ProcessStackBounds gone([]() -> Result<std::vector<MapEntry>> {
        return Error::from_errno("read /proc/1/maps", ESRCH);
    });
    CHECK(gone.same_stack(0x13ff00, 0x13fe00));
    CHECK_FALSE(gone.same_stack(0x13ff00, 0x13ff00 + kFallbackStackSpan));
}

TEST_CASE("siglongjmp out of a sigaltstack handler: frames on both stacks are dead") {
    constexpr uint64_t kAlt = 0x20000;                   // the handler's stack, far below
    constexpr uint64_t kMain = 0x7ff000000000;           // the thread's stack
    MappedStackBounds stacks({mapping(kAlt - 0x10000, kAlt), mapping(kMain - 0x100000, kMain)});
    ShadowStack s;
    s.push(frame(0x1000, kMain - 0x100)); // sig_outer
    s.push(frame(0x2000, kMain - 0x200)); // sig_middle, interrupted by the signal
    s.push(frame(0x3000, kAlt - 0x80));   // jump_from_handler, on the altstack
    std::vector<ShadowFrame> dead;
    // Inside the handler: a call on the altstack leaves the main stack alone.
    s.pop_dead(kAlt - 0x40, stacks, true, dead);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].return_address == 0x3000);
    s.push(frame(0x3000, kAlt - 0x80));
    dead.clear();
    // Back in main() after the jump, the next call sits where sig_outer's
    // return address was: all three are gone, the altstack frame included.
    s.pop_dead(kMain - 0x100, stacks, true, dead);
    REQUIRE(dead.size() == 3);
    CHECK(dead[0].return_address == 0x3000); // newest first
    CHECK(dead[1].return_address == 0x2000);
    CHECK(dead[2].return_address == 0x1000);
    CHECK(s.empty());
}

TEST_CASE("frames on another stack above live frames of this one stay") {
    MappedStackBounds stacks({mapping(0x10000, 0x30000), mapping(0x7fef00000000, 0x7ff000000001)});
    ShadowStack s;
    s.push(frame(0x1000, 0x7ff000000000)); // main stack, alive
    s.push(frame(0x2000, 0x20000));        // a handler's frame on the altstack
    std::vector<ShadowFrame> dead;
    s.pop_dead(0x7ff000000000 - 0x400, stacks, true, dead); // deeper on the main stack
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
