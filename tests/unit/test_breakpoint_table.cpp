#include <doctest/doctest.h>

#include "daemon/breakpoint_table.h"

#include <algorithm>
#include <cstdint>
#include <vector>

using namespace probed;

namespace {

// Tracee memory stand-in: a byte vector mapped at `base`, which can be told to
// fail reads or writes the way ptrace does when the process vanishes.
class FakeMemory : public MemoryAccess {
public:
    FakeMemory(uint64_t base, size_t size) : base_(base), bytes_(size) {
        for (size_t i = 0; i < size; ++i) bytes_[i] = static_cast<uint8_t>(0x10 + i);
    }

    Result<void> read(uint64_t addr, std::span<uint8_t> out) override {
        ++reads;
        if (fail_reads) return Error::from_errno("read", ESRCH);
        if (!in_range(addr, out.size())) return Error::from_errno("read", EIO);
        std::copy_n(bytes_.begin() + offset(addr), out.size(), out.begin());
        return {};
    }

    Result<void> write(uint64_t addr, std::span<const uint8_t> data) override {
        ++writes;
        if (fail_writes) return Error::from_errno("write", ESRCH);
        if (!in_range(addr, data.size())) return Error::from_errno("write", EIO);
        std::copy(data.begin(), data.end(), bytes_.begin() + offset(addr));
        return {};
    }

    uint8_t at(uint64_t addr) const { return bytes_[static_cast<size_t>(addr - base_)]; }
    const std::vector<uint8_t>& bytes() const { return bytes_; }
    std::vector<uint8_t> slice(uint64_t addr, size_t n) const {
        auto first = bytes_.begin() + offset(addr);
        return {first, first + static_cast<std::ptrdiff_t>(n)};
    }

    bool fail_reads = false;
    bool fail_writes = false;
    int reads = 0;
    int writes = 0;

private:
    bool in_range(uint64_t addr, size_t n) const {
        return addr >= base_ && addr - base_ + n <= bytes_.size();
    }
    std::ptrdiff_t offset(uint64_t addr) const { return static_cast<std::ptrdiff_t>(addr - base_); }

    uint64_t base_;
    std::vector<uint8_t> bytes_;
};

constexpr uint64_t kBase = 0x400000;
const std::vector<uint8_t> kArm64Trap{0x00, 0x00, 0x20, 0xd4}; // brk #0

} // namespace

TEST_CASE("insert writes the trap and keeps the original byte") {
    FakeMemory mem(kBase, 64);
    BreakpointTable table({0xcc});
    const uint8_t before = mem.at(kBase + 8);

    REQUIRE(table.insert(mem, kBase + 8).ok());
    CHECK(mem.at(kBase + 8) == 0xcc);
    CHECK(table.contains(kBase + 8));
    CHECK(table.refcount(kBase + 8) == 1);
    CHECK(table.size() == 1);
    auto orig = table.original(kBase + 8);
    REQUIRE(orig.size() == 1);
    CHECK(orig[0] == before);
    CHECK(table.original(kBase + 9).empty());
    CHECK(table.refcount(kBase + 9) == 0);
}

TEST_CASE("references are counted; the last remove restores memory") {
    FakeMemory mem(kBase, 64);
    const auto pristine = mem.bytes();
    BreakpointTable table({0xcc});

    REQUIRE(table.insert(mem, kBase + 4).ok());
    const int writes_after_first = mem.writes;
    REQUIRE(table.insert(mem, kBase + 4).ok());
    CHECK(mem.writes == writes_after_first); // the second reference touches nothing
    CHECK(table.refcount(kBase + 4) == 2);

    REQUIRE(table.remove(mem, kBase + 4).ok());
    CHECK(table.refcount(kBase + 4) == 1);
    CHECK(mem.at(kBase + 4) == 0xcc);

    REQUIRE(table.remove(mem, kBase + 4).ok());
    CHECK_FALSE(table.contains(kBase + 4));
    CHECK(table.size() == 0);
    CHECK(mem.bytes() == pristine);
}

