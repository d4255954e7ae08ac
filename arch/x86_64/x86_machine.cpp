#include "arch/x86_64/x86_machine.h"

namespace probed::arch::x86 {

std::vector<uint8_t> breakpoint_bytes() { return {0xcc}; }

std::vector<uint8_t> syscall_stub_bytes() {
    return {
        0x0f, 0x05, // syscall
        0xcc,       // int3
    };
}

void prepare_syscall(Regs& regs, uint64_t stub, long nr, const uint64_t (&args)[6]) {
    regs.rax = static_cast<uint64_t>(nr);
    regs.orig_rax = ~0ull;
    regs.rdi = args[0];
    regs.rsi = args[1];
    regs.rdx = args[2];
    regs.r10 = args[3];
    regs.r8 = args[4];
    regs.r9 = args[5];
    regs.rip = stub;
}

} // namespace probed::arch::x86
