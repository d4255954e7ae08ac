#include <doctest/doctest.h>

#include "daemon/slot_allocator.h"

#include <set>
#include <vector>

using namespace probed;

namespace {

constexpr size_t kPage = 4096;
constexpr size_t kSlot = 32;
constexpr size_t kSlotsPerPage = kPage / kSlot;
constexpr uint64_t kGiB = 1ull << 30;
constexpr uint64_t kPageA = 0x7f0000000000;

} // namespace

TEST_CASE("a 4096-byte page holds 128 32-byte slots") {
    SlotAllocator alloc(kPage, kSlot);
    CHECK(alloc.free_count() == 0);
    CHECK_FALSE(alloc.allocate(kPageA, 2 * kGiB).has_value());

    alloc.add_page(kPageA);
    REQUIRE(alloc.pages().size() == 1);
    CHECK(alloc.free_count() == kSlotsPerPage);

    std::set<uint64_t> seen;
    for (size_t i = 0; i < kSlotsPerPage; ++i) {
        auto slot = alloc.allocate(kPageA, 2 * kGiB);
        REQUIRE(slot.has_value());
        CHECK(*slot >= kPageA);
        CHECK(*slot + kSlot <= kPageA + kPage);
        CHECK((*slot - kPageA) % kSlot == 0);
        CHECK_FALSE(alloc.is_free(*slot));
        seen.insert(*slot);
    }
    CHECK(seen.size() == kSlotsPerPage);
    CHECK(alloc.free_count() == 0);
    CHECK_FALSE(alloc.allocate(kPageA, 2 * kGiB).has_value());
}

TEST_CASE("adding the same page twice does not duplicate its slots") {
    SlotAllocator alloc(kPage, kSlot);
    alloc.add_page(kPageA);
    alloc.add_page(kPageA);
    CHECK(alloc.pages().size() == 1);
    CHECK(alloc.free_count() == kSlotsPerPage);
}

TEST_CASE("allocate picks a page within max_distance of near") {
    SlotAllocator alloc(kPage, kSlot);
    const uint64_t low = 0x10000000;
    const uint64_t high = low + 3 * kGiB;
    alloc.add_page(low);
    alloc.add_page(high);
    CHECK(alloc.pages() == std::vector<uint64_t>{low, high});

    auto near_high = alloc.allocate(high + 100 * kPage, 2 * kGiB);
    REQUIRE(near_high.has_value());
    CHECK(alloc.owns(*near_high));
    CHECK(*near_high >= high);

    auto near_low = alloc.allocate(low - kPage, 2 * kGiB);
    REQUIRE(near_low.has_value());
    CHECK(*near_low >= low);
    CHECK(*near_low < low + kPage);

    // Halfway between, both pages are 1.5 GiB away: the first added wins.
    auto middle = alloc.allocate(low + 3 * kGiB / 2, 2 * kGiB);
    REQUIRE(middle.has_value());
    CHECK(*middle < low + kPage);

    // Far from both.
    CHECK_FALSE(alloc.allocate(high + 3 * kGiB, 2 * kGiB).has_value());
    CHECK(alloc.allocate(0, 2 * kGiB).has_value()); // low is within 2 GiB of 0
}

TEST_CASE("every byte of the page must be within max_distance") {
    SlotAllocator alloc(kPage, kSlot);
    alloc.add_page(kPageA);
    // The page start is exactly max_distance below near, but its end is further.
    const uint64_t near = kPageA + kPage - 1 + 1000;
    CHECK_FALSE(alloc.allocate(near, 999 + kPage - 1).has_value());
    CHECK(alloc.allocate(near, 1000 + kPage - 1).has_value());
    // Same from below: the page end must be reachable too.
    CHECK_FALSE(alloc.allocate(kPageA - 1000, 1000 + kPage - 2).has_value());
    CHECK(alloc.allocate(kPageA - 1000, 1000 + kPage - 1).has_value());
    // Unsigned arithmetic must not wrap for distances near the extremes.
    CHECK(alloc.allocate(~0ull, ~0ull).has_value());
    CHECK_FALSE(alloc.allocate(~0ull, 1ull << 40).has_value());
}

TEST_CASE("reserve marks a specific slot used") {
    SlotAllocator alloc(kPage, kSlot);
    alloc.add_page(kPageA);
    CHECK(alloc.reserve(kPageA));
    CHECK_FALSE(alloc.is_free(kPageA));
    CHECK_FALSE(alloc.reserve(kPageA));           // already used
    CHECK_FALSE(alloc.reserve(kPageA + kPage));   // not ours
    CHECK_FALSE(alloc.reserve(kPageA + kSlot + 1)); // not a slot start
    CHECK(alloc.free_count() == kSlotsPerPage - 1);

    auto slot = alloc.allocate(kPageA, kGiB);
    REQUIRE(slot.has_value());
    CHECK(*slot == kPageA + kSlot);
}

TEST_CASE("release without live threads frees at once") {
    SlotAllocator alloc(kPage, kSlot);
    alloc.add_page(kPageA);
    auto slot = alloc.allocate(kPageA, kGiB);
    REQUIRE(slot.has_value());
    alloc.release(*slot, {});
    CHECK(alloc.is_free(*slot));
    CHECK(alloc.pending_count() == 0);
    CHECK_FALSE(alloc.has_pending());
    CHECK(alloc.free_count() == kSlotsPerPage);
}

