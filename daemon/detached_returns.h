#pragma once
// Calls still returning to our trampoline once we let go of a process (a
// detach, or a fork child released): with pointer authentication the callee
// keeps a signed copy of the trampoline address, which the tracee re-signs
// with the true address (daemon/signed_release.h). A copy that fails that
// check keeps returning to the trampoline, so the trampoline becomes a
// lookup that needs no tracer, the fallback
// (arch/arm64/arm64_detached_return.h explains the stub; x86_64 needs none:
// arch::host::kDetachedReturnsNeeded).
#include "arch/host.h"
#include "daemon/memory_access.h"

#include <cstdint>
#include <span>

namespace probed {

// Where the table goes when it fits in the trampoline's page; 0 otherwise.
uint64_t detached_table_in_page(uint64_t trampoline, size_t entries);

// Writes the table at `table_at` and then the stub over the trampoline.
Result<void> write_detached_returns(MemoryAccess& mem, uint64_t trampoline, uint64_t table_at,
                                    std::span<const arch::DetachedReturn> table);

} // namespace probed