TEST_CASE("remove of an unknown address is NotFound") {
    FakeMemory mem(kBase, 16);
    BreakpointTable table({0xcc});
    auto r = table.remove(mem, kBase + 3);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::NotFound);
    CHECK(r.error().message.find("0x400003") != std::string::npos);
    CHECK(mem.writes == 0);
}

TEST_CASE("failed read or write leaves table and memory unchanged") {
    FakeMemory mem(kBase, 32);
    const auto pristine = mem.bytes();
    BreakpointTable table({0xcc});

    SUBCASE("read fails") {
        mem.fail_reads = true;
        auto r = table.insert(mem, kBase + 2);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::ProcessGone);
        CHECK(mem.writes == 0);
    }
    SUBCASE("write fails") {
        mem.fail_writes = true;
        auto r = table.insert(mem, kBase + 2);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::ProcessGone);
    }
    SUBCASE("address outside memory") {
        auto r = table.insert(mem, kBase + 1000);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::Io);
    }
    CHECK(table.size() == 0);
    CHECK_FALSE(table.contains(kBase + 2));
    CHECK(mem.bytes() == pristine);

    // The table is still usable afterwards.
    mem.fail_reads = false;
    mem.fail_writes = false;
    REQUIRE(table.insert(mem, kBase + 2).ok());
    CHECK(table.refcount(kBase + 2) == 1);
}

TEST_CASE("remove erases the entry even when the restore write fails") {
    FakeMemory mem(kBase, 16);
    BreakpointTable table({0xcc});
    REQUIRE(table.insert(mem, kBase).ok());
    mem.fail_writes = true;
    auto r = table.remove(mem, kBase);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::ProcessGone);
    CHECK_FALSE(table.contains(kBase));
}

TEST_CASE("hide with a one-byte trap") {
    FakeMemory mem(kBase, 64);
    const auto pristine = mem.bytes();
    BreakpointTable table({0xcc});
    for (uint64_t off : {0u, 5u, 6u, 20u, 63u}) REQUIRE(table.insert(mem, kBase + off).ok());

    SUBCASE("whole memory") {
        auto buf = mem.slice(kBase, 64);
        CHECK(buf != pristine);
        table.hide(kBase, buf);
        CHECK(buf == pristine);
    }
    SUBCASE("window whose edges are breakpoints") {
        auto buf = mem.slice(kBase + 5, 16); // [5, 21): includes 5, 6, 20
        table.hide(kBase + 5, buf);
        CHECK(buf == std::vector<uint8_t>(pristine.begin() + 5, pristine.begin() + 21));
    }
    SUBCASE("window without breakpoints is untouched") {
        auto buf = mem.slice(kBase + 7, 13); // [7, 20)
        const auto copy = buf;
        table.hide(kBase + 7, buf);
        CHECK(buf == copy);
    }
    SUBCASE("empty buffer") {
        std::vector<uint8_t> buf;
        table.hide(kBase, buf);
        CHECK(buf.empty());
    }
}