TEST_CASE("a released slot waits for every live thread to be seen outside it") {
    SlotAllocator alloc(kPage, kSlot);
    alloc.add_page(kPageA);
    auto slot = alloc.allocate(kPageA, kGiB);
    REQUIRE(slot.has_value());

    alloc.release(*slot, {1, 2});
    CHECK_FALSE(alloc.is_free(*slot));
    CHECK(alloc.has_pending());
    CHECK(alloc.pending_count() == 1);
    CHECK(alloc.free_count() == kSlotsPerPage - 1);

    alloc.observe(1, *slot + 4); // thread 1 is still inside
    CHECK_FALSE(alloc.is_free(*slot));
    alloc.observe(1, *slot + kSlot - 1);
    CHECK_FALSE(alloc.is_free(*slot));

    alloc.observe(1, *slot + kSlot); // first byte past the slot is outside
    CHECK_FALSE(alloc.is_free(*slot)); // thread 2 not seen yet
    alloc.observe(3, 0x1234);           // unrelated thread changes nothing
    CHECK_FALSE(alloc.is_free(*slot));

    alloc.observe(2, 0x401000);
    CHECK(alloc.is_free(*slot));
    CHECK(alloc.pending_count() == 0);
    CHECK(alloc.free_count() == kSlotsPerPage);
}

TEST_CASE("a thread seen inside, then outside, counts only once outside") {
    SlotAllocator alloc(kPage, kSlot);
    alloc.add_page(kPageA);
    auto slot = alloc.allocate(kPageA, kGiB);
    REQUIRE(slot.has_value());
    alloc.release(*slot, {7});
    alloc.observe(7, *slot);
    CHECK_FALSE(alloc.is_free(*slot));
    alloc.observe(7, *slot - 1);
    CHECK(alloc.is_free(*slot));
}

TEST_CASE("thread_exited releases the slots it held back") {
    SlotAllocator alloc(kPage, kSlot);
    alloc.add_page(kPageA);
    auto a = alloc.allocate(kPageA, kGiB);
    auto b = alloc.allocate(kPageA, kGiB);
    REQUIRE(a.has_value());
    REQUIRE(b.has_value());

    alloc.release(*a, {1, 2});
    alloc.release(*b, {2});
    CHECK(alloc.pending_count() == 2);

    alloc.thread_exited(2);
    CHECK(alloc.is_free(*b));
    CHECK_FALSE(alloc.is_free(*a));
    CHECK(alloc.pending_count() == 1);

    alloc.thread_exited(1);
    CHECK(alloc.is_free(*a));
    CHECK_FALSE(alloc.has_pending());
}

TEST_CASE("double release neither frees early nor duplicates") {
    SlotAllocator alloc(kPage, kSlot);
    alloc.add_page(kPageA);
    auto slot = alloc.allocate(kPageA, kGiB);
    REQUIRE(slot.has_value());
    alloc.release(*slot, {1});
    alloc.release(*slot, {});
    CHECK_FALSE(alloc.is_free(*slot));
    CHECK(alloc.pending_count() == 1);
}

TEST_CASE("remove_page refuses while a slot is used or pending") {
    SlotAllocator alloc(kPage, kSlot);
    const uint64_t other = kPageA + 16 * kPage;
    alloc.add_page(kPageA);
    alloc.add_page(other);

    CHECK_FALSE(alloc.remove_page(kPageA + kPage)); // not ours

    auto slot = alloc.allocate(kPageA, kGiB);
    REQUIRE(slot.has_value());
    CHECK_FALSE(alloc.remove_page(kPageA)); // used

    alloc.release(*slot, {5});
    CHECK_FALSE(alloc.remove_page(kPageA)); // pending

    alloc.observe(5, 0);
    CHECK(alloc.remove_page(kPageA));
    CHECK(alloc.pages() == std::vector<uint64_t>{other});
    CHECK_FALSE(alloc.owns(kPageA));
    CHECK(alloc.free_count() == kSlotsPerPage);

    // The remaining page still works after the one before it is gone.
    CHECK(alloc.reserve(other + kSlot));
    auto next = alloc.allocate(other, kGiB);
    REQUIRE(next.has_value());
    CHECK(*next == other);
}

TEST_CASE("owns covers exactly the pages") {
    SlotAllocator alloc(kPage, kSlot);
    alloc.add_page(kPageA);
    CHECK(alloc.owns(kPageA));
    CHECK(alloc.owns(kPageA + kPage - 1));
    CHECK_FALSE(alloc.owns(kPageA + kPage));
    CHECK_FALSE(alloc.owns(kPageA - 1));
    CHECK_FALSE(alloc.is_free(kPageA + kPage)); // not ours, so not free
}

TEST_CASE("allocate_run takes adjacent free slots and skips runs broken by used ones") {
    SlotAllocator alloc(kPage, kSlot);
    alloc.add_page(kPageA);
    // Slots 0 and 2 used: the first run of 3 starts at slot 3.
    REQUIRE(alloc.reserve(kPageA));
    REQUIRE(alloc.reserve(kPageA + 2 * kSlot));
    auto run = alloc.allocate_run(3, kPageA, 2 * kGiB);
    REQUIRE(run.has_value());
    CHECK(*run == kPageA + 3 * kSlot);
    for (uint64_t k = 3; k < 6; ++k) CHECK_FALSE(alloc.is_free(kPageA + k * kSlot));
    CHECK(alloc.is_free(kPageA + 1 * kSlot));
    CHECK(alloc.free_count() == kSlotsPerPage - 5);
    // A run is released slot by slot.
    for (uint64_t k = 3; k < 6; ++k) alloc.release(kPageA + k * kSlot, {});
    CHECK(alloc.free_count() == kSlotsPerPage - 2);
    // Too long, or no page near enough: none.
    CHECK_FALSE(alloc.allocate_run(kSlotsPerPage, kPageA, 2 * kGiB).has_value());
    CHECK_FALSE(alloc.allocate_run(3, kPageA + 8 * kGiB, 2 * kGiB).has_value());
    CHECK_FALSE(alloc.allocate_run(0, kPageA, 2 * kGiB).has_value());
}
