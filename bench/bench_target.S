# The probed functions of the benchmark. Each one's first instruction picks the
# engine's strategy; the bodies are in assembly so no compiler flag (CET,
# frame pointers, -O level) can change that first instruction.
# All three take (a, b, c, d, e, f) and return a * 3 + b, so the tracer can
# check every reported return value against the argument it saw.
    .intel_syntax noprefix
    .text

# Simulated: the daemon applies `push rbx` to the registers, no slot.
    .globl bench_fn_simulate
    .type bench_fn_simulate, @function
    .p2align 4
bench_fn_simulate:
    push rbx
    lea rbx, [rdi + rdi * 2]
    lea rax, [rbx + rsi]
    pop rbx
    ret
    .size bench_fn_simulate, . - bench_fn_simulate

# Boosted: a RIP-relative load runs in a slot that jumps back, so the slot's
# displacement relocation is part of what is measured.
    .globl bench_fn_boosted
    .type bench_fn_boosted, @function
    .p2align 4
bench_fn_boosted:
    mov rax, qword ptr [rip + bench_zero]
    lea rax, [rax + rdi * 2]
    add rax, rdi
    add rax, rsi
    ret
    .size bench_fn_boosted, . - bench_fn_boosted

# Stepped: an indirect call pushes the slot's address, so the engine must
# single-step it and patch the pushed return address.
    .globl bench_fn_stepped
    .type bench_fn_stepped, @function
    .p2align 4
bench_fn_stepped:
    call qword ptr [rip + bench_helper_ptr]
    add rax, rsi
    ret
    .size bench_fn_stepped, . - bench_fn_stepped

# Not probed: the callee of bench_fn_stepped's indirect call.
    .type bench_triple, @function
    .p2align 4
bench_triple:
    lea rax, [rdi + rdi * 2]
    ret
    .size bench_triple, . - bench_triple

    .section .rodata
    .p2align 3
bench_zero:
    .quad 0

    .section .data.rel.ro, "aw"
    .p2align 3
bench_helper_ptr:
    .quad bench_triple

    .section .note.GNU-stack, "", @progbits
