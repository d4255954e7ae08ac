#include "arch/arm64/arm64_dwarf_regs.h"

#include <doctest/doctest.h>

using namespace probed::arch::arm64;

TEST_CASE("arm64 general registers in DWARF order (x0..x30, then sp)") {
    Regs r{};
    for (unsigned i = 0; i < 31; ++i) r.x[i] = 100 + i;
    r.sp = 0xfffff0001000;
    r.pc = 0xaaaa00001234; // never a column: unwinders take the PC apart
    auto d = dwarf_gprs(r);
    for (unsigned i = 0; i < 31; ++i) {
        CAPTURE(i);
        CHECK(d[i] == 100 + i);
    }
    CHECK(d[kDwarfLinkRegister] == 130);
    CHECK(d[kDwarfStackPointer] == r.sp);
}
