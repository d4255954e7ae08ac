#pragma once
// Where a thread keeps its hijacked return addresses now (or the true ones
// we put back while its unwinder walks). On x86_64 a hijacked address never
// moves from the stack word it was written to; on arm64 it starts in the link
// register and moves wherever the callee saves it. The architecture says
// where to look (arch::host::return_search); this searches there.
#include "arch/host.h"
#include "daemon/memory_access.h"
#include "daemon/shadow_stack.h"
#include "daemon/stack_bounds.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

namespace probed {

struct ReturnSpot {
    size_t frame = 0;          // index into the frames searched
    bool in_register = false;  // the link register, else the word at `address`
    uint64_t address = 0;
    uint64_t value = 0;        // the word found there (with its PAC bits, if any)
};

// The value to look for in a frame, or nullopt to skip the frame.
using WantedValue = std::function<std::optional<uint64_t>(const ShadowFrame&)>;

// Searches each frame of `frames` (a thread's, oldest first) for the value
// `wanted` gives it. `regs` are the thread's current registers: its stack
// pointer bounds the newest frame's search and its link register may hold
// the newest frame's value; `stacks` says which frames share a stack. A value
// stored more than once is found at each place. Bits set in `ignore_bits` do
// not count in the comparison: the pointer authentication code of a signed
// copy (arch::host::pac_code_mask).
std::vector<ReturnSpot> locate_returns(MemoryAccess& mem, std::span<const ShadowFrame> frames,
                                       const arch::host::Regs& regs, StackBounds& stacks,
                                       const WantedValue& wanted, uint64_t ignore_bits = 0);

// The word at `spot` now (`regs` for a register spot); nullopt if unreadable.
std::optional<uint64_t> read_return(MemoryAccess& mem, const arch::host::Regs& regs,
                                    const ReturnSpot& spot);

// Writes `value` at `spot`: into regs for a register spot (the caller sets
// the registers), into memory otherwise.
Result<void> write_return(MemoryAccess& mem, arch::host::Regs& regs, const ReturnSpot& spot,
                          uint64_t value);

} // namespace probed
