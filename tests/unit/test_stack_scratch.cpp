#include <doctest/doctest.h>

#include "daemon/stack_scratch.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

using namespace probed;
namespace host = arch::host;

namespace {

// This process's own memory, so /proc/self/maps describes what it holds.
class OwnMemory : public MemoryAccess {
public:
    Result<void> read(uint64_t addr, std::span<uint8_t> out) override {
        ++reads;
        std::memcpy(out.data(), reinterpret_cast<const void*>(addr), out.size());
        return {};
    }
    Result<void> write(uint64_t addr, std::span<const uint8_t> data) override {
        ++writes;
        if (fail_writes)
            return Error::from_errno("write", ESRCH);
        std::memcpy(reinterpret_cast<void*>(addr), data.data(), data.size());
        return {};
    }
    int reads = 0, writes = 0;
    bool fail_writes = false;
};

host::Regs regs_with_sp(uint64_t sp) {
    host::Regs r{};
    host::set_stack_pointer_of(r, sp);
    return r;
}

uint64_t addr(const void* p) {
    return reinterpret_cast<uint64_t>(p);
}

// A private mapping of `pages` pages with protection `prot`, between two
// PROT_NONE pages so that the kernel cannot merge it with a neighbour;
// unmapped at the end.
struct Pages {
    explicit Pages(int prot, size_t pages = 2) : size(pages * page()) {
        auto* all = static_cast<uint8_t*>(mmap(nullptr, size + 2 * page(), PROT_NONE,
                                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        REQUIRE(all != MAP_FAILED);
        base = all + page();
        REQUIRE(mprotect(base, size, PROT_READ | PROT_WRITE) == 0);
        std::fill_n(base, size, uint8_t{0x5a});
        REQUIRE(mprotect(base, size, prot) == 0);
    }
    ~Pages() { munmap(base - page(), size + 2 * page()); }
    static size_t page() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }
    uint8_t* base;
    size_t size;
};

} // namespace

TEST_CASE("the floor is the start of the writable mapping that holds sp - 1") {
    Pages stack(PROT_READ | PROT_WRITE);
    const uint64_t sp = addr(stack.base) + stack.size - 64;
    auto floor = dead_stack_floor(getpid(), regs_with_sp(sp));
    REQUIRE(floor);
    CHECK(*floor == addr(stack.base));
    // sp at the very end of the mapping: sp - 1 is still inside it.
    floor = dead_stack_floor(getpid(), regs_with_sp(addr(stack.base) + stack.size));
    REQUIRE(floor);
    CHECK(*floor == addr(stack.base));
}

TEST_CASE("no floor where the thread could not store, or nothing is mapped") {
    Pages readonly(PROT_READ);
    auto floor = dead_stack_floor(getpid(), regs_with_sp(addr(readonly.base) + 256));
    REQUIRE_FALSE(floor);
    CHECK(floor.error().message.find("not writable") != std::string::npos);

    // sp at the start of a mapping: sp - 1 is below it (unmapped here).
    Pages hole(PROT_NONE, 2);
    REQUIRE(munmap(hole.base, Pages::page()) == 0); // a gap below the second page
    REQUIRE(mprotect(hole.base + Pages::page(), Pages::page(), PROT_READ | PROT_WRITE) == 0);
    floor = dead_stack_floor(getpid(), regs_with_sp(addr(hole.base) + Pages::page()));
    REQUIRE_FALSE(floor);
    CHECK(floor.error().message.find("no mapping") != std::string::npos);
}

TEST_CASE("scratch below the stack: inside the mapping, bytes put back when it goes") {
    Pages stack(PROT_READ | PROT_WRITE);
    OwnMemory mem;
    const uint64_t sp = addr(stack.base) + stack.size - 32;
    const host::Regs regs = regs_with_sp(sp);
    uint64_t at = 0;
    {
        auto s = StackScratch::below_stack(mem, getpid(), regs, 32);
        REQUIRE(s);
        at = s->address();
        CHECK(at == host::scratch_below_stack(regs, 32));
        CHECK(at + 32 <= sp);
        CHECK(at >= addr(stack.base));
        CHECK(s->size() == 32);
        std::fill_n(reinterpret_cast<uint8_t*>(at), 32, uint8_t{0xee}); // the tracee writes
        // Moved, it is put back once, by the new owner.
        StackScratch moved(std::move(*s));
        CHECK(moved.address() == at);
        CHECK(mem.writes == 0);
    }
    CHECK(mem.writes == 1);
    auto* p = reinterpret_cast<const uint8_t*>(at);
    CHECK(std::all_of(p, p + 32, [](uint8_t b) { return b == 0x5a; }));
}

TEST_CASE("no scratch when the mapping ends before the room needed") {
    Pages stack(PROT_READ | PROT_WRITE, 1);
    OwnMemory mem;
    // 16 bytes above the floor: no room for 512 (nor for the x86_64 red zone).
    auto s = StackScratch::below_stack(mem, getpid(), regs_with_sp(addr(stack.base) + 16), 512);
    REQUIRE_FALSE(s);
    CHECK(s.error().message.find("no room") != std::string::npos);
    CHECK(mem.reads == 0);
    CHECK(mem.writes == 0);
}

TEST_CASE("a failed put-back is not an error of its own: the thread may be gone") {
    Pages stack(PROT_READ | PROT_WRITE);
    OwnMemory mem;
    const uint64_t at = addr(stack.base) + 128;
    {
        auto s = StackScratch::borrow(mem, at, 16);
        REQUIRE(s);
        std::fill_n(stack.base + 128, 16, uint8_t{0x11});
        mem.fail_writes = true;
    }
    CHECK(mem.writes == 1);
    CHECK(stack.base[128] == 0x11);
}
