# Functions whose first instruction is each kind the engine simulates or
# runs out of line. Each returns a value that proves the displaced
# instruction had its exact effect.
    .intel_syntax noprefix
    .text

    .globl kind_nop
    .type kind_nop, @function
kind_nop:                       # rdi + 1
    nop
    lea rax, [rdi + 1]
    ret

    .globl kind_endbr64
    .type kind_endbr64, @function
kind_endbr64:                   # rdi + 2
    endbr64
    lea rax, [rdi + 2]
    ret

    .globl kind_push
    .type kind_push, @function
kind_push:                      # rdi + 3, via the pushed rbx
    push rbx
    mov rbx, rdi
    lea rax, [rbx + 3]
    pop rbx
    ret

    .globl kind_mov_rbp_rsp
    .type kind_mov_rbp_rsp, @function
kind_mov_rbp_rsp:               # rdi, only if rbp == rsp afterwards
    mov rbp, rsp
    mov rax, rbp
    sub rax, rsp
    add rax, rdi
    ret

    .globl call_mov_rbp_rsp
    .type call_mov_rbp_rsp, @function
call_mov_rbp_rsp:               # keeps the caller's rbp safe
    push rbp
    call kind_mov_rbp_rsp
    pop rbp
    ret

    .globl kind_sub_rsp
    .type kind_sub_rsp, @function
kind_sub_rsp:                   # rdi + 4, via a stack slot
    sub rsp, 0x18
    mov [rsp + 8], rdi
    mov rax, [rsp + 8]
    add rax, 4
    add rsp, 0x18
    ret

    .globl kind_add_rsp
    .type kind_add_rsp, @function
kind_add_rsp:                   # rdi + 5, via a stack slot
    add rsp, -0x20
    mov [rsp], rdi
    mov rax, [rsp]
    add rax, 5
    sub rsp, -0x20
    ret

    .globl kind_jmp
    .type kind_jmp, @function
kind_jmp:                       # rdi + 6
    jmp 1f
    ud2
1:  lea rax, [rdi + 6]
    ret

    .globl kind_call
    .type kind_call, @function
kind_call:                      # rdi + 7 (the helper returns 7)
    call seven
    add rax, rdi
    ret

seven:
    mov eax, 7
    ret

    .globl kind_jcc
    .type kind_jcc, @function
kind_jcc:                       # 100 if the caller's compare said less, else 200
    jl 1f
    mov eax, 200
    ret
1:  mov eax, 100
    ret

    .globl call_jcc
    .type call_jcc, @function
call_jcc:                       # sets the flags kind_jcc branches on
    sub rsp, 8
    cmp rdi, 10
    call kind_jcc
    add rsp, 8
    ret

    .globl kind_riprel
    .type kind_riprel, @function
kind_riprel:                    # rdi + 1000 (boosted, RIP-relative load)
    mov rax, [rip + thousand]
    add rax, rdi
    ret

    .globl kind_xor
    .type kind_xor, @function
kind_xor:                       # rdi + 0 (boosted)
    xor eax, eax
    add rax, rdi
    ret

    .globl kind_indirect_call
    .type kind_indirect_call, @function
kind_indirect_call:             # rdi + 7 (stepped: call through memory)
    call [rip + seven_ptr]
    add rax, rdi
    ret

    .data
    .balign 8
thousand:
    .quad 1000
seven_ptr:
    .quad seven

    .section .note.GNU-stack,"",@progbits
