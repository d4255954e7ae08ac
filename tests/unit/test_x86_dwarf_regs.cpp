#include "arch/x86_64/x86_dwarf_regs.h"

#include <doctest/doctest.h>

using namespace probed::arch::x86;

TEST_CASE("general registers in DWARF order (psABI: rax rdx rcx rbx rsi rdi rbp rsp r8..r15)") {
    Regs r{};
    r.rax = 1;
    r.rdx = 2;
    r.rcx = 3;
    r.rbx = 4;
    r.rsi = 5;
    r.rdi = 6;
    r.rbp = 7;
    r.rsp = 8;
    r.r8 = 9;
    r.r9 = 10;
    r.r10 = 11;
    r.r11 = 12;
    r.r12 = 13;
    r.r13 = 14;
    r.r14 = 15;
    r.r15 = 16;
    r.rip = 99;
    auto d = dwarf_gprs(r);
    for (unsigned i = 0; i < kDwarfGprCount; ++i) {
        CAPTURE(i);
        CHECK(d[i] == i + 1);
    }
    CHECK(d[kDwarfStackPointer] == r.rsp);
}
