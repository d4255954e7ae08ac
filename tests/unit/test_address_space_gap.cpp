#include "daemon/address_space_gap.h"
#include "tests/unit/map_entries.h"

#include <doctest/doctest.h>

using namespace probed;

namespace {

MapEntry map(uint64_t start, uint64_t end, const std::string& path = "") {
    return testing::mapping(start, end, "r-xp", path);
}

constexpr uint64_t kGiB = 1ull << 30;

} // namespace

TEST_CASE("the free page closest to the code is chosen") {
    std::vector<MapEntry> maps = {
        map(0x555555554000, 0x555555556000, "/bin/target"),
        map(0x555555556000, 0x555555559000, "/bin/target"),
        map(0x7ffff7dd0000, 0x7ffff7e00000, "/lib/libc.so.6"),
    };
    auto page = find_free_range_near(maps, 0x555555555100, 2 * kGiB, 4096);
    REQUIRE(page);
    CHECK(*page % 4096 == 0);
    // Right next to the module, on one side or the other.
    bool adjacent = *page == 0x555555553000 || *page == 0x555555559000;
    CHECK(adjacent);
}

TEST_CASE("nothing within range gives nullopt; taken candidates are skipped") {
    std::vector<MapEntry> maps = {map(0x10000, 0x7ffffffff000)};
    CHECK_FALSE(find_free_range_near(maps, 0x400000, 2 * kGiB, 4096));

    std::vector<MapEntry> two = {map(0x400000, 0x401000, "/bin/a")};
    auto first = find_free_range_near(two, 0x400000, 2 * kGiB, 4096);
    REQUIRE(first);
    auto second = find_free_range_near(two, 0x400000, 2 * kGiB, 4096, {*first});
    REQUIRE(second);
    CHECK(*second != *first);
}

TEST_CASE("every byte of the range stays within max_distance") {
    std::vector<MapEntry> maps = {
        map(0x10000, 0x100000000, "[fill]"),       // everything below 4 GiB taken
        map(0x100000000, 0x100001000, "/bin/a"),
    };
    auto page = find_free_range_near(maps, 0x100000000, 8192, 4096);
    REQUIRE(page);
    CHECK(*page == 0x100001000);
    CHECK_FALSE(find_free_range_near(maps, 0x100000000, 4095, 4096));
}

TEST_CASE("the guard area below the stack is never used") {
    std::vector<MapEntry> maps = {
        map(0x7ffd00000000, 0x7ffd00021000, "[stack]"),
    };
    auto page = find_free_range_near(maps, 0x7ffd00000000 - 4096, 2 * kGiB, 4096);
    REQUIRE(page);
    CHECK((*page >= 0x7ffd00021000 || *page + 4096 <= 0x7ffd00000000 - (16ull << 20)));
}
