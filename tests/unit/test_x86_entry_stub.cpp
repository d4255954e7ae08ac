#include "arch/x86_64/x86_entry_stub.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

using namespace probed;
using namespace probed::arch;
using namespace probed::arch::x86;

namespace {

constexpr uint64_t kSite = 0x401000;
constexpr uint64_t kStub = 0x402000; // within jmp rel32 reach of the site
constexpr uint64_t kRet = 0x401234;
constexpr uint64_t kTrampoline = 0x402800;

template <size_t N> DecodedInsn must_decode(const uint8_t (&code)[N]) {
    Result<DecodedInsn> r = decode(std::span<const uint8_t>(code, N), kSite);
    REQUIRE(r.ok());
    return *r;
}

uint64_t word_at(const std::vector<uint8_t>& code, size_t at) {
    uint64_t v = 0;
    std::memcpy(&v, code.data() + at, 8);
    return v;
}

} // namespace

TEST_CASE("an entry stub for `push rbx`: compare, store the trampoline, run it, jump back") {
    const uint8_t push_rbx[] = {0x53};
    auto stub = build_entry_stub(must_decode(push_rbx), kStub, kRet, kTrampoline);
    REQUIRE_MESSAGE(stub.ok(), (stub.ok() ? "" : stub.error().message));
    const std::vector<uint8_t> want = {
        0x50,                               // +0  push rax
        0x9c,                               // +1  pushfq
        0x48, 0x8b, 0x05, 0x1f, 0, 0, 0,    // +2  mov rax, [rip + 0x1f]     (cell at +40)
        0x48, 0x3b, 0x44, 0x24, 0x10,       // +9  cmp rax, [rsp + 16]       (the return address)
        0x75, 0x14,                         // +14 jne +0x14                 (miss at +36)
        0x48, 0x8b, 0x05, 0x19, 0, 0, 0,    // +16 mov rax, [rip + 0x19]     (cell at +48)
        0x48, 0x89, 0x44, 0x24, 0x10,       // +23 mov [rsp + 16], rax
        0x9d,                               // +28 popfq
        0x58,                               // +29 pop rax
        0x53,                               // +30 push rbx                  (the displaced instruction)
        0xe9, 0xdd, 0xef, 0xff, 0xff,       // +31 jmp 0x401001              (back to the site's next)
        0x9d,                               // +36 popfq                     (miss)
        0x58,                               // +37 pop rax
        0xcc,                               // +38 int3                      (the miss trap)
        0xcc,                               // +39 padding to the cells
    };
    REQUIRE(stub->code.size() == want.size() + 16);
    CHECK(std::vector<uint8_t>(stub->code.begin(), stub->code.begin() + want.size()) == want);
    CHECK(word_at(stub->code, 40) == kRet);
    CHECK(word_at(stub->code, 48) == kTrampoline);
    CHECK(stub->code.size() <= kEntryStubSize);
    const EntryStubLayout& l = stub->layout;
    CHECK(l.start == kStub);
    CHECK(l.displaced == kStub + 30);
    CHECK(l.after_displaced == kStub + 31);
    CHECK(l.miss == kStub + 36);
    CHECK(l.miss_trap == kStub + 38);
    CHECK(l.end == kStub + stub->code.size());
}

TEST_CASE("only instructions that run unchanged elsewhere go into a stub") {
    const uint8_t push_rbp[] = {0x55};
    const uint8_t load_rip[] = {0x48, 0x8b, 0x05, 0x10, 0x00, 0x00, 0x00}; // mov rax, [rip+0x10]
    const uint8_t jmp_rel[] = {0xeb, 0x10};                              // jmp +0x10
    const uint8_t call_mem[] = {0xff, 0x15, 0x00, 0x10, 0x00, 0x00};     // call [rip+0x1000]
    CHECK(entry_stub_can_run(must_decode(push_rbp)));
    CHECK(entry_stub_can_run(must_decode(load_rip))); // boosted: re-targeted where it runs
    CHECK_FALSE(entry_stub_can_run(must_decode(jmp_rel)));
    CHECK_FALSE(entry_stub_can_run(must_decode(call_mem)));
    CHECK_FALSE(build_entry_stub(must_decode(jmp_rel), kStub, kRet, kTrampoline).ok());
}

TEST_CASE("leaving a stub: undo its pushes, and go on from the start or after the hijack") {
    const uint8_t push_rbx[] = {0x53};
    auto stub = build_entry_stub(must_decode(push_rbx), kStub, kRet, kTrampoline);
    REQUIRE(stub.ok());
    const EntryStubLayout& l = stub->layout;
    using R = EntryStubExit::Resume;
    struct Case {
        uint64_t pc;
        R resume;
        int scratch_at, flags_at;
        uint64_t sp_add;
    };
    const Case cases[] = {
        {l.start, R::Start, -1, -1, 0},      // nothing ran
        {l.start + 1, R::Start, -1, -1, 8},  // rax pushed, still in rax
        {l.start + 2, R::Start, 8, 0, 16},   // flags pushed too
        {l.start + 16, R::Start, 8, 0, 16},  // compared equal, not stored yet
        {l.start + 23, R::Start, 8, 0, 16},  // rax holds the trampoline
        {l.start + 28, R::Displaced, 8, 0, 16}, // stored: popfq next
        {l.start + 29, R::Displaced, 0, -1, 8}, // pop rax next
        {l.displaced, R::Displaced, -1, -1, 0},
        {l.after_displaced, R::After, -1, -1, 0}, // only the jump back left
        {l.miss, R::Start, 8, 0, 16},         // a miss, restoring
        {l.miss + 1, R::Start, 0, -1, 8},
        {l.miss_trap, R::Start, -1, -1, 0},   // restored: as at the call
    };
    for (const Case& c : cases) {
        CAPTURE(c.pc - l.start);
        EntryStubExit e = leave_entry_stub(l, c.pc);
        CHECK(e.resume == c.resume);
        CHECK(e.scratch_at == c.scratch_at);
        CHECK(e.flags_at == c.flags_at);
        CHECK(e.sp_add == c.sp_add);
    }
}
