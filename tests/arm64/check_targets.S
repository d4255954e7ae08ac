// Functions with a known first instruction for the ptrace checks in
// test_arm64_ptrace.cpp, which asserts these words before relying on them.
    .text

// long check_add_then_double(long x): (x + 7) * 2
    .global check_add_then_double
    .type check_add_then_double, %function
    .p2align 2
check_add_then_double:
    add x0, x0, #7          // 0x91001c00: the displaced instruction
    lsl x0, x0, #1          // 0xd37ff800
    ret                     // 0xd65f03c0
    .size check_add_then_double, . - check_add_then_double

// void check_foreign_brk(void): a BRK with GCC's __builtin_trap immediate,
// which is the program's own and not a probe.
    .global check_foreign_brk
    .type check_foreign_brk, %function
    .p2align 2
check_foreign_brk:
    brk #0x3e8              // 0xd4207d00
    ret
    .size check_foreign_brk, . - check_foreign_brk

    .section .note.GNU-stack, "", %progbits
