// Functions whose first instruction is each kind the engine simulates or
// runs out of line on arm64. Each returns a value that proves the displaced
// instruction had its exact effect. x0 is the argument and the result.
    .text

    .globl kind_nop
    .type kind_nop, %function
kind_nop:                       // x0 + 1
    nop
    add x0, x0, #1
    ret

    .globl kind_bti
    .type kind_bti, %function
kind_bti:                       // x0 + 2 (a landing pad: simulated like nop)
    bti c
    add x0, x0, #2
    ret

    .globl kind_paciasp
    .type kind_paciasp, %function
kind_paciasp:                   // x0 + 3 (boosted: signing needs the CPU's key)
    paciasp
    stp x29, x30, [sp, #-16]!
    add x0, x0, #3
    ldp x29, x30, [sp], #16
    autiasp
    ret

    .globl kind_push_frame
    .type kind_push_frame, %function
kind_push_frame:                // x0 + 4, through the frame and a stack slot
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    str x0, [sp, #16]
    ldr x0, [x29, #16]
    add x0, x0, #4
    ldp x29, x30, [sp], #32
    ret

    .globl kind_mov_fp_sp
    .type kind_mov_fp_sp, %function
kind_mov_fp_sp:                 // x0, only if x29 == sp afterwards
    mov x29, sp
    mov x1, sp
    sub x1, x29, x1
    add x0, x0, x1
    ret

    .globl call_mov_fp_sp
    .type call_mov_fp_sp, %function
call_mov_fp_sp:                 // keeps the caller's x29 safe
    stp x29, x30, [sp, #-16]!
    bl kind_mov_fp_sp
    ldp x29, x30, [sp], #16
    ret

    .globl kind_b
    .type kind_b, %function
kind_b:                         // x0 + 6
    b 1f
    udf #0
1:  add x0, x0, #6
    ret

// kind_bl's first instruction overwrites x30, so it cannot return through
// it: call_bl passes the way back in x9 (a return probe on kind_bl sees its
// call abandoned, as it would be without us).
    .globl kind_bl
    .type kind_bl, %function
kind_bl:                        // x0 + 7 (the helper adds 7)
    bl seven
    br x9

seven:
    add x0, x0, #7
    ret

    .globl call_bl
    .type call_bl, %function
call_bl:
    stp x29, x30, [sp, #-16]!
    adr x9, 1f
    b kind_bl
1:  ldp x29, x30, [sp], #16
    ret

    .globl kind_bcond
    .type kind_bcond, %function
kind_bcond:                     // 100 if the caller's compare said less, else 200
    b.lt 1f
    mov x0, #200
    ret
1:  mov x0, #100
    ret

    .globl call_bcond
    .type call_bcond, %function
call_bcond:                     // sets the flags kind_bcond branches on; tail call
    cmp x0, #10
    b kind_bcond

    .globl kind_cbz
    .type kind_cbz, %function
kind_cbz:                       // 500 for 0, else x0 + 8
    cbz x0, 1f
    add x0, x0, #8
    ret
1:  mov x0, #500
    ret

    .globl kind_tbz
    .type kind_tbz, %function
kind_tbz:                       // x0 + 10 when even, x0 + 9 when odd
    tbz x0, #0, 1f
    add x0, x0, #9
    ret
1:  add x0, x0, #10
    ret

    .globl kind_adr
    .type kind_adr, %function
kind_adr:                       // x0 + 11, from a word adr points at
    adr x1, 1f
    ldr x1, [x1]
    add x0, x0, x1
    ret
    .balign 8
1:  .quad 11

    .globl kind_adrp
    .type kind_adrp, %function
kind_adrp:                      // x0 + 12, from .data through its page
    adrp x1, twelve
    ldr x1, [x1, #:lo12:twelve]
    add x0, x0, x1
    ret

    .globl kind_ldr_literal
    .type kind_ldr_literal, %function
kind_ldr_literal:               // x0 + 13, a literal load
    ldr x1, 1f
    add x0, x0, x1
    ret
    .balign 8
1:  .quad 13

    .globl kind_boosted
    .type kind_boosted, %function
kind_boosted:                   // x0 + 14 (boosted: no PC dependence)
    add x0, x0, #14
    ret

    .globl kind_ldxr
    .type kind_ldxr, %function
kind_ldxr:                      // ++*x0 atomically, returns the new value (rejected)
1:  ldxr x1, [x0]
    add x1, x1, #1
    stxr w2, x1, [x0]
    cbnz w2, 1b
    mov x0, x1
    ret

    .data
    .balign 8
twelve:
    .quad 12

    .section .note.GNU-stack,"",%progbits
