#include "daemon/reentry_points.h"
#include "tests/unit/map_entries.h"

#include <doctest/doctest.h>

using namespace probed;
using probed::testing::mapping;

namespace {

// A thread stack at [0x10000, 0x20000) and a sigaltstack mapped right above
// it at [0x20000, 0x21000), a separate mapping.
MappedStackBounds stack_and_altstack() {
    return MappedStackBounds({mapping(0x10000, 0x20000), mapping(0x20000, 0x21000)});
}

constexpr uint64_t kSiteA = 0x401000; // a worker's probed function
constexpr uint64_t kSiteH = 0x402000; // a probed function the handlers call

} // namespace

TEST_CASE("a handler returning to the interrupted hit is that hit, once") {
    auto stacks = stack_and_altstack();
    ReentryPoints points;
    points.add({kSiteA, 0x1fe00, 0});
    CHECK_FALSE(points.take(kSiteA, 0x1f000, stacks)); // a new call of A in the handler
    auto back = points.take(kSiteA, 0x1fe00, stacks);
    REQUIRE(back);
    CHECK(back->stub_pc == 0);
    CHECK(points.empty());
    CHECK_FALSE(points.take(kSiteA, 0x1fe00, stacks)); // the next call is a new one
}

TEST_CASE("nested handlers: an inner interruption does not lose the outer one") {
    // A signal interrupts A's hit; its handler calls H, and a second signal
    // (one the first handler's mask does not block) interrupts H's hit.
    auto stacks = stack_and_altstack();
    ReentryPoints points;
    points.add({kSiteA, 0x1fe00, 0x7000});
    points.add({kSiteH, 0x1f200, 0});
    REQUIRE(points.size() == 2);
    auto inner = points.take(kSiteH, 0x1f200, stacks);
    REQUIRE(inner);
    CHECK(inner->site == kSiteH);
    // The first handler calls H again, lower down: not a re-entry, and
    // below A's point, so A's point stays.
    CHECK_FALSE(points.take(kSiteH, 0x1f100, stacks));
    auto outer = points.take(kSiteA, 0x1fe00, stacks);
    REQUIRE(outer);
    CHECK(outer->stub_pc == 0x7000);
    CHECK(points.empty());
}

TEST_CASE("returning to the outer hit ends the handlers nested inside it") {
    auto stacks = stack_and_altstack();
    ReentryPoints points;
    points.add({kSiteA, 0x1fe00, 0});
    points.add({kSiteH, 0x1f200, 0}); // its handler left by siglongjmp
    REQUIRE(points.take(kSiteA, 0x1fe00, stacks));
    CHECK(points.empty());
}

TEST_CASE("a stop at or above a point on its stack means its handler left another way") {
    auto stacks = stack_and_altstack();
    ReentryPoints points;
    points.add({kSiteA, 0x1fe00, 0});
    points.add({kSiteH, 0x1f200, 0});
    SUBCASE("above the inner point only: the inner handler is gone, the outer is not") {
        CHECK_FALSE(points.take(kSiteH, 0x1f800, stacks));
        REQUIRE(points.size() == 1);
        CHECK(points.take(kSiteA, 0x1fe00, stacks));
    }
    SUBCASE("above the outer point: both are gone") {
        CHECK_FALSE(points.take(kSiteA, 0x1ff00, stacks));
        CHECK(points.empty());
    }
    SUBCASE("at the outer point's stack pointer at another site: gone too") {
        CHECK_FALSE(points.take(kSiteH, 0x1fe00, stacks));
        CHECK(points.empty());
    }
}

TEST_CASE("a handler on a sigaltstack mapped above the stack proves nothing") {
    auto stacks = stack_and_altstack();
    ReentryPoints points;
    points.add({kSiteA, 0x1fe00, 0});
    CHECK_FALSE(points.take(kSiteH, 0x20f00, stacks)); // higher address, other mapping
    REQUIRE(points.size() == 1);
    // A point on the altstack itself, then a stop above it there.
    points.add({kSiteH, 0x20e00, 0});
    CHECK_FALSE(points.take(kSiteH, 0x20f00, stacks));
    REQUIRE(points.size() == 1);
    CHECK(points.take(kSiteA, 0x1fe00, stacks));
}
