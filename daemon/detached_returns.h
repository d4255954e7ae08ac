#pragma once
// Calls still returning to our trampoline once we let go of a process (a
// detach, or a fork child released): with pointer authentication the callee
// keeps a signed copy of the trampoline address that we cannot put the true
// address into, so the trampoline becomes a lookup that needs no tracer
// (arch/arm64/arm64_detached_return.h explains the stub; x86_64 needs none:
// arch::host::kDetachedReturnsNeeded).
#include "arch/host.h"
#include "daemon/memory_access.h"
#include "daemon/shadow_stack.h"

#include <cstdint>
#include <span>
#include <sys/types.h>
#include <vector>

namespace probed {

// The frames of `frames` (a thread's, oldest first) that keep a signed copy
// of the trampoline address, as {entry sp, true return address}, newest
// first. Call it once the plain copies are put back: a frame may hold both
// (autiasp left the plain value in x30, the signed one stays in its frame
// record), and either may be the one it returns through. `regs` and `tid`
// are the thread's (its PAC mask; none without pointer authentication).
std::vector<arch::DetachedReturn> signed_pending_calls(MemoryAccess& mem, pid_t tid,
                                                      std::span<const ShadowFrame> frames,
                                                      const arch::host::Regs& regs,
                                                      uint64_t trampoline);

// Where the table goes when it fits in the trampoline's page; 0 otherwise.
uint64_t detached_table_in_page(uint64_t trampoline, size_t entries);

// Writes the table at `table_at` and then the stub over the trampoline.
Result<void> write_detached_returns(MemoryAccess& mem, uint64_t trampoline, uint64_t table_at,
                                    std::span<const arch::DetachedReturn> table);

} // namespace probed
