#include "arch/arm64/arm64_machine.h"

namespace probed::arch::arm64 {

std::vector<uint8_t> breakpoint_bytes() {
    std::vector<uint8_t> code;
    append_le32(code, kBreakpointWord);
    return code;
}

std::vector<uint8_t> trampoline_bytes() {
    return breakpoint_bytes();
}

std::vector<uint8_t> syscall_stub_bytes() {
    std::vector<uint8_t> code;
    append_le32(code, kSvc0);
    append_le32(code, kBreakpointWord);
    return code;
}

void prepare_syscall(Regs& regs, uint64_t stub, long nr, const uint64_t (&args)[6]) {
    regs.x[8] = static_cast<uint64_t>(nr);
    for (int i = 0; i < 6; ++i)
        regs.x[i] = args[i];
    regs.pc = stub;
    // The stub is reached by setting the PC, not by a branch.
    regs.pstate &= ~kBtypeMask;
}

} // namespace probed::arch::arm64
