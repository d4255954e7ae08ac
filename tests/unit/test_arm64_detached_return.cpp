// The stub a detach leaves at the return trampoline for calls whose signed
// return address still points there (arch/arm64/arm64_detached_return.h).
#include "arch/arm64/arm64_detached_return.h"
#include "arch/capstone_handle.h"
#include "arm64_test_words.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

using namespace probed::arch;
using namespace probed::arch::arm64;
using arm64_test::to_bytes;

namespace {

constexpr uint64_t kStub = 0xffff9e7d0000;
constexpr uint64_t kTable = detached_table_after_stub(kStub);

uint64_t le64_at(const std::vector<uint8_t>& bytes, size_t offset) {
    uint64_t v = 0;
    std::memcpy(&v, bytes.data() + offset, sizeof v);
    return v;
}

// "mnemonic operands" of each instruction Capstone finds in `code`.
std::vector<std::string> disassemble(const std::vector<uint8_t>& code, uint64_t address) {
    CapstoneHandle cs(CS_ARCH_ARM64, CS_MODE_ARM);
    REQUIRE(cs.get() != 0);
    cs_insn* insns = nullptr;
    size_t n = cs_disasm(cs.get(), code.data(), code.size(), address, 0, &insns);
    std::vector<std::string> out;
    for (size_t i = 0; i < n; ++i)
        out.push_back(std::string(insns[i].mnemonic) + " " + insns[i].op_str);
    if (n) cs_free(insns, n);
    return out;
}

} // namespace

TEST_CASE("the stub: exact words, then the table bounds as literals") {
    const std::vector<uint8_t> stub = detached_return_stub(kTable, 3);
    REQUIRE(stub.size() == kDetachedStubBytes);
    const std::vector<uint8_t> code(stub.begin(), stub.begin() + 0x28);
    CHECK(code == to_bytes({
                      0x58000150, // 0x00 ldr x16, 0x28      table start
                      0x58000169, // 0x04 ldr x9, 0x30       table end
                      0x910003ea, // 0x08 mov x10, sp
                      0xeb09021f, // 0x0c cmp x16, x9        loop:
                      0x540000a2, // 0x10 b.hs 0x24
                      0xa8c1460b, // 0x14 ldp x11, x17, [x16], #16
                      0xeb0a017f, // 0x18 cmp x11, x10
                      0x54ffff81, // 0x1c b.ne 0x0c
                      0xd65f0220, // 0x20 ret x17
                      0xd4217a00, // 0x24 brk #0xbd0         miss
                  }));
    CHECK(le64_at(stub, 0x28) == kTable);
    CHECK(le64_at(stub, 0x30) == kTable + 3 * 16);
}

TEST_CASE("Capstone reads the stub as the instructions meant") {
    const std::vector<uint8_t> stub = detached_return_stub(kTable, 1);
    const std::vector<uint8_t> code(stub.begin(), stub.begin() + 0x28);
    auto text = disassemble(code, kStub);
    REQUIRE(text.size() == 10);
    CHECK(text[0] == "ldr x16, #0xffff9e7d0028");
    CHECK(text[1] == "ldr x9, #0xffff9e7d0030");
    CHECK(text[2] == "mov x10, sp");
    CHECK(text[3] == "cmp x16, x9");
    CHECK(text[4] == "b.hs #0xffff9e7d0024");
    CHECK(text[5] == "ldp x11, x17, [x16], #0x10");
    CHECK(text[6] == "cmp x11, x10");
    CHECK(text[7] == "b.ne #0xffff9e7d000c");
    CHECK(text[8] == "ret x17");
    CHECK(text[9] == "brk #0xbd0");
}

TEST_CASE("an empty table ends at its start: every lookup misses") {
    const std::vector<uint8_t> stub = detached_return_stub(kTable, 0);
    CHECK(le64_at(stub, 0x28) == le64_at(stub, 0x30));
}

TEST_CASE("the table right after the stub is 16-byte aligned and clear of it") {
    CHECK(kTable % 16 == 0);
    CHECK(kTable >= kStub + kDetachedStubBytes);
    CHECK(kTable - kStub < kDetachedStubBytes + 16);
}

TEST_CASE("table entries: sp then return address, little-endian") {
    const std::vector<DetachedReturn> entries = {{0xfffff000a0, 0xaaaa00001234},
                                                 {0xfffff00060, 0xaaaa00005678}};
    const std::vector<uint8_t> table = detached_return_table(entries);
    REQUIRE(table.size() == 32);
    CHECK(le64_at(table, 0) == 0xfffff000a0);
    CHECK(le64_at(table, 8) == 0xaaaa00001234);
    CHECK(le64_at(table, 16) == 0xfffff00060);
    CHECK(le64_at(table, 24) == 0xaaaa00005678);
    CHECK(table[0] == 0xa0); // low byte first
}
