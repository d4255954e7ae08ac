#pragma once
// Undoes our return-address hijack for an unwinder reading a thread's stack:
// a word read from a frame's return-address slot that holds the trampoline
// is replaced by the true return address the shadow stack kept for exactly
// that slot (matched by address, never by position), and the slot is
// remembered so the frame it leads to can be marked.
#include "daemon/shadow_stack.h"

#include <cstdint>
#include <set>

namespace probed {

class ReturnAddressFixup {
public:
    // trampoline 0: the process has none, nothing is translated.
    ReturnAddressFixup(uint64_t trampoline, const ShadowStack& shadow)
        : trampoline_(trampoline), shadow_(shadow) {}

    // `word` was read from tracee address `addr`: the word the program
    // would see there had we not hijacked it.
    uint64_t apply(uint64_t addr, uint64_t word);
    // Whether the word at `slot` was translated by apply().
    bool translated(uint64_t slot) const { return translated_.count(slot) != 0; }
    uint64_t trampoline() const { return trampoline_; }

private:
    uint64_t trampoline_;
    const ShadowStack& shadow_;
    std::set<uint64_t> translated_;
};

} // namespace probed
