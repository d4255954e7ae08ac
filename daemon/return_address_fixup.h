#pragma once
// Undoes our return-address hijack for an unwinder reading a thread's stack
// and registers: a trampoline address found where a hijacked frame keeps its
// return address is replaced by the true return address the shadow stack
// kept for exactly that frame (matched by where it was found, never by
// position). Where a frame keeps it is the architecture's business
// (arch::host::return_search): on x86_64 the one stack word `call` pushed;
// on arm64 the link register, then wherever the callee spilled it in its own
// frame.
#include "daemon/return_trampolines.h"
#include "daemon/shadow_stack.h"

#include <cstdint>

namespace probed {

class ReturnAddressFixup {
public:
    // trampolines: the process's (none: nothing is translated). sp: the
    // thread's stack pointer, which bounds the newest frame. pac_mask: the
    // bits pointer authentication may have set in a saved code address
    // (arm64; 0 elsewhere), ignored when comparing with a trampoline.
    ReturnAddressFixup(const ReturnTrampolines& trampolines, const ShadowStack& shadow,
                       uint64_t sp, uint64_t pac_mask = 0)
        : trampolines_(trampolines), shadow_(shadow), sp_(sp), pac_mask_(pac_mask) {}

    // `word` was read from tracee address `addr`: the word the program
    // would see there had we not hijacked it.
    uint64_t apply(uint64_t addr, uint64_t word) const;
    // The link register as the thread holds it now.
    uint64_t apply_link_register(uint64_t value) const;
    // The return address of a function stopped at its first instruction,
    // whose frame is keyed by entry_sp.
    uint64_t apply_at_entry(uint64_t entry_sp, uint64_t value) const;
    bool is_trampoline(uint64_t value) const {
        return trampolines_.is_trampoline(value & ~pac_mask_);
    }

private:
    const ReturnTrampolines& trampolines_;
    const ShadowStack& shadow_;
    uint64_t sp_;
    uint64_t pac_mask_;
};

} // namespace probed