TEST_CASE("hide with a four-byte trap, including partial overlap") {
    FakeMemory mem(kBase, 64);
    const auto pristine = mem.bytes();
    BreakpointTable table(kArm64Trap);
    REQUIRE(table.insert(mem, kBase + 8).ok());
    REQUIRE(table.insert(mem, kBase + 16).ok());
    REQUIRE(table.insert(mem, kBase + 32).ok());
    CHECK(mem.slice(kBase + 8, 4) == kArm64Trap);
    CHECK(table.original(kBase + 16).size() == 4);

    auto expect = [&](uint64_t off, size_t n) {
        return std::vector<uint8_t>(pristine.begin() + static_cast<std::ptrdiff_t>(off),
                                    pristine.begin() + static_cast<std::ptrdiff_t>(off + n));
    };

    SUBCASE("whole memory") {
        auto buf = mem.slice(kBase, 64);
        table.hide(kBase, buf);
        CHECK(buf == pristine);
    }
    SUBCASE("buffer starts inside a trap") {
        auto buf = mem.slice(kBase + 10, 4); // last two bytes of the trap at 8, then 12..13
        table.hide(kBase + 10, buf);
        CHECK(buf == expect(10, 4));
    }
    SUBCASE("buffer ends inside a trap") {
        auto buf = mem.slice(kBase + 12, 6); // 12..15 plain, then the first two bytes at 16
        table.hide(kBase + 12, buf);
        CHECK(buf == expect(12, 6));
    }
    SUBCASE("buffer inside a single trap at both ends") {
        auto buf = mem.slice(kBase + 17, 2);
        table.hide(kBase + 17, buf);
        CHECK(buf == expect(17, 2));
    }
    SUBCASE("buffer spanning both partial ends") {
        auto buf = mem.slice(kBase + 11, 23); // [11, 34): tail of 8, all of 16, head of 32
        table.hide(kBase + 11, buf);
        CHECK(buf == expect(11, 23));
    }
    SUBCASE("buffer just past a trap") {
        auto buf = mem.slice(kBase + 12, 4);
        const auto copy = buf;
        table.hide(kBase + 12, buf);
        CHECK(buf == copy);
    }
    SUBCASE("trap at address 0 with a buffer near 0") {
        FakeMemory low(0, 16);
        const auto low_pristine = low.bytes();
        BreakpointTable t(kArm64Trap);
        REQUIRE(t.insert(low, 0).ok());
        auto buf = low.slice(1, 8);
        t.hide(1, buf);
        CHECK(buf == std::vector<uint8_t>(low_pristine.begin() + 1, low_pristine.begin() + 9));
    }
}

TEST_CASE("remove_all restores every byte and empties the table") {
    FakeMemory mem(kBase, 128);
    const auto pristine = mem.bytes();
    BreakpointTable table(kArm64Trap);
    for (uint64_t off = 0; off < 128; off += 12) REQUIRE(table.insert(mem, kBase + off).ok());
    REQUIRE(table.insert(mem, kBase + 24).ok()); // an extra reference must not matter
    CHECK(mem.bytes() != pristine);

    REQUIRE(table.remove_all(mem).ok());
    CHECK(table.size() == 0);
    CHECK(mem.bytes() == pristine);
}

TEST_CASE("remove_all continues past failures and reports the first") {
    FakeMemory mem(kBase, 32);
    BreakpointTable table({0xcc});
    REQUIRE(table.insert(mem, kBase + 1).ok());
    REQUIRE(table.insert(mem, kBase + 2).ok());
    mem.fail_writes = true;
    const int writes_before = mem.writes;
    auto r = table.remove_all(mem);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::ProcessGone);
    CHECK(mem.writes - writes_before == 2);
    CHECK(table.size() == 0);
}

TEST_CASE("clear forgets without touching memory") {
    FakeMemory mem(kBase, 16);
    BreakpointTable table({0xcc});
    REQUIRE(table.insert(mem, kBase + 3).ok());
    const int writes_before = mem.writes;
    table.clear();
    CHECK(table.size() == 0);
    CHECK(mem.writes == writes_before);
    CHECK(mem.at(kBase + 3) == 0xcc);
}

TEST_CASE("forget drops one breakpoint, all its references, without touching memory") {
    FakeMemory mem(kBase, 16);
    BreakpointTable table({0xcc});
    REQUIRE(table.insert(mem, kBase + 3).ok());
    REQUIRE(table.insert(mem, kBase + 3).ok());
    REQUIRE(table.insert(mem, kBase + 5).ok());
    const int writes_before = mem.writes;
    table.forget(kBase + 3);
    CHECK(mem.writes == writes_before);
    CHECK_FALSE(table.contains(kBase + 3));
    CHECK(table.contains(kBase + 5));
    CHECK(table.remove(mem, kBase + 3).error().kind == ErrorKind::NotFound);
    REQUIRE(table.remove_all(mem).ok()); // restores kBase + 5 only
    CHECK(mem.at(kBase + 3) == 0xcc);     // never written back
    CHECK(mem.at(kBase + 5) == 0x15);
}
