#pragma once
// The entry stub (docs/hit_cost.md): what a return-probed function's first
// instruction runs instead of a one-instruction slot, so that the tracee
// itself replaces the return address and the entry stop costs the tracer
// only GETREGS and one POKEUSER (no read or write of the stack).
//
// A stub serves one call site's return address R, fixed when the stub is
// made (with R's trampoline T): if [rsp] is R it stores T there, then runs
// the displaced instruction and jumps back. Any other return address ends
// in the stub's miss trap, where the tracer does the hijack as it would
// without a stub. The stub saves and restores rax and the flags on the
// stack below rsp (free at a function's first instruction), so the program
// sees no register change.
#include "arch/host_types.h"
#include "arch/x86_64/x86_decoder.h"
#include "common/result.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace probed::arch::x86 {

// Bytes a stub takes (code and its two data cells), a multiple of slot size.
constexpr size_t kEntryStubSize = 96;

// Whether `insn` can be displaced into a stub: it must run unchanged at
// another address (boosted instructions, and the simulated ones that do not
// depend on where they run: nop, push, mov rbp, rsp, add/sub rsp).
bool entry_stub_can_run(const DecodedInsn& insn);

// The stub for `insn` at `start`, for calls returning to `ret` (stores
// `trampoline` in their place).
Result<EntryStub> build_entry_stub(const DecodedInsn& insn, uint64_t start, uint64_t ret,
                                   uint64_t trampoline);

// For a thread at `pc` inside the stub described by `layout`.
EntryStubExit leave_entry_stub(const EntryStubLayout& layout, uint64_t pc);

} // namespace probed::arch::x86
